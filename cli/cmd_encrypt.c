/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt encrypt SRC DST: a plain disk (raw, a container through QEMU, NBD) copied into a new
 * encrypted image. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "progress.h"

/* The input: its descriptor and, unless it is a pipe, its size; or a disk the library reads. */
struct source {
	int fd;
	bool sized;
	uint64_t size;
	struct vmc_disk *disk;
};

/* Is SRC for the library to read: an NBD export, a container (qcow2, ...), a format named? */
static bool source_is_disk(const struct cli_opts *o, const char *path)
{
	if (o->source_format)
		return strcmp(o->source_format, "raw") != 0;
	if (vmc_is_nbd_uri(path))
		return true;
	/* A SRC that cannot be opened is reported once, by the open that follows. */
	return access(path, R_OK) == 0 && vmc_probe_container(path, NULL, NULL) == 1;
}

static int source_open(const struct cli_opts *o, const char *path, struct source *s)
{
	struct stat st;
	int r;

	/* Stdin is read as a stream, whatever it is: its size comes from --size. */
	if (strcmp(path, "-") == 0) {
		s->fd = STDIN_FILENO;
		s->sized = false;
		return 0;
	}
	/* The disk the guest sees, not the container's bytes. */
	if (source_is_disk(o, path)) {
		r = vmc_disk_open(path, o->source_format, true, &s->disk);
		if (r < 0)
			return r;
		s->sized = true;
		s->size = vmc_disk_size(s->disk);
		return 0;
	}
	s->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (s->fd < 0 || fstat(s->fd, &st) < 0)
		return fail(-errno, "%s: %s", path, strerror(errno));
	s->sized = true;
	if (S_ISREG(st.st_mode))
		s->size = (uint64_t)st.st_size;
	else if (S_ISBLK(st.st_mode) && ioctl(s->fd, BLKGETSIZE64, &s->size) < 0)
		return fail(-errno, "%s: %s", path, strerror(errno));
	else if (!S_ISBLK(st.st_mode))
		s->sized = false;
	return 0;
}

static void source_close(struct source *s)
{
	vmc_disk_free(s->disk);
	if (s->fd > STDERR_FILENO)
		close(s->fd);
}

/* The plaintext size: SRC's, or --size (required for a pipe, at least SRC's otherwise). */
static int plain_size(const struct cli_opts *o, const struct source *s, uint64_t *ret_size)
{
	uint64_t size = o->size_set ? o->size : s->size;

	if (!s->sized && !o->size_set)
		return usage_error("--size is required when SRC is - or a pipe");
	if (s->sized && size < s->size)
		return usage_error("--size %" PRIu64 " is smaller than SRC (%" PRIu64 " bytes)",
				   size, s->size);
	if (size == 0)
		return fail(-EINVAL, "SRC is empty");
	return data_size_round(o, size, ret_size);
}

/* A pipe must end within --size: refuse to drop what is left. */
static int pipe_drained(const struct cli_opts *o, const struct source *s, uint64_t done)
{
	uint8_t extra;
	ssize_t n;

	if (s->sized)
		return 0;
	do
		n = read(s->fd, &extra, 1);
	while (n < 0 && errno == EINTR);
	if (n != 0 || done > o->size)
		return fail(-EFBIG, "SRC is larger than --size %" PRIu64, o->size);
	return 0;
}

static int copy_in(const struct cli_opts *o, struct vmc_image *img, const struct source *s)
{
	struct progress pg;
	uint64_t done = 0;
	int r;

	progress_init(&pg);
	cancel_catch(false);
	if (s->disk)
		r = vmc_image_copy_in_disk(img, s->disk, progress_update, &pg, &done);
	else
		r = vmc_image_copy_in(img, s->fd, s->sized ? s->size : UINT64_MAX, progress_update,
				      &pg, &done);
	progress_end(&pg);
	cancel_release();
	if (r == 0)
		r = pipe_drained(o, s, done);
	if (r == 0)
		r = vmc_image_flush(img);
	return r;
}

