/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt serve IMAGE: the plaintext over NBD, by nbdkit running the vmcrypt plugin. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "route.h"
#include "serve.h"

#define ARGV_MAX	 32
#define STATUS_MAX	 32
#define LISTEN_FDS_START 3  /* SD_LISTEN_FDS_START: the first socket systemd passes */
#define LISTEN_FDS_MAX	 64 /* more is not a socket unit of ours */
#define LISTEN_ENV_MAX	 3  /* LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES */

/* nbdkit and the plugin it loads: overridable for tests and uninstalled builds. */
static const char *nbdkit_program(void)
{
	const char *p = getenv("VMCRYPT_NBDKIT");

	return p && *p ? p : "nbdkit";
}

static const char *nbdkit_plugin(void)
{
	static char built[PATH_MAX];
	const char *p = getenv("VMCRYPT_NBDKIT_PLUGIN");
	ssize_t n;
	char *slash;

	if (p && *p)
		return p;
	/* Run from the build tree: the plugin built next to this program. */
	n = readlink("/proc/self/exe", built, sizeof(built) - 1);
	if (n > 0) {
		built[n] = '\0';
		slash = strrchr(built, '/');
		if (slash && (size_t)(slash - built) + 40 < sizeof(built)) {
			strcpy(slash, "/../nbdkit/nbdkit-vmcrypt-plugin.so");
			if (access(built, R_OK) == 0)
				return built;
		}
	}
	/* Installed: nbdkit finds "vmcrypt" in its plugin directory. */
	return "vmcrypt";
}

/* ---- the socket ------------------------------------------------------------------- */

/*
 * A socket left at path: another server still listening (refused), or the
 * remains of a killed one (removed, as nbdkit cannot bind over it).
 */
