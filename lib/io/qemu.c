/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VM image containers through QEMU's block layer: a private qemu-storage-daemon (or qemu-nbd)
 * child, over NBD. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "io/storage.h"
#include "io/storage_backend.h"

/* How long a server may take to start, and to stop after SIGTERM. */
#define START_MS 30000
#define STOP_MS	 10000

struct qemu_child {
	pid_t pid;
	char dir[PATH_MAX];
	char sock[PATH_MAX + 16];
	char pidfile[PATH_MAX + 16];
	char errfile[PATH_MAX + 16];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The program's path found in $PATH (into buf), or NULL. */
static const char *find_program(const char *name, char *buf, size_t size)
{
	const char *path = getenv("PATH");

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n > 0 && (size_t)snprintf(buf, size, "%.*s/%s", (int)n, path, name) < size &&
		    access(buf, X_OK) == 0)
			return buf;
		path += n;
		if (*path == ':')
			path++;
	}
	return NULL;
}

/*
 * Starts argv[0] as a child: its own process group (a Ctrl-C for vmcrypt does
 * not stop it under vmcrypt's feet), SIGTERM when vmcrypt dies (kill -9
 * included), no descriptor of ours but stdin (/dev/null) and stderr (errfd).
 * Only async-signal-safe calls between fork and exec.
 */
static int spawn(char *const argv[], int errfd, pid_t *ret_pid)
{
	pid_t parent = getpid(), pid;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (null < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(null);
		return -e;
	}
	if (pid == 0) {
		(void)setpgid(0, 0);
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
			_exit(127);
		if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(errfd, 2) < 0)
			_exit(127);
		closefrom(3);
		umask(077);
		execv(argv[0], argv);
		_exit(127);
	}
	close(null);
	*ret_pid = pid;
	return 0;
}

/*
 * Reports the first line of what the child printed, without its program-name
 * prefix, and returns what it means: a lock (a running VM has the image),
 * a missing file (the image's backing file, say), or else an I/O error.
 */
static int report_child_error(const struct qemu_child *c, const char *path, const char *prog,
			      const char *verb)
{
	char line[1024] = "";
	const char *msg;
	FILE *f = fopen(c->errfile, "re");

	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	line[strcspn(line, "\n")] = '\0';
	msg = line;
	if (strncmp(msg, prog, strlen(prog)) == 0 && strncmp(msg + strlen(prog), ": ", 2) == 0)
		msg += strlen(prog) + 2;
	/* "--blockdev {...}: why": the option (a JSON object of ours) is not news to the user. */
	if (strncmp(msg, "--blockdev {", 12) == 0 && strstr(msg, "}: "))
		msg = strstr(msg, "}: ") + 3;
	log_err("%s: %s cannot %s it: %s", path, prog, verb, *msg ? msg : "it exited at once");
	if (strstr(msg, " lock"))
		return VMC_EBUSY;
	if (strstr(msg, "No such file"))
		return -ENOENT;
	if (strstr(msg, "Permission denied"))
		return -EACCES;
	return -EIO;
}

static void child_stop(void *arg)
{
	struct qemu_child *c = arg;
	uint64_t deadline = now_ms() + STOP_MS;
	int status;

	if (c->pid > 0) {
		(void)kill(c->pid, SIGTERM);
		while (waitpid(c->pid, &status, WNOHANG) == 0) {
			if (now_ms() > deadline) {
				(void)kill(c->pid, SIGKILL);
				(void)waitpid(c->pid, &status, 0);
				break;
			}
			sleep_ms(5);
		}
	}
	(void)unlink(c->sock);
	(void)unlink(c->pidfile);
	(void)unlink(c->errfile);
	(void)rmdir(c->dir);
	free(c);
}

/* Is the server listening on its socket yet? */
static bool listening(const char *sock)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, r;

	if (strlen(sock) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r == 0;
}

/* Waits until the child wrote its pid file (all options processed) and listens. */
static int wait_ready(struct qemu_child *c, const char *path, const char *prog)
{
	uint64_t deadline = now_ms() + START_MS;
	int status;

	for (;;) {
		pid_t w = waitpid(c->pid, &status, WNOHANG);
		if (w == c->pid) {
			c->pid = 0;
			return report_child_error(c, path, prog, "open");
		}
		if (access(c->pidfile, F_OK) == 0 && listening(c->sock))
			return 0;
		if (now_ms() > deadline) {
			log_err("%s: %s did not start within %d s", path, prog, START_MS / 1000);
			return -ETIMEDOUT;
		}
		sleep_ms(5);
	}
}