/* An incomplete output is useless: remove it, unless it is a device. */
static void remove_output(const char *path)
{
	struct stat st;

	if (path && lstat(path, &st) == 0 && S_ISREG(st.st_mode))
		unlink(path);
}

/*
 * DST as QEMU's own encrypted qcow2 (--format qcow2 without --type luks2, which keeps
 * a LUKS2 image inside a plain qcow2): written by the library, thin, no qemu-img.
 */
static bool native_qcow2(const struct cli_opts *o)
{
	return o->format && strcmp(o->format, "qcow2") == 0 && o->fmt.luks_version != 2;
}

static int encrypt_qcow2(const struct cli_opts *o, const char *src, const char *dst)
{
	struct vmc_format_params p = o->fmt;
	struct vmc_disk *disk = NULL;
	struct key_source ks;
	struct progress pg;
	uint8_t *pass = NULL;
	size_t len = 0;
	bool exists = false;
	int r;

	if (strcmp(src, "-") == 0)
		return usage_error(
		    "--format qcow2 reads SRC where it is allocated: not from stdin");
	if (o->header || o->volume_key_file || o->public_key || o->size_set)
		return usage_error("--format qcow2 (QEMU's encrypted qcow2) takes no --header, "
				   "--volume-key-file, --public-key or --size");
	r = stdin_check(o, false);
	if (r == 0)
		r = same_file_check(src, dst);
	if (r == 0)
		r = output_check(o, dst, &exists);
	if (r == 0)
		r = vmc_disk_open(src, source_is_disk(o, src) ? o->source_format : "raw", true,
				  &disk);
	if (r == 0)
		r = key_source_init(&ks, o, dst);
	if (r < 0)
		goto out;
	ks.verify = true;
	if ((r = passphrase_read(&ks, &pass, &len)) < 0)
		goto out;
	p.keyslot = o->key_slot;
	progress_init(&pg);
	cancel_catch(false);
	r = vmc_qcow2_encrypt(dst, &p, pass, len, exists, disk, progress_update, &pg);
	progress_end(&pg);
	cancel_release();
	if (r == 0)
		verbose("Key slot %d created.", o->key_slot >= 0 ? o->key_slot : 0);
out:
	vmc_secret_free(pass);
	vmc_disk_free(disk);
	return r;
}

int cmd_encrypt(const struct cli_opts *o, char **args, int nargs)
{
	const char *src = args[0], *dst = args[1];
	struct source s = {-1, false, 0, NULL};
	struct vmc_image *img = NULL;
	bool exists = false, header_exists = false, data_on_stdin = strcmp(src, "-") == 0;
	uint64_t size = 0;
	int r;

	if (o->in_place)
		return cmd_encrypt_in_place(o, args, nargs);
	if (nargs < 2)
		return usage_error("missing DST");
	if (native_qcow2(o))
		return encrypt_qcow2(o, src, dst);
	r = stdin_check(o, data_on_stdin);
	if (r == 0 && !data_on_stdin)
		r = same_file_check(src, dst);
	if (r == 0)
		r = source_open(o, src, &s);
	if (r == 0)
		r = plain_size(o, &s, &size);
	if (r == 0)
		r = output_check(o, dst, &exists);
	if (r == 0 && o->header)
		r = output_check(o, o->header, &header_exists);
	if (r < 0)
		goto out;
	r = create_image(o, dst, size, exists || header_exists, data_on_stdin, &img);
	if (r < 0)
		goto out;
	r = copy_in(o, img, &s);
	if (r == 0)
		verbose("Key slot %d created.", o->key_slot >= 0 ? o->key_slot : 0);
	vmc_image_free(img);
	if (r < 0) {
		remove_output(dst);
		remove_output(o->header);
	}
out:
	source_close(&s);
	return r;
}