static int socket_check(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : fail(-errno, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return fail(-EEXIST, "%s exists and is not a socket", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(-errno, "socket: %s", strerror(errno));
	memcpy(sa.sun_path, path, strlen(path));
	r = connect(fd, (const struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0)
		return fail(-EADDRINUSE, "%s: another server is listening on this socket", path);
	if (unlink(path) < 0)
		return fail(-errno, "%s: %s", path, strerror(errno));
	return 0;
}

/*
 * Socket activation (sd_listen_fds(3)): systemd, or systemd-socket-activate, starts
 * us on the first connection with its listening sockets from fd 3 on, LISTEN_FDS=N
 * and LISTEN_PID=our pid. Returns N (0: not activated). The variables leave our
 * environment and the sockets are closed on exec, so that nothing else we run
 * (systemd-ask-password) takes them; only nbdkit gets them (child_exec).
 */
static int listen_fds_take(char **ret_names)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char *end = NULL;
	long n, p;
	int fd;

	*ret_names = NULL;
	if (!pid || !fds)
		return 0;
	errno = 0;
	p = strtol(pid, &end, 10);
	if (errno || end == pid || *end || p != (long)getpid())
		return 0;
	errno = 0;
	n = strtol(fds, &end, 10);
	if (errno || end == fds || *end || n < 1 || n > LISTEN_FDS_MAX)
		return fail(-EINVAL, "socket activation: LISTEN_FDS=%s is not 1 to %d", fds,
			    LISTEN_FDS_MAX);
	for (fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + n; fd++) {
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			return fail(-EINVAL,
				    "socket activation: LISTEN_FDS=%ld, but fd %d is "
				    "not open",
				    n, fd);
	}
	if (names && !(*ret_names = strdup(names)))
		return fail(-ENOMEM, "out of memory");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return (int)n;
}

/* The path of the (first) socket systemd passed, for the messages; "" if not AF_UNIX. */
static void listen_fd_path(char *buf, size_t len)
{
	struct sockaddr_un sa = {0};
	socklen_t sl = sizeof(sa);

	buf[0] = '\0';
	if (getsockname(LISTEN_FDS_START, (struct sockaddr *)&sa, &sl) == 0 &&
	    sa.sun_family == AF_UNIX && sl > offsetof(struct sockaddr_un, sun_path) &&
	    sa.sun_path[0])
		snprintf(buf, len, "%.*s", (int)sizeof(sa.sun_path), sa.sun_path);
}

/*
 * Picks the endpoint from --socket/--port (default: the private socket, with
 * --systemd the unit's) and checks it; a socket-activated serve has none of its own.
 */
static int endpoint_setup(const struct cli_opts *o, const char *image, int listen_fds, char *sock,
			  size_t len, struct nbd_endpoint *ep)
{
	int r;

	*ep = (struct nbd_endpoint){.read_only = o->read_only, .port = o->port};
	if (o->socket && o->port)
		return usage_error("give --socket or --port, not both");
	if (listen_fds && (o->socket || o->port))
		return usage_error("socket activation: systemd passed the socket; --socket and "
				   "--port cannot be given");
	if (o->port || listen_fds)
		return 0;
	if (o->socket) {
		if (strlen(o->socket) >= SUN_PATH_MAX || !*o->socket)
			return usage_error("--socket: the path must be 1 to %zu bytes long",
					   SUN_PATH_MAX - 1);
		snprintf(sock, len, "%s", o->socket);
	} else {
		r = o->systemd ? serve_socket_systemd(image, true, sock, len)
			       : serve_socket_default(image, true, sock, len);
		if (r == -ENAMETOOLONG)
			return usage_error("the default socket path for %s is too long; use "
					   "--socket PATH",
					   image);
		if (r < 0)
			return r;
	}
	ep->socket = sock;
	return socket_check(sock);
}

/* ---- nbdkit ----------------------------------------------------------------------- */

struct server {
	pid_t pid;
	int key_fd;    /* write end of the passphrase pipe */
	int status_fd; /* read end of the plugin's status pipe */
	char *argv[ARGV_MAX + 1];
	int argc;
	int listen_fds; /* socket activation: nbdkit gets fds 3.. and the variables */
	char **envp;	/* then nbdkit's environment: ours and listen_env */
	char *listen_env[LISTEN_ENV_MAX];
	char listen_pid[32]; /* "LISTEN_PID=", the child writes its pid after it */
};

__attribute__((format(printf, 2, 3))) static int arg_add(struct server *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->argc >= ARGV_MAX)
		return -E2BIG;
	va_start(ap, fmt);
	n = vasprintf(&s->argv[s->argc], fmt, ap);
	va_end(ap);
	if (n < 0) {
		s->argv[s->argc] = NULL;
		return -ENOMEM;
	}
	s->argc++;
	return 0;
}

static void server_clear(struct server *s)
{
	int i;

	for (i = 0; i < s->argc; i++)
		free(s->argv[i]);
	for (i = 0; i < LISTEN_ENV_MAX; i++)
		free(s->listen_env[i]);
	free(s->envp);
	if (s->key_fd >= 0)
		close(s->key_fd);
	if (s->status_fd >= 0)
		close(s->status_fd);
}

/*
 * nbdkit's command line: in the foreground, exiting with us, loopback only for
 * TCP. The passphrase is not on it: the plugin reads it from key_rfd.
 */
static int build_argv(struct server *s, const struct cli_opts *o, const char *image,
		      const char *header, const struct nbd_endpoint *ep, int key_rfd,
		      int status_wfd)
{
	int r = 0;

	r |= arg_add(s, "%s", nbdkit_program());
	r |= arg_add(s, "--foreground");
	r |= arg_add(s, "--exit-with-parent");
	if (o->debug)
		r |= arg_add(s, "--verbose");
	if (o->debug)
		r |= arg_add(s, "-Dvmcrypt.library=1");
	if (o->read_only)
		r |= arg_add(s, "--readonly");
	if (s->listen_fds) {
		/* Socket activation: nbdkit serves on the sockets it inherits (child_exec). */
	} else if (ep->socket) {
		r |= arg_add(s, "--unix");
		r |= arg_add(s, "%s", ep->socket);
	} else {
		r |= arg_add(s, "--ipaddr");
		r |= arg_add(s, "127.0.0.1");
		r |= arg_add(s, "--port");
		r |= arg_add(s, "%u", ep->port);
	}
	r |= arg_add(s, "%s", nbdkit_plugin());
	r |= arg_add(s, "file=%s", image);
	if (header)
		r |= arg_add(s, "header=%s", header);
	r |= arg_add(s, "key-file=-%d", key_rfd);
	if (o->key_slot >= 0)
		r |= arg_add(s, "key-slot=%d", o->key_slot);
	if (o->allow_discards)
		r |= arg_add(s, "allow-discards=true");
	if (o->read_only)
		r |= arg_add(s, "readonly=true");
	r |= arg_add(s, "status-fd=%d", status_wfd);
	return r < 0 ? fail(-ENOMEM, "out of memory") : 0;
}

/*
 * nbdkit's environment when socket-activated: ours (without LISTEN_*, see
 * listen_fds_take) and LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID, whose value the
 * child writes into s->listen_pid: nbdkit serves on the sockets only when
 * LISTEN_PID is its own pid, and we fork it.
 */
static int listen_env_build(struct server *s, int listen_fds, const char *names)
{
	extern char **environ;
	size_t n = 0, i, k = 0;

	s->listen_fds = listen_fds;
	if (!listen_fds)
		return 0;
	while (environ[n])
		n++;
	s->envp = calloc(n + LISTEN_ENV_MAX + 2, sizeof(*s->envp));
	if (!s->envp || asprintf(&s->listen_env[k++], "LISTEN_FDS=%d", listen_fds) < 0 ||
	    (names && asprintf(&s->listen_env[k++], "LISTEN_FDNAMES=%s", names) < 0))
		return fail(-ENOMEM, "out of memory");
	for (i = 0; i < n; i++)
		s->envp[i] = environ[i];
	for (i = 0; i < k; i++)
		s->envp[n + i] = s->listen_env[i];
	snprintf(s->listen_pid, sizeof(s->listen_pid), "LISTEN_PID=");
	s->envp[n + k] = s->listen_pid;
	return 0;
}

/* Appends the decimal pid to buf (which has room): async-signal-safe. */
static void append_pid(char *buf, pid_t pid)
{
	char digits[16];
	size_t n = 0, len = strlen(buf);
	unsigned long v = (unsigned long)pid;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < sizeof(digits));
	while (n)
		buf[len++] = digits[--n];
	buf[len] = '\0';
}

