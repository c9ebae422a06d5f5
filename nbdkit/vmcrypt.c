/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nbdkit-vmcrypt-plugin: serves the plaintext of a LUKS1/LUKS2 image over NBD. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "vmcrypt.h"

/* The library is thread-safe: requests run in parallel, even on one connection. */
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define KEYFILE_MAX   (8u * 1024 * 1024) /* key file bytes, as cryptsetup */
#define ZERO_CHUNK    (1024u * 1024)	 /* bytes of zeros written per call */
#define PREFERRED_MIN 4096u
#define REQUEST_MAX   (32u * 1024 * 1024) /* nbdkit refuses requests above 64 MiB */

static char *image_path;  /* file=, absolute */
static char *header_path; /* header=, absolute, or NULL */
static uint8_t *pass;	  /* password= or key-file=, in secret memory until serving */
static size_t pass_len;
static bool pass_set;
static int key_slot = -1;
static bool allow_discards;
static bool open_read_only; /* readonly=true: O_RDONLY and a shared lock */
static int status_fd = -1;  /* status-fd=: start-up result for vmcrypt serve */
static int harden_error;

static struct vmc_image *img; /* opened in get_ready, shared by all connections */
static bool img_writable;
static int img_slot = -1;
static pid_t ready_pid;

static const uint8_t zeros[ZERO_CHUNK];

/*
 * -D vmcrypt.library=1 turns on the library's debug messages (shown with -v).
 * nbdkit sets this variable by name.
 */
NBDKIT_DLL_PUBLIC int vmcrypt_debug_library;

/* The library's log sink: errors through nbdkit_error, the rest as debug messages. */
static void plugin_log(enum vmc_log_level level, const char *msg, void *userdata)
{
	(void)userdata;
	switch (level) {
	case VMC_LOG_ERROR:
		nbdkit_error("%s", msg);
		break;
	case VMC_LOG_WARN:
		/* nbdkit has no warning level; stderr is its log in the foreground. */
		fprintf(stderr, "nbdkit: vmcrypt: warning: %s\n", msg);
		nbdkit_debug("warning: %s", msg);
		break;
	default:
		nbdkit_debug("%s", msg);
		break;
	}
}

static void plugin_load(void)
{
	vmc_set_log(plugin_log, NULL);
	/* Before any secret is read: no core dump, no ptrace by other users. */
	harden_error = vmc_harden_process();
}

static void pass_free(void)
{
	vmc_secret_free(pass);
	pass = NULL;
	pass_len = 0;
}

static void plugin_unload(void)
{
	if (img) {
		vmc_image_flush(img);
		vmc_image_free(img);
		img = NULL;
	}
	pass_free();
	free(image_path);
	free(header_path);
	if (status_fd >= 0)
		close(status_fd);
}

/*
 * password= by nbdkit's conventions (literal, "-" prompt, "-FD", "+FILE"; one
 * line). nbdkit's malloc()ed copy is moved into secret memory and wiped at once.
 */
static int password_read(const char *value)
{
	char *p = NULL;
	size_t len;

	if (nbdkit_read_password(value, &p) == -1)
		return -1;
	len = strlen(p);
	/* vmc_secret_alloc(0) may return NULL: keep one byte for an empty passphrase. */
	pass = vmc_secret_alloc(len + 1);
	if (!pass) {
		explicit_bzero(p, len);
		free(p);
		nbdkit_error("out of secret memory");
		return -1;
	}
	memcpy(pass, p, len);
	pass_len = len;
	explicit_bzero(p, len);
	free(p);
	return 0;
}

/* Moves the secret into a larger secret buffer (the old one is wiped). */
static int secret_grow(uint8_t **buf, size_t len, size_t *cap)
{
	size_t ncap = *cap ? *cap * 2 : 4096;
	uint8_t *n;

	if (ncap > KEYFILE_MAX + 1)
		ncap = KEYFILE_MAX + 1;
	n = vmc_secret_alloc(ncap);
	if (!n)
		return -ENOMEM;
	if (len)
		memcpy(n, *buf, len);
	vmc_secret_free(*buf);
	*buf = n;
	*cap = ncap;
	return 0;
}

/*
 * key-file=FILE or key-file=-FD: every byte up to EOF, as vmcrypt --key-file and
 * cryptsetup read a key file (no newline stripped, NUL bytes allowed). Read with
 * read(2) straight into secret memory; the descriptor is closed afterwards.
 */