/* QEMU's keyval syntax: a comma in a value is written twice. */
static char *keyval_escape(const char *s)
{
	size_t n = strlen(s), commas = 0;
	char *out, *o;

	for (const char *p = s; *p; p++)
		commas += *p == ',';
	out = malloc(n + commas + 1);
	if (!out)
		return NULL;
	o = out;
	for (const char *p = s; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = '\0';
	return out;
}

/* The --blockdev JSON for qemu-storage-daemon: the format node over a file node. */
static char *blockdev_json(const char *path, const char *format, bool ro)
{
	json_object *file = json_object_new_object(), *fmt = json_object_new_object();
	char *out = NULL;

	if (!file || !fmt) {
		json_object_put(file);
		json_object_put(fmt);
		return NULL;
	}
	json_object_object_add(file, "driver", json_object_new_string("file"));
	json_object_object_add(file, "filename", json_object_new_string(path));
	json_object_object_add(fmt, "driver", json_object_new_string(format));
	json_object_object_add(fmt, "node-name", json_object_new_string("disk"));
	json_object_object_add(fmt, "read-only", json_object_new_boolean(ro));
	if (!ro) {
		/* Discards free clusters; zeros written become zero clusters: thin stays thin. */
		json_object_object_add(file, "discard", json_object_new_string("unmap"));
		json_object_object_add(fmt, "discard", json_object_new_string("unmap"));
		json_object_object_add(fmt, "detect-zeroes", json_object_new_string("unmap"));
	}
	json_object_object_add(fmt, "file", file);
	out = strdup(json_object_to_json_string_ext(fmt, JSON_C_TO_STRING_PLAIN));
	json_object_put(fmt);
	return out;
}

/* Starts the server for path; fills c (its pid, socket); reports why not. */
static int child_start(struct qemu_child *c, const char *path, const char *format, bool ro)
{
	char qsd[PATH_MAX], qnbd[PATH_MAX], *json = NULL, *sock = NULL, *server = NULL;
	char *export = NULL, *pidopt = NULL, *sockopt = NULL, *fmtopt = NULL;
	const char *prog;
	int errfd = -1, r;

	bool have_qsd = find_program("qemu-storage-daemon", qsd, sizeof(qsd)) != NULL;
	if (!have_qsd && !find_program("qemu-nbd", qnbd, sizeof(qnbd))) {
		log_err("%s: reading a %s image needs qemu-storage-daemon (Debian package "
			"qemu-system-common) or qemu-nbd (qemu-utils): neither is in PATH",
			path, format);
		return VMC_ENOTSUP;
	}
	prog = have_qsd ? "qemu-storage-daemon" : "qemu-nbd";
	const char *tmp = getenv("XDG_RUNTIME_DIR");
	if (!tmp || access(tmp, W_OK) != 0)
		tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	/* mkdtemp makes it 0700: only this user reaches the socket. */
	if ((size_t)snprintf(c->dir, sizeof(c->dir), "%s/vmcrypt-qemu.XXXXXX", tmp) >=
		sizeof(c->dir) ||
	    !mkdtemp(c->dir)) {
		r = -errno;
		log_err("cannot create a private directory in %s for %s: %s", tmp, prog,
			strerror(errno));
		c->dir[0] = '\0';
		return r ? r : -ENAMETOOLONG;
	}
	snprintf(c->sock, sizeof(c->sock), "%s/nbd.sock", c->dir);
	snprintf(c->pidfile, sizeof(c->pidfile), "%s/pid", c->dir);
	snprintf(c->errfile, sizeof(c->errfile), "%s/stderr", c->dir);
	errfd = open(c->errfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (errfd < 0) {
		r = -errno;
		log_err("%s: %s", c->errfile, strerror(errno));
		return r;
	}
	r = -ENOMEM;
	if (have_qsd) {
		if (!(json = blockdev_json(path, format, ro)) || !(sock = keyval_escape(c->sock)) ||
		    asprintf(&server, "addr.type=unix,addr.path=%s", sock) < 0 ||
		    asprintf(&export, "type=nbd,id=export,node-name=disk,name=,writable=%s",
			     ro ? "off" : "on") < 0) {
			server = export = NULL;
			goto out;
		}
		char *argv[] = {qsd,	    "--blockdev", json,	       "--nbd-server", server,
				"--export", export,	  "--pidfile", c->pidfile,     NULL};
		r = spawn(argv, errfd, &c->pid);
	} else {
		if (asprintf(&sockopt, "--socket=%s", c->sock) < 0 ||
		    asprintf(&pidopt, "--pid-file=%s", c->pidfile) < 0 ||
		    asprintf(&fmtopt, "--format=%s", format) < 0) {
			sockopt = pidopt = fmtopt = NULL;
			goto out;
		}
		char *rw[] = {qnbd,
			      sockopt,
			      fmtopt,
			      pidopt,
			      "--persistent",
			      "--shared=8",
			      "--discard=unmap",
			      "--detect-zeroes=unmap",
			      "--cache=writeback",
			      (char *)path,
			      NULL};
		char *rd[] = {qnbd,	    sockopt,	   fmtopt,	 pidopt, "--persistent",
			      "--shared=8", "--read-only", (char *)path, NULL};
		r = spawn(ro ? rd : rw, errfd, &c->pid);
	}
	if (r < 0) {
		log_err("cannot start %s: %s", prog, strerror(-r));
		goto out;
	}
	r = wait_ready(c, path, prog);
out:
	if (errfd >= 0)
		close(errfd);
	free(json);
	free(sock);
	free(server);
	free(export);
	free(sockopt);
	free(pidopt);
	free(fmtopt);
	return r;
}

int storage_qemu_open(const char *path, const char *format, unsigned flags, struct storage **ret_st)
{
	struct qemu_child *c = calloc(1, sizeof(*c));
	char uri[PATH_MAX + 64];
	int r;

	if (!c)
		return -ENOMEM;
	if (flags & STORAGE_CREATE) {
		free(c);
		log_err("%s: a %s image is created with storage_qemu_create", path, format);
		return -EINVAL;
	}
	if (access(path, (flags & STORAGE_RDONLY) ? R_OK : R_OK | W_OK) < 0) {
		r = -errno;
		log_err("%s: %s", path, strerror(errno));
		free(c);
		return r;
	}
	r = child_start(c, path, format, flags & STORAGE_RDONLY);
	if (r < 0) {
		child_stop(c);
		return r;
	}
	snprintf(uri, sizeof(uri), "nbd+unix:///?socket=%s", c->sock);
	r = storage_nbd_open_server(uri, flags, path, child_stop, c, ret_st);
	if (r == 0) {
		/* Connected: nothing in the directory is needed any more, even after a kill -9. */
		(void)unlink(c->sock);
		(void)unlink(c->pidfile);
		(void)unlink(c->errfile);
		(void)rmdir(c->dir);
		log_debug("%s: %s image served by a private QEMU (pid %d)", path, format,
			  (int)c->pid);
	}
	return r;
}

int storage_qemu_create(const char *path, const char *format, uint64_t size, bool overwrite)
{
	char qemu_img[PATH_MAX], sz[32];
	int errfd, r, status = 0;
	struct qemu_child c = {0};
	pid_t pid;

	if (!find_program("qemu-img", qemu_img, sizeof(qemu_img))) {
		log_err("%s: creating a %s image needs qemu-img (Debian package qemu-utils)", path,
			format);
		return VMC_ENOTSUP;
	}
	if (!overwrite && access(path, F_OK) == 0)
		return -EEXIST;
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	snprintf(c.dir, sizeof(c.dir), "%s/vmcrypt-qemu-img.XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(c.dir)) {
		r = -errno;
		log_err("cannot create a private directory for qemu-img: %s", strerror(errno));
		return r;
	}
	snprintf(c.errfile, sizeof(c.errfile), "%s/stderr", c.dir);
	errfd = open(c.errfile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (errfd < 0) {
		r = -errno;
		(void)rmdir(c.dir);
		return r;
	}
	char *argv[] = {qemu_img, "create", "-q", "-f", (char *)format, (char *)path, sz, NULL};
	r = spawn(argv, errfd, &pid);
	close(errfd);
	if (r == 0 && waitpid(pid, &status, 0) < 0)
		r = -errno;
	if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		r = report_child_error(&c, path, "qemu-img", "create");
	}
	(void)unlink(c.errfile);
	(void)rmdir(c.dir);
	return r;
}