/*
 * In the child: keeps the two pipe ends (and systemd's sockets) across exec,
 * leaves our process group (a Ctrl-C reaches us, and we stop nbdkit cleanly), and
 * restricts the modes of what nbdkit creates. Only async-signal-safe calls until exec.
 */
__attribute__((noreturn)) static void child_exec(struct server *s, int key_rfd, int status_wfd,
						 const sigset_t *oldmask)
{
	char msg[STATUS_MAX];
	int n, fd;

	if (fcntl(key_rfd, F_SETFD, 0) < 0 || fcntl(status_wfd, F_SETFD, 0) < 0)
		_exit(127);
	for (fd = LISTEN_FDS_START; fd < LISTEN_FDS_START + s->listen_fds; fd++) {
		if (fcntl(fd, F_SETFD, 0) < 0)
			_exit(127);
	}
	setpgid(0, 0);
	umask(077);
	signal(SIGPIPE, SIG_DFL);
	sigprocmask(SIG_SETMASK, oldmask, NULL);
	if (s->listen_fds) {
		append_pid(s->listen_pid, getpid());
		execvpe(s->argv[0], s->argv, s->envp);
	} else {
		execvp(s->argv[0], s->argv);
	}
	n = snprintf(msg, sizeof(msg), "E%d\n", errno);
	if (n > 0 && write(status_wfd, msg, (size_t)n) < 0)
		_exit(127);
	_exit(127);
}