static int key_file_read(const char *value)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd, r = 0;

	if (value[0] == '-') {
		if (nbdkit_parse_int("key-file descriptor", value + 1, &fd) == -1)
			return -1;
		if (fd <= STDERR_FILENO) {
			nbdkit_error("key-file=-%d: stdin, stdout and stderr cannot be used", fd);
			return -1;
		}
	} else {
		fd = open(value, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			nbdkit_error("key-file %s: %m", value);
			return -1;
		}
	}
	for (;;) {
		if (len == cap && (r = secret_grow(&buf, len, &cap)) < 0)
			break;
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			break;
		}
		len += (size_t)n;
		if (len > KEYFILE_MAX) {
			r = -EFBIG;
			break;
		}
	}
	close(fd);
	if (r == 0 && len == 0)
		r = -ENODATA;
	if (r < 0) {
		vmc_secret_free(buf);
		if (r == -EFBIG)
			nbdkit_error("key-file %s: larger than %u bytes", value, KEYFILE_MAX);
		else if (r == -ENODATA)
			nbdkit_error("key-file %s: empty", value);
		else
			nbdkit_error("key-file %s: %s", value, strerror(-r));
		return -1;
	}
	pass = buf;
	pass_len = len;
	return 0;
}

static int plugin_config(const char *key, const char *value)
{
	int b;

	if (strcmp(key, "file") == 0) {
		free(image_path);
		/* An NBD URI (the image behind another server) is no path to resolve. */
		image_path = vmc_is_nbd_uri(value) ? strdup(value) : nbdkit_realpath(value);
		if (!image_path)
			nbdkit_error("%s: %m", value);
		return image_path ? 0 : -1;
	}
	if (strcmp(key, "header") == 0) {
		free(header_path);
		header_path = nbdkit_realpath(value);
		return header_path ? 0 : -1;
	}
	if (strcmp(key, "password") == 0 || strcmp(key, "key-file") == 0) {
		if (pass_set) {
			nbdkit_error("give one password= or key-file= parameter");
			return -1;
		}
		pass_set = true;
		return key[0] == 'p' ? password_read(value) : key_file_read(value);
	}
	if (strcmp(key, "key-slot") == 0) {
		if (nbdkit_parse_int("key-slot", value, &key_slot) == -1)
			return -1;
		if (key_slot < 0 || key_slot > 31) {
			nbdkit_error("key-slot=%d: must be 0..31", key_slot);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "allow-discards") == 0 || strcmp(key, "readonly") == 0) {
		b = nbdkit_parse_bool(value);
		if (b == -1)
			return -1;
		if (key[0] == 'a')
			allow_discards = b;
		else
			open_read_only = b;
		return 0;
	}
	if (strcmp(key, "status-fd") == 0) {
		if (nbdkit_parse_int("status-fd", value, &status_fd) == -1)
			return -1;
		if (status_fd <= STDERR_FILENO || fcntl(status_fd, F_SETFD, FD_CLOEXEC) < 0) {
			nbdkit_error("status-fd=%s: not an open descriptor above 2", value);
			status_fd = -1;
			return -1;
		}
		return 0;
	}
	nbdkit_error("unknown parameter '%s' (see nbdkit vmcrypt --help)", key);
	return -1;
}

static int plugin_config_complete(void)
{
	if (harden_error < 0) {
		nbdkit_error("cannot disable core dumps: %s", vmc_strerror(harden_error));
		return -1;
	}
	if (!image_path) {
		nbdkit_error("the file=IMAGE parameter is required");
		return -1;
	}
	if (!pass_set) {
		nbdkit_error("a passphrase is required: password=- (prompt), password=-FD, "
			     "password=+FILE or key-file=FILE");
		return -1;
	}
	if (vmcrypt_debug_library)
		vmc_set_debug(true);
	return 0;
}

#define plugin_config_help                                                                       \
	"[file=]IMAGE         (required) LUKS1 or LUKS2 image file or block device\n"            \
	"header=FILE          detached LUKS header\n"                                            \
	"password=PASSWORD    passphrase: -, -FD or +FILE as for every nbdkit password\n"        \
	"key-file=FILE|-FD    passphrase: every byte of a key file (as cryptsetup)\n"            \
	"key-slot=N           try only key slot N\n"                                             \
	"allow-discards=BOOL  accept TRIM: whole sectors become holes (default false)\n"         \
	"readonly=BOOL        open the image read-only, sharing it with readers (also use -r)\n" \
	"status-fd=FD         write the start-up result (0 or -errno) to FD"

