/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt mount IMAGE DIR: disk.raw and disk.vmdk in DIR, by FUSE. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "serve.h"

#ifdef VMCRYPT_FUSE
#include "vmcfuse.h"

#define STATUS_MAX 32
#define CHUNK	   4096

/* Mounts the unlocked img on dir; status_fd (or -1) hears "0" or "-errno" once mounted or not. */
static int mount_and_serve(const struct cli_opts *o, struct vmc_image *img, const char *image,
			   const char *dir, int status_fd)
{
	struct vmcfuse_params p = {.mountpoint = dir, .read_only = o->read_only, .debug = o->debug};
	struct vmcfuse *fs = NULL;
	char line[STATUS_MAX];
	int r, n, null;

	r = vmcfuse_mount(img, &p, &fs);
	if (r < 0)
		r = fail(r, "cannot mount on %s (is fusermount3 installed, /dev/fuse usable?)",
			 dir);
	if (status_fd >= 0) {
		n = snprintf(line, sizeof(line), "%d\n", r);
		if (write(status_fd, line, (size_t)n) < 0)
			r = r < 0 ? r : -errno;
		close(status_fd);
	}
	if (r < 0)
		goto out;
	if (status_fd < 0) {
		printf("Mounted %s on %s: %s/" VMCFUSE_RAW " (raw), %s/" VMCFUSE_VMDK
		       " (VMDK).\nUnmount with fusermount3 -u %s or Ctrl-C.\n",
		       image, dir, dir, dir, dir);
		fflush(stdout);
	} else {
		/* In the background from now on: off the terminal, out of the way. */
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			close(null);
		}
		if (chdir("/") < 0)
			r = -errno;
	}
	r = vmcfuse_loop(fs);
out:
	/* Unmounts if still mounted and flushes the image. */
	vmcfuse_free(fs);
	return r;
}

/* Reads the passphrase the parent sends: "P" then its bytes up to EOF; EOF alone: cancelled. */
static int pipe_secret_read(int fd, uint8_t **ret_pass, size_t *ret_len)
{
	uint8_t *buf = NULL, *n;
	size_t len = 0, cap = 0;
	ssize_t got;
	int r = 0;

	for (;;) {
		if (len == cap) {
			if (cap >= KEYFILE_MAX + 1) {
				r = -EFBIG;
				break;
			}
			n = vmc_secret_alloc(cap ? cap * 2 : CHUNK);
			if (!n) {
				r = -ENOMEM;
				break;
			}
			if (len)
				memcpy(n, buf, len);
			vmc_secret_free(buf);
			buf = n;
			cap = cap ? cap * 2 : CHUNK;
		}
		got = read(fd, buf + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = got < 0 ? -errno : 0;
			break;
		}
		len += (size_t)got;
	}
	if (r == 0 && (len == 0 || buf[0] != 'P'))
		r = -ECANCELED;
	if (r < 0) {
		vmc_secret_free(buf);
		return r;
	}
	memmove(buf, buf + 1, len - 1);
	buf[len - 1] = 0;
	*ret_pass = buf;
	*ret_len = len - 1;
	return 0;
}

/*
 * The background child, forked before the passphrase exists: it receives the
 * passphrase, unlocks (so the key sits in memory this process locked itself,
 * as memory locks do not survive fork), mounts, reports, and serves.
 */
__attribute__((noreturn)) static void child_run(const struct cli_opts *o, struct vmc_image *img,
						const char *image, const char *dir, int key_fd,
						int status_fd)
{
	uint8_t *pass = NULL;
	size_t len = 0;
	char line[STATUS_MAX];
	int r, n;

	setsid();
	r = pipe_secret_read(key_fd, &pass, &len);
	close(key_fd);
	if (r == -ECANCELED)
		_exit(1);
	/* A container's server is this process's child, so that it lives as long as the mount. */
	if (r == 0 && !img)
		r = image_open(o, image, o->read_only, &img);
	if (r == 0)
		r = vmc_image_unlock(img, pass, len, o->key_slot, NULL);
	vmc_secret_free(pass);
	if (r < 0) {
		n = snprintf(line, sizeof(line), "%d\n", r);
		if (write(status_fd, line, (size_t)n) < 0)
			_exit(1);
		_exit(1);
	}
	r = mount_and_serve(o, img, image, dir, status_fd);
	vmc_image_free(img);
	_exit(r < 0 ? 1 : 0);
}

