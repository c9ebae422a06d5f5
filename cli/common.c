/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Steps several verbs share: key sources, output checks, opening, unlocking, creating. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "passphrase.h"

/* A public keyslot guards nothing: cryptsetup's minimum PBKDF2 cost keeps it quick to open. */
#define PUBLIC_PBKDF2_ITERATIONS 1000

bool is_stdin(const char *path)
{
	return path && strcmp(path, "-") == 0;
}

int key_source_init(struct key_source *ks, const struct cli_opts *o, const char *image)
{
	if (!o->key_file && (o->keyfile_offset || o->keyfile_size))
		return usage_error("--keyfile-offset and --keyfile-size need --key-file");
	if (o->public_key && o->key_file)
		return usage_error("--public-key and --key-file both name the passphrase");
	*ks = (struct key_source){
	    .image = image,
	    .key_file = o->key_file,
	    .keyfile_offset = o->keyfile_offset,
	    .keyfile_size = o->keyfile_size,
	    .public_key = o->public_key,
	    .systemd = o->systemd,
	};
	return 0;
}

int passphrase_get(const struct cli_opts *o, const char *image, uint8_t **ret_pass, size_t *ret_len)
{
	struct key_source ks;
	int r = key_source_init(&ks, o, image);

	return r < 0 ? r : passphrase_read(&ks, ret_pass, ret_len);
}

int new_passphrase_read(const struct cli_opts *o, const char *who, const char *file,
			uint8_t **ret_pass, size_t *ret_len)
{
	struct key_source ks = {
	    .image = who,
	    .key_file = file,
	    .keyfile_offset = o->new_keyfile_offset,
	    .keyfile_size = o->new_keyfile_size,
	    .verify = true,
	    .stdin_busy = is_stdin(o->key_file),
	};

	return passphrase_read(&ks, ret_pass, ret_len);
}

void kdf_from_opts(const struct cli_opts *o, struct vmc_kdf_params *k)
{
	*k = (struct vmc_kdf_params){
	    .pbkdf = o->fmt.pbkdf,
	    .hash = o->fmt.hash,
	    .iter_time_ms = o->fmt.iter_time_ms,
	    .force_iterations = o->fmt.force_iterations,
	    .memory_kib = o->fmt.pbkdf_memory_kib,
	    .parallel = o->fmt.pbkdf_parallel,
	};
}

int stdin_check(const struct cli_opts *o, bool data_on_stdin)
{
	int users = data_on_stdin + is_stdin(o->key_file) + is_stdin(o->volume_key_file);

	if (users > 1)
		return usage_error("only one of SRC, --key-file and --volume-key-file can be - "
				   "(stdin)");
	return 0;
}

int output_check(const struct cli_opts *o, const char *path, bool *ret_exists)
{
	char warning[4096 + 64], *file = NULL;
	struct stat st;
	int part = 0, r;

	/* A partition of a disk image always exists: formatting it needs --force too. */
	r = image_path_parse(o, path, &file, &part);
	free(file);
	if (r < 0)
		return r;
	if (part) {
		if (!o->force)
			return usage_error("%s: formatting partition %d destroys its contents; add "
					   "--force",
					   path, part);
		if (!o->batch && !interactive())
			return usage_error("%s: no terminal to confirm; add --batch-mode", path);
		if (!o->batch) {
			snprintf(warning, sizeof(warning),
				 "WARNING: this overwrites partition %d (%s) irrevocably.", part,
				 path);
			r = confirm(warning);
			if (r < 0)
				return r;
		}
		*ret_exists = true;
		return 0;
	}
	/* An NBD export exists, and what it holds is overwritten. */
	if (!vmc_is_nbd_uri(path) && stat(path, &st) < 0) {
		if (errno != ENOENT)
			return fail(-errno, "%s: %s", path, strerror(errno));
		*ret_exists = false;
		return 0;
	}
	if (!o->force)
		return usage_error("%s exists; use --force to overwrite it", path);
	if (!o->batch && !interactive())
		return usage_error(
		    "%s exists and there is no terminal to confirm; add --batch-mode", path);
	if (!o->batch) {
		snprintf(warning, sizeof(warning), "WARNING: this overwrites %s irrevocably.",
			 path);
		r = confirm(warning);
		if (r < 0)
			return r;
	}
	*ret_exists = true;
	return 0;
}

int same_file_check(const char *src, const char *dst)
{
	struct stat a, b;

	if (stat(src, &a) < 0 || stat(dst, &b) < 0)
		return 0;
	if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		return usage_error("SRC and DST are the same file");
	return 0;
}

/* IMAGE@N: partition N of IMAGE, unless a file is called IMAGE@N. */
static int partition_suffix(const char *path, size_t *ret_len, int *ret_partition)
{
	const char *at = strrchr(path, '@'), *d;
	unsigned long n;

	*ret_len = strlen(path);
	*ret_partition = 0;
	if (!at || at == path || !at[1] || access(path, F_OK) == 0)
		return 0;
	for (d = at + 1; *d; d++)
		if (*d < '0' || *d > '9')
			return 0;
	n = strtoul(at + 1, NULL, 10);
	if (n < 1 || n > 256)
		return usage_error("%s: partition numbers go from 1 to 256", path);
	*ret_len = (size_t)(at - path);
	*ret_partition = (int)n;
	return 0;
}