/* Tells vmcrypt serve how the start-up went: "0" or the library's negative errno. */
static void status_report(int r)
{
	char line[32];
	int n;

	if (status_fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%d\n", r);
	if (write(status_fd, line, (size_t)n) < 0)
		nbdkit_debug("status-fd: %m");
	close(status_fd);
	status_fd = -1;
}

/* Opens the image read-write, or read-only when asked or when writing is refused. */
static int image_open(void)
{
	struct vmc_open_params p = {.header = header_path, .read_only = open_read_only};
	int r;

	r = vmc_image_open(image_path, &p, &img);
	if (!open_read_only && (r == -EACCES || r == -EROFS || r == -EPERM)) {
		nbdkit_debug("%s: cannot open read-write (%s), serving it read-only", image_path,
			     strerror(-r));
		p.read_only = true;
		r = vmc_image_open(image_path, &p, &img);
	}
	if (r == VMC_EBUSY)
		nbdkit_error("%s: refusing to serve an image that another process has open for "
			     "writing (vmcrypt serve or mount, cryptsetup, QEMU); stop it first",
			     image_path);
	if (r == 0)
		img_writable = !p.read_only;
	return r;
}

/* Opens and unlocks the image before serving, so that errors stop nbdkit at once. */
static int plugin_get_ready(void)
{
	int r;

	r = image_open();
	if (r == 0)
		r = vmc_image_unlock(img, pass, pass_len, key_slot, &img_slot);
	if (r == VMC_EPASS)
		nbdkit_error("%s: no key slot opens with this passphrase", image_path);
	if (r < 0) {
		status_report(r);
		return -1;
	}
	nbdkit_debug("%s: key slot %d unlocked, %" PRIu64 " bytes, LUKS%d, %s", image_path,
		     img_slot, vmc_image_size(img), vmc_image_luks_version(img),
		     img_writable ? "read-write" : "read-only");
	ready_pid = getpid();
	return 0;
}

static int plugin_after_fork(void)
{
	int r = 0;

	/*
	 * Memory locks are not inherited across fork(): when nbdkit went into the
	 * background, the key would be swappable here. Unlock again so that the
	 * serving process holds it in memory it has locked itself (it costs one
	 * more key derivation; vmcrypt serve runs nbdkit -f and never pays it).
	 */
	if (getpid() != ready_pid) {
		r = vmc_image_unlock(img, pass, pass_len, img_slot, NULL);
		if (r < 0)
			nbdkit_error("%s: unlocking again after fork: %s", image_path,
				     vmc_strerror(r));
	}
	pass_free();
	status_report(r);
	return r < 0 ? -1 : 0;
}

static void plugin_cleanup(void)
{
	int r;

	if (!img)
		return;
	r = img_writable ? vmc_image_flush(img) : 0;
	if (r < 0)
		nbdkit_error("%s: flush at exit: %s", image_path, vmc_strerror(r));
	vmc_image_free(img);
	img = NULL;
}

/* Every connection shares the one image; the handle only has to be non-NULL. */
static void *plugin_open(int readonly)
{
	(void)readonly;
	return &img;
}

/* A client that goes away leaves its writes on disk. */
static void plugin_close(void *handle)
{
	int r;

	(void)handle;
	if (!img_writable)
		return;
	r = vmc_image_flush(img);
	if (r < 0)
		nbdkit_error("%s: flush on disconnect: %s", image_path, vmc_strerror(r));
}

static int64_t plugin_get_size(void *handle)
{
	(void)handle;
	return (int64_t)vmc_image_size(img);
}

/*
 * Requests of whole encryption sectors need no read-modify-write; smaller or
 * unaligned ones still work (the library handles any byte range).
 */
static int plugin_block_size(void *handle, uint32_t *minimum, uint32_t *preferred,
			     uint32_t *maximum)
{
	uint32_t sector = vmc_image_sector_size(img);

	(void)handle;
	*minimum = sector;
	*preferred = sector > PREFERRED_MIN ? sector : PREFERRED_MIN;
	*maximum = REQUEST_MAX;
	return 0;
}

static int plugin_can_write(void *handle)
{
	(void)handle;
	return img_writable;
}

static int plugin_can_flush(void *handle)
{
	(void)handle;
	return 1;
}

static int plugin_can_fua(void *handle)
{
	(void)handle;
	return NBDKIT_FUA_NATIVE;
}

/* Every write goes to the one file and a flush is fdatasync() of it: safe across connections. */
static int plugin_can_multi_conn(void *handle)
{
	(void)handle;
	return 1;
}

static int plugin_can_trim(void *handle)
{
	(void)handle;
	return allow_discards;
}

static int plugin_can_zero(void *handle)
{
	(void)handle;
	return 1;
}

static int plugin_can_fast_zero(void *handle)
{
	(void)handle;
	return 1;
}

/* Reports a library error for the current request. */
static int request_error(int r, const char *what, uint64_t offset, uint32_t count)
{
	nbdkit_error("%s %" PRIu32 " bytes at %" PRIu64 ": %s", what, count, offset,
		     vmc_strerror(r));
	nbdkit_set_error(-r);
	return -1;
}

static int plugin_flush(void *handle, uint32_t flags)
{
	int r;

	(void)handle;
	(void)flags;
	r = vmc_image_flush(img);
	if (r < 0) {
		nbdkit_error("%s: flush: %s", image_path, vmc_strerror(r));
		nbdkit_set_error(-r);
		return -1;
	}
	return 0;
}

static int plugin_pread(void *handle, void *buf, uint32_t count, uint64_t offset, uint32_t flags)
{
	int r;

	(void)handle;
	(void)flags;
	r = vmc_image_read(img, buf, count, offset);
	return r < 0 ? request_error(r, "read", offset, count) : 0;
}

static int plugin_pwrite(void *handle, const void *buf, uint32_t count, uint64_t offset,
			 uint32_t flags)
{
	int r;

	r = vmc_image_write(img, buf, count, offset);
	if (r < 0)
		return request_error(r, "write", offset, count);
	return flags & NBDKIT_FLAG_FUA ? plugin_flush(handle, 0) : 0;
}

/*
 * Zeros are written as encrypted zeros: a hole punched in the ciphertext would
 * read back as garbage, not zeros. NBDKIT_FLAG_MAY_TRIM is therefore ignored.
 */
static int write_zeros(uint32_t count, uint64_t offset, uint32_t flags)
{
	uint64_t off = offset;
	uint32_t left = count, n;
	int r;

	while (left > 0) {
		n = left < ZERO_CHUNK ? left : ZERO_CHUNK;
		r = vmc_image_write(img, zeros, n, off);
		if (r < 0)
			return request_error(r, "zero", off, n);
		off += n;
		left -= n;
	}
	return flags & NBDKIT_FLAG_FUA ? plugin_flush(NULL, 0) : 0;
}

static int plugin_zero(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
	(void)handle;
	/* Writing zeros through the cipher is no faster than the client writing them. */
	if (flags & NBDKIT_FLAG_FAST_ZERO) {
		nbdkit_set_error(ENOTSUP);
		return -1;
	}
	return write_zeros(count, offset, flags);
}

/*
 * A trim gives the space back, as dm-crypt's allow_discards does: whole sectors
 * become holes (reading back as garbage, which TRIM allows); partial sectors
 * at the edges are left as they are.
 */
static int plugin_trim(void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
	int r;

	(void)handle;
	(void)flags;
	r = vmc_image_discard(img, offset, count);
	if (r == -EOPNOTSUPP)
		return write_zeros(count, offset, flags);
	return r < 0 ? request_error(r, "trim", offset, count) : 0;
}

static struct nbdkit_plugin plugin = {
    .name = "vmcrypt",
    .longname = "vmcrypt LUKS1/LUKS2 image plugin",
    .version = VMCRYPT_VERSION,
    .description = "Serves the plaintext of a LUKS1 or LUKS2 encrypted image (libvmcrypt)",
    .load = plugin_load,
    .unload = plugin_unload,
    .config = plugin_config,
    .config_complete = plugin_config_complete,
    .config_help = plugin_config_help,
    .magic_config_key = "file",
    .get_ready = plugin_get_ready,
    .after_fork = plugin_after_fork,
    .cleanup = plugin_cleanup,
    .open = plugin_open,
    .close = plugin_close,
    .get_size = plugin_get_size,
    .block_size = plugin_block_size,
    .can_write = plugin_can_write,
    .can_flush = plugin_can_flush,
    .can_fua = plugin_can_fua,
    .can_multi_conn = plugin_can_multi_conn,
    .can_trim = plugin_can_trim,
    .can_zero = plugin_can_zero,
    .can_fast_zero = plugin_can_fast_zero,
    .pread = plugin_pread,
    .pwrite = plugin_pwrite,
    .flush = plugin_flush,
    .trim = plugin_trim,
    .zero = plugin_zero,
};

NBDKIT_REGISTER_PLUGIN(plugin)