/* Waits for the child's report: 0 once it is mounted, else its error. */
static int child_wait(pid_t pid, int status_fd)
{
	char line[STATUS_MAX] = "";
	int st = 0;
	ssize_t n;
	long v;

	do
		n = read(status_fd, line, sizeof(line) - 1);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		line[n] = '\0';
		v = strtol(line, NULL, 10);
		if (v == 0)
			return 0;
		waitpid(pid, &st, 0);
		return v < -4095 || v > 0 ? -EIO : (int)v;
	}
	waitpid(pid, &st, 0);
	return fail(-EIO, "the mount process ended before mounting");
}

/* Sends the passphrase to the child; closing the pipe without it cancels. */
static int send_passphrase(const struct cli_opts *o, const char *image, int key_fd)
{
	uint8_t *pass = NULL;
	size_t len = 0;
	int r;

	r = passphrase_get(o, image, &pass, &len);
	if (r == 0)
		r = write_all(key_fd, "P", 1);
	if (r == 0)
		r = write_all(key_fd, pass, len);
	vmc_secret_free(pass);
	return r;
}

static int mount_background(const struct cli_opts *o, struct vmc_image **imgp, const char *image,
			    const char *dir)
{
	int key[2] = {-1, -1}, status[2] = {-1, -1};
	struct vmc_image *img = *imgp;
	pid_t pid;
	int r;

	/*
	 * A container (qcow2, ...) is read through a QEMU server started by the
	 * open, and an NBD export through connections, which a fork cannot share:
	 * the open here only checked the image; the background child opens it again.
	 */
	if ((o->format && strcmp(o->format, "raw") != 0) || vmc_is_nbd_uri(image) ||
	    (!o->format && vmc_probe_container(image, NULL, NULL) == 1)) {
		vmc_image_free(img);
		*imgp = img = NULL;
	}
	if (pipe2(key, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0) {
		r = fail(-errno, "pipe: %s", strerror(errno));
		goto out;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = fail(-errno, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		close(key[1]);
		close(status[0]);
		child_run(o, img, image, dir, key[0], status[1]);
	}
	close(key[0]);
	close(status[1]);
	key[0] = status[1] = -1;
	signal(SIGPIPE, SIG_IGN);
	r = send_passphrase(o, image, key[1]);
	close(key[1]);
	key[1] = -1;
	if (r < 0) {
		waitpid(pid, NULL, 0);
		goto out;
	}
	r = child_wait(pid, status[0]);
	if (r == 0)
		printf("Mounted %s on %s: %s/" VMCFUSE_RAW " (raw), %s/" VMCFUSE_VMDK
		       " (VMDK).\nUnmount with fusermount3 -u %s (or kill -TERM %d).\n",
		       image, dir, dir, dir, dir, (int)pid);
out:
	for (int i = 0; i < 2; i++) {
		if (key[i] >= 0)
			close(key[i]);
		if (status[i] >= 0)
			close(status[i]);
	}
	return r;
}

int cmd_mount(const struct cli_opts *o, char **args, int nargs)
{
	struct vmc_image *img = NULL;
	char *image = NULL, *dir = NULL;
	struct stat st;
	int r;

	(void)nargs;
	image = vmc_is_nbd_uri(args[0]) ? strdup(args[0]) : realpath(args[0], NULL);
	if (!image) {
		r = fail(-errno, "%s: %s", args[0], strerror(errno));
		goto out;
	}
	dir = realpath(args[1], NULL);
	if (!dir) {
		r = fail(-errno, "%s: %s", args[1], strerror(errno));
		goto out;
	}
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = usage_error("%s is not a directory", dir);
		goto out;
	}
	r = stdin_check(o, false);
	if (r < 0)
		goto out;
	/* A busy image (another writer; or any reader, when we write) stops here, reported. */
	r = image_open(o, image, o->read_only, &img);
	if (r < 0)
		goto out;
	if (o->foreground) {
		r = image_unlock(o, img, image, NULL);
		if (r == 0)
			r = mount_and_serve(o, img, image, dir, -1);
	} else {
		r = mount_background(o, &img, image, dir);
	}
out:
	vmc_image_free(img);
	free(dir);
	free(image);
	return r;
}

#else

int cmd_mount(const struct cli_opts *o, char **args, int nargs)
{
	(void)o;
	(void)args;
	(void)nargs;
	return fail(VMC_ENOTSUP, "this vmcrypt was built without FUSE (libfuse3) support");
}

#endif