int image_path_parse(const struct cli_opts *o, const char *path, char **ret_path,
		     int *ret_partition)
{
	size_t len = 0;
	int part = 0, r;

	r = partition_suffix(path, &len, &part);
	if (r < 0)
		return r;
	if (part && o->partition && part != o->partition)
		return usage_error("%s and --partition %d name different partitions", path,
				   o->partition);
	*ret_path = strndup(path, len);
	if (!*ret_path)
		return -ENOMEM;
	*ret_partition = part ? part : o->partition;
	return 0;
}

int image_open(const struct cli_opts *o, const char *path, bool read_only,
	       struct vmc_image **ret_img)
{
	struct vmc_open_params p = {
	    .header = o->header, .read_only = read_only, .format = o->format};
	char *file = NULL;
	int r;

	r = image_path_parse(o, path, &file, &p.partition);
	if (r == 0)
		r = vmc_image_open(file, &p, ret_img);
	free(file);
	return r;
}

/* The passphrase for path, given to open (unlock, or only test it), then wiped. */
static int with_passphrase(const struct cli_opts *o, struct vmc_image *img, const char *path,
			   int (*open)(struct vmc_image *, const void *, size_t, int, int *),
			   int *ret_keyslot)
{
	uint8_t *pass = NULL;
	size_t len = 0;
	int r;

	r = passphrase_get(o, path, &pass, &len);
	if (r == 0)
		r = open(img, pass, len, o->key_slot, ret_keyslot);
	vmc_secret_free(pass);
	return r;
}

int image_unlock(const struct cli_opts *o, struct vmc_image *img, const char *path,
		 int *ret_keyslot)
{
	return with_passphrase(o, img, path, vmc_image_unlock, ret_keyslot);
}

int image_test_passphrase(const struct cli_opts *o, struct vmc_image *img, const char *path,
			  int *ret_keyslot)
{
	return with_passphrase(o, img, path, vmc_image_test_passphrase, ret_keyslot);
}

int open_unlocked(const struct cli_opts *o, const char *path, struct vmc_image **ret_img,
		  int *ret_keyslot)
{
	struct vmc_image *img = NULL;
	int r;

	r = image_open(o, path, true, &img);
	if (r == 0)
		r = image_unlock(o, img, path, ret_keyslot);
	if (r == 0)
		*ret_img = img;
	else
		vmc_image_free(img);
	return r;
}

int data_size_round(const struct cli_opts *o, uint64_t size, uint64_t *ret_size)
{
	uint64_t sector = o->fmt.sector_size ? o->fmt.sector_size : 512;
	uint64_t rounded;

	if (size > UINT64_MAX - (sector - 1))
		return usage_error("size %" PRIu64 " is too large", size);
	rounded = (size + sector - 1) / sector * sector;
	if (rounded != size)
		warn("size rounded up to %" PRIu64 " bytes, a multiple of the %" PRIu64
		     "-byte sector size",
		     rounded, sector);
	*ret_size = rounded;
	return 0;
}

/* Reads --volume-key-file into secret memory and checks it against --key-size. */
static int volume_key_read(const struct cli_opts *o, uint8_t **ret_key, size_t *ret_len)
{
	uint8_t *key = NULL;
	size_t len = 0;
	int r;

	r = secret_file_read(o->volume_key_file, VOLUME_KEY_MAX, &key, &len);
	if (r < 0)
		return r;
	if (o->fmt.key_bits && (uint64_t)len * 8 != o->fmt.key_bits) {
		vmc_secret_free(key);
		return fail(-EINVAL, "volume key file %s holds %zu bits, --key-size is %" PRIu32,
			    o->volume_key_file, len * 8, o->fmt.key_bits);
	}
	*ret_key = key;
	*ret_len = len;
	return 0;
}

int create_image(const struct cli_opts *o, const char *path, uint64_t data_size, bool overwrite,
		 bool stdin_busy, struct vmc_image **ret_img)
{
	struct vmc_format_params p = o->fmt;
	struct key_source ks;
	char *file = NULL;
	uint8_t *vk = NULL, *pass = NULL;
	size_t vk_len = 0, pass_len = 0;
	int r;

	r = image_path_parse(o, path, &file, &p.partition);
	if (r < 0)
		goto out;
	if (o->public_key) {
		/* Shipped images: the label says so loudly, and a secret-free KDF is cheap. */
		if (p.luks_version == 1) {
			r = usage_error(
			    "--public-key needs LUKS2: its label marks the image public");
			goto out;
		}
		if (!p.label)
			p.label = VMC_PUBLIC_LABEL;
		if (!p.pbkdf && !p.force_iterations) {
			p.pbkdf = "pbkdf2";
			p.force_iterations = PUBLIC_PBKDF2_ITERATIONS;
		}
	}
	r = key_source_init(&ks, o, path);
	if (r < 0)
		goto out;
	ks.verify = true;
	ks.stdin_busy = stdin_busy || is_stdin(o->volume_key_file);
	if (o->volume_key_file) {
		r = volume_key_read(o, &vk, &vk_len);
		if (r < 0)
			goto out;
		p.volume_key = vk;
		p.volume_key_len = vk_len;
		p.key_bits = (uint32_t)(vk_len * 8);
	}
	r = passphrase_read(&ks, &pass, &pass_len);
	if (r < 0)
		goto out;
	p.data_size = data_size;
	p.header = o->header;
	p.keyslot = o->key_slot;
	r = vmc_image_create(file, &p, pass, pass_len, overwrite, ret_img);
out:
	free(file);
	vmc_secret_free(pass);
	vmc_secret_free(vk);
	return r;
}

int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