/* Starts nbdkit and hands it the passphrase through the pipe. */
static int server_start(struct server *s, const struct cli_opts *o, const char *image,
			const char *header, const struct nbd_endpoint *ep, const uint8_t *pass,
			size_t pass_len, const sigset_t *oldmask)
{
	int key[2] = {-1, -1}, status[2] = {-1, -1};
	int r;

	if (pipe2(key, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0) {
		r = fail(-errno, "pipe: %s", strerror(errno));
		goto out;
	}
	r = build_argv(s, o, image, header, ep, key[0], status[1]);
	if (r < 0)
		goto out;
	if (o->verbose || o->debug) {
		fputs("vmcrypt serve: running", stderr);
		for (int i = 0; i < s->argc; i++)
			fprintf(stderr, " %s", s->argv[i]);
		fputc('\n', stderr);
	}
	s->pid = fork();
	if (s->pid < 0) {
		r = fail(-errno, "fork: %s", strerror(errno));
		goto out;
	}
	if (s->pid == 0)
		child_exec(s, key[0], status[1], oldmask);
	s->key_fd = key[1];
	s->status_fd = status[0];
	key[1] = status[0] = -1;
	/* nbdkit may fail before reading the passphrase: EPIPE, then its status says why. */
	signal(SIGPIPE, SIG_IGN);
	r = write_all(s->key_fd, pass, pass_len);
	if (r < 0 && r != -EPIPE)
		r = fail(r, "passing the passphrase to nbdkit: %s", strerror(-r));
	else
		r = 0;
	close(s->key_fd);
	s->key_fd = -1;
out:
	for (int i = 0; i < 2; i++) {
		if (key[i] >= 0)
			close(key[i]);
		if (status[i] >= 0)
			close(status[i]);
	}
	return r;
}

/* Waits for nbdkit to end; 0 when it exited with status 0. */
static int server_reap(struct server *s)
{
	int st = 0;

	while (waitpid(s->pid, &st, 0) < 0) {
		if (errno != EINTR)
			return fail(-errno, "waitpid: %s", strerror(errno));
	}
	s->pid = -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		return fail(-EIO, "nbdkit exited with status %d", WEXITSTATUS(st));
	return fail(-EIO, "nbdkit was killed by signal %d", WTERMSIG(st));
}

/* Reads the plugin's start-up status: "0", "-errno", or (exec failed) "Eerrno". */
static int status_read(struct server *s)
{
	char line[STATUS_MAX] = "";
	ssize_t n;
	long v;

	do
		n = read(s->status_fd, line, sizeof(line) - 1);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		/* nbdkit ended before the plugin said anything: its own message says why. */
		int r = server_reap(s);

		return r < 0 ? r : fail(-EIO, "nbdkit exited before serving");
	}
	line[n] = '\0';
	if (line[0] == 'E') {
		v = strtol(line + 1, NULL, 10);
		server_reap(s);
		return fail(-(int)v, "cannot run %s: %s", s->argv[0], strerror((int)v));
	}
	v = strtol(line, NULL, 10);
	if (v == 0)
		return 0;
	/* The plugin printed the reason; its code gives our exit status. */
	server_reap(s);
	if (v < -4095 || v > 0)
		v = -EIO;
	return (int)v;
}

/* Until the plugin reports: ready (0), a failure, or a signal (nbdkit stopped, -ECANCELED). */
static int server_wait_ready(struct server *s, int sigfd)
{
	struct pollfd p[2] = {{.fd = s->status_fd, .events = POLLIN},
			      {.fd = sigfd, .events = POLLIN}};
	struct signalfd_siginfo si;

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return fail(-errno, "poll: %s", strerror(errno));
		}
		if (p[0].revents)
			return status_read(s);
		if (p[1].revents && read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
		    si.ssi_signo != SIGCHLD) {
			kill(s->pid, SIGTERM);
			server_reap(s);
			return fail(-ECANCELED, "cancelled");
		}
	}
}

/* While serving: a signal stops nbdkit (which flushes and closes the image) cleanly. */
static int server_wait(struct server *s, int sigfd)
{
	struct signalfd_siginfo si;
	bool stopping = false;
	pid_t w;
	int st = 0;
	ssize_t n;

	for (;;) {
		n = read(sigfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return fail(n < 0 ? -errno : -EIO, "signalfd: %s", strerror(errno));
		if (si.ssi_signo != SIGCHLD) {
			if (!stopping)
				fprintf(stderr, "vmcrypt serve: stopping nbdkit (signal %u)\n",
					si.ssi_signo);
			stopping = true;
			kill(s->pid, SIGTERM);
			continue;
		}
		w = waitpid(s->pid, &st, WNOHANG);
		if (w == s->pid)
			break;
	}
	s->pid = -1;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st))
		return fail(-EIO, "nbdkit exited with status %d", WEXITSTATUS(st));
	return fail(-EIO, "nbdkit was killed by signal %d", WTERMSIG(st));
}

/* ---- the verb ----------------------------------------------------------------------- */

/* Opens the image as nbdkit will, without the passphrase: a busy or damaged image stops here. */
static int image_probe(const struct cli_opts *o, const char *image, uint64_t *ret_size,
		       int *ret_version)
{
	struct vmc_image *img = NULL;
	int r;

	/* A busy image (another writer; or any reader, when we write) stops here, reported. */
	r = image_open(o, image, o->read_only, &img);
	if (r < 0)
		return r;
	*ret_size = vmc_image_size(img);
	*ret_version = vmc_image_luks_version(img);
	vmc_image_free(img);
	return 0;
}

