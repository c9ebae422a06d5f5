/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt decrypt SRC DST: an encrypted image copied out to a plain disk (raw, a container qemu-img
 * makes, NBD). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "progress.h"

/* The output: stdout, or DST created (0600: it is plaintext) or truncated. */
static int output_open(const char *path, bool exists, bool *ret_regular)
{
	struct stat st;
	int fd;

	if (strcmp(path, "-") == 0) {
		*ret_regular = false;
		return STDOUT_FILENO;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | (exists ? O_TRUNC : O_EXCL),
		  0600);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		return fail(err, "%s: %s", path, strerror(-err));
	}
	*ret_regular = S_ISREG(st.st_mode);
	return fd;
}

/* A regular output gets its full length (a trailing hole) and reaches the disk. */
static int output_finish(int fd, const char *path, uint64_t size)
{
	if (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0)
		return fail(-errno, "%s: %s", path, strerror(errno));
	return 0;
}

static int copy_out(struct vmc_image *img, int fd, struct vmc_disk *disk, bool sparse)
{
	struct progress pg;
	int r;

	progress_init(&pg);
	cancel_catch(false);
	r = disk ? vmc_image_copy_out_disk(img, disk, progress_update, &pg)
		 : vmc_image_copy_out(img, fd, sparse, progress_update, &pg);
	progress_end(&pg);
	cancel_release();
	return r;
}

/* Checks the arguments before the passphrase is asked. */
static int decrypt_check(const struct cli_opts *o, const char *src, const char *dst,
			 bool *ret_exists)
{
	int r;

	*ret_exists = false;
	r = stdin_check(o, false);
	if (r < 0)
		return r;
	if (strcmp(dst, "-") == 0 && isatty(STDOUT_FILENO))
		return usage_error("refusing to write the disk image to a terminal");
	if (strcmp(dst, "-") == 0)
		return 0;
	r = same_file_check(src, dst);
	if (r == 0)
		r = output_check(o, dst, ret_exists);
	return r;
}

/* Decrypt into a disk the library writes: a container qemu-img makes (--format), an NBD export. */
static int disk_out(const struct cli_opts *o, struct vmc_image *img, const char *dst, bool exists)
{
	struct vmc_disk *disk = NULL;
	int r;

	r = vmc_disk_create(dst, o->format, vmc_image_size(img), exists, &disk);
	if (r == 0)
		r = copy_out(img, -1, disk, false);
	vmc_disk_free(disk);
	/* An incomplete plaintext copy is useless (and still plaintext): remove it. */
	if (r < 0 && !vmc_is_nbd_uri(dst))
		unlink(dst);
	return r;
}

int cmd_decrypt(const struct cli_opts *o, char **args, int nargs)
{
	const char *src = args[0], *dst = args[1];
	struct vmc_image *img = NULL;
	struct cli_opts so = *o;
	bool exists = false, regular = false;
	int fd = -1, slot = -1, r;

	if (o->in_place)
		return cmd_decrypt_in_place(o, args, nargs);
	if (nargs < 2)
		return usage_error("missing DST");
	r = decrypt_check(o, src, dst, &exists);
	/* SRC is the image: --source-format is its container, --format DST's. */
	so.format = o->source_format;
	if (r == 0)
		r = open_unlocked(&so, src, &img, &slot);
	if (r < 0)
		goto out;
	verbose("Key slot %d unlocked.", slot);
	if (strcmp(dst, "-") != 0 &&
	    ((o->format && strcmp(o->format, "raw") != 0) || vmc_is_nbd_uri(dst))) {
		r = disk_out(o, img, dst, exists);
		goto out;
	}
	fd = output_open(dst, exists, &regular);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	r = copy_out(img, fd, NULL, regular);
	if (r == 0 && regular)
		r = output_finish(fd, dst, vmc_image_size(img));
	if (fd > STDERR_FILENO && close(fd) < 0 && r == 0)
		r = fail(-errno, "%s: %s", dst, strerror(errno));
	/* An incomplete plaintext copy is useless (and still plaintext): remove it. */
	if (r < 0 && regular)
		unlink(dst);
out:
	vmc_image_free(img);
	return r;
}