static void print_ready(const char *image, uint64_t size, int version,
			const struct nbd_endpoint *ep, bool activated)
{
	printf("# vmcrypt: serving %s (LUKS%d, %" PRIu64 " bytes, %s) ", image, version, size,
	       ep->read_only ? "read-only" : "read-write");
	if (activated)
		printf("on the socket systemd passed%s%s\n", ep->socket ? ", " : "",
		       ep->socket ? ep->socket : "");
	else if (ep->socket)
		printf("on the Unix socket %s\n", ep->socket);
	else
		printf("on 127.0.0.1 port %u (any local user can connect)\n", ep->port);
	printf("# Stop with Ctrl-C or kill -TERM %d: the image is flushed first.\n", (int)getpid());
	if (activated && !ep->socket) {
		fflush(stdout);
		return;
	}
	nbd_print_qemu(stdout, ep);
	nbd_print_libvirt(stdout, ep);
	fflush(stdout);
}

int cmd_serve(const struct cli_opts *o, char **args, int nargs)
{
	struct server s = {.pid = -1, .key_fd = -1, .status_fd = -1};
	char *image = NULL, *header = NULL, *fdnames = NULL, sock[PATH_MAX] = "";
	char passed[SUN_PATH_MAX + 1] = "";
	struct nbd_endpoint ep = {NULL, 0, false}, shown;
	sigset_t mask, oldmask;
	uint8_t *pass = NULL;
	size_t pass_len = 0;
	uint64_t size = 0;
	int sigfd = -1, version = 0, listen_fds = 0, r;
	bool masked = false;

	(void)nargs;
	/* Before anything else runs: started by systemd on a connection (vmcrypt-serve@.socket). */
	r = listen_fds_take(&fdnames);
	if (r < 0)
		goto out;
	listen_fds = r;
	/* An NBD URI is passed on as it is; a file by its absolute path (nbdkit changes directory).
	 */
	image = vmc_is_nbd_uri(args[0]) ? strdup(args[0]) : realpath(args[0], NULL);
	if (!image) {
		r = fail(-errno, "%s: %s", args[0], strerror(errno));
		goto out;
	}
	if (vmc_is_nbd_uri(image) && !o->socket && !o->port && !listen_fds) {
		r = usage_error("serving an NBD export again needs --socket PATH or --port N");
		goto out;
	}
	if (o->header && !(header = realpath(o->header, NULL))) {
		r = fail(-errno, "%s: %s", o->header, strerror(errno));
		goto out;
	}
	r = stdin_check(o, false);
	if (r == 0)
		r = endpoint_setup(o, image, listen_fds, sock, sizeof(sock), &ep);
	if (r == 0)
		r = listen_env_build(&s, listen_fds, fdnames);
	if (r == 0)
		r = image_probe(o, image, &size, &version);
	if (r == 0)
		r = passphrase_get(o, image, &pass, &pass_len);
	if (r < 0)
		goto out;

	/* From here on, signals are read from sigfd; nbdkit gets the old mask back. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &oldmask);
	masked = true;
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sigfd < 0) {
		r = fail(-errno, "signalfd: %s", strerror(errno));
		goto out;
	}
	r = server_start(&s, o, image, header, &ep, pass, pass_len, &oldmask);
	vmc_secret_free(pass);
	pass = NULL;
	if (r == 0 && s.pid > 0)
		r = server_wait_ready(&s, sigfd);
	if (r < 0)
		goto out;
	shown = ep;
	if (listen_fds) {
		listen_fd_path(passed, sizeof(passed));
		shown.socket = passed[0] ? passed : NULL;
	}
	print_ready(image, size, version, &shown, listen_fds > 0);
	r = server_wait(&s, sigfd);
	if (r == 0)
		fprintf(stderr, "vmcrypt serve: stopped; %s is flushed and closed\n", image);
out:
	if (s.pid > 0) {
		kill(s.pid, SIGTERM);
		server_reap(&s);
	}
	if (ep.socket && s.argc > 0)
		unlink(ep.socket);
	server_clear(&s);
	if (sigfd >= 0)
		close(sigfd);
	if (masked)
		sigprocmask(SIG_SETMASK, &oldmask, NULL);
	vmc_secret_free(pass);
	free(fdnames);
	free(header);
	free(image);
	return r;
}
