/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc_audit_run(): the check table, file access below --root, and the text and JSON reports. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "audit/audit_internal.h"
#include "base/textbuf.h"
#include "base/log.h"
#include "base/util.h"

/*
 * The checks in the order they run and are reported. Later checks use facts
 * earlier ones record (swap and KSM state for the domain checks, qemu.conf's
 * dump_guest_core for domains without a dumpCore attribute).
 */
static void (*const checks[])(struct audit_ctx *c) = {
    audit_check_swap,
    audit_check_zswap,
    audit_check_hibernation,
    audit_check_core_pattern,
    audit_check_suid_dumpable,
    audit_check_core_limit,
    audit_check_kdump,
    audit_check_pstore,
    audit_check_init_on_free,
    audit_check_ksm,
    audit_check_libvirt_host,
    audit_check_libvirt_files,
    audit_check_libvirt_domains,
    audit_check_qemu,
    audit_check_virtualbox,
    audit_check_xen,
    audit_check_images,
};

const char *audit_status_name(enum vmc_audit_status s)
{
	switch (s) {
	case VMC_AUDIT_PASS:
		return "PASS";
	case VMC_AUDIT_WARN:
		return "WARN";
	case VMC_AUDIT_FAIL:
		return "FAIL";
	default:
		return "SKIP";
	}
}

void audit_add(struct audit_ctx *c, const char *check, enum vmc_audit_status status,
	       const char *subject, const char *fix, const char *why_fmt, ...)
{
	struct audit_result *r;
	va_list ap;

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 32;
		struct audit_result *v = realloc(c->res, cap * sizeof(*v));

		if (!v) {
			c->oom = true;
			return;
		}
		c->res = v;
		c->cap = cap;
	}
	r = &c->res[c->n++];
	memset(r, 0, sizeof(*r));
	r->check = check;
	r->status = status;
	snprintf(r->subject, sizeof(r->subject), "%s", subject ? subject : "");
	snprintf(r->fix, sizeof(r->fix), "%s", fix ? fix : "");
	va_start(ap, why_fmt);
	vsnprintf(r->why, sizeof(r->why), why_fmt, ap);
	va_end(ap);
}

/*
 * Opens path of the audited tree. Below a --root, openat2(RESOLVE_IN_ROOT)
 * makes absolute symbolic links (common in /etc) resolve inside the copy
 * instead of escaping to this machine; kernels before 5.6 fall back to
 * openat(), where such links do escape.
 */
static int open_below(struct audit_ctx *c, const char *path, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	const char *rel = path;
	int fd;

	if (c->host) {
		fd = open(path, flags | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	while (*rel == '/')
		rel++;
	if (!*rel)
		rel = ".";
	fd = (int)syscall(SYS_openat2, c->rootfd, rel, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS)
		fd = openat(c->rootfd, rel, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int audit_read(struct audit_ctx *c, const char *path, size_t cap, uint8_t **ret_buf,
	       size_t *ret_len)
{
	uint8_t *buf = NULL;
	size_t len = 0, size = 0;
	struct stat st;
	ssize_t n;
	int fd, r;

	/* O_NONBLOCK: a FIFO planted in an audited tree must not hang the audit. */
	fd = open_below(c, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	for (;;) {
		if (len == size) {
			size_t want = size ? 2 * size : 4096;
			uint8_t *nb;

			if (size > cap) {
				r = -EFBIG;
				goto out;
			}
			if (want > cap + 1)
				want = cap + 1;
			nb = realloc(buf, want + 1);
			if (!nb) {
				r = -ENOMEM;
				goto out;
			}
			buf = nb;
			size = want;
		}
		n = read(fd, buf + len, size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > cap) {
			r = -EFBIG;
			goto out;
		}
	}
	if (!buf) {
		buf = malloc(1);
		if (!buf) {
			r = -ENOMEM;
			goto out;
		}
	}
	buf[len] = '\0';
	*ret_buf = buf;
	*ret_len = len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

int audit_read_at(struct audit_ctx *c, const char *path, void *buf, size_t len, uint64_t off)
{
	struct stat st;
	size_t done = 0;
	ssize_t n;
	int fd, r = 0;

	fd = open_below(c, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) ||
	    off > (uint64_t)INT64_MAX - len) {
		r = -EINVAL;
		goto out;
	}
	while (done < len) {
		n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	r = (int)done;
out:
	close(fd);
	return r;
}

bool audit_exists(struct audit_ctx *c, const char *path)
{
	int fd = open_below(c, path, O_PATH | O_NOFOLLOW);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int audit_readlink(struct audit_ctx *c, const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open_below(c, path, O_PATH | O_NOFOLLOW);
	if (fd < 0)
		return fd;
	n = readlinkat(fd, "", buf, len - 1);
	close(fd);
	if (n < 0)
		return errno == ENOENT ? -EINVAL : -errno;
	buf[n] = '\0';
	return 0;
}

int audit_opendir(struct audit_ctx *c, const char *path, DIR **ret_dir)
{
	DIR *d;
	int fd;

	fd = open_below(c, path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return fd;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	*ret_dir = d;
	return 0;
}

int audit_read_value(struct audit_ctx *c, const char *path, char *val, size_t len)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	int r;

	r = audit_read(c, path, AUDIT_FILE_MAX, &buf, &n);
	if (r < 0)
		return r;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
	snprintf(val, len, "%s", (const char *)buf);
	free(buf);
	return 0;
}

int audit_file_size(struct audit_ctx *c, const char *path, uint64_t *ret_size)
{
	struct stat st;
	int fd, r = 0;

	fd = open_below(c, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		r = -EINVAL;
	else
		*ret_size = (uint64_t)st.st_size;
	close(fd);
	return r;
}

void audit_human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu bytes", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

bool audit_mount_of(struct audit_ctx *c, const char *path, char *dev, size_t dlen, char *fstype,
		    size_t flen)
{
	char src[AUDIT_PATH_MAX], mnt[AUDIT_PATH_MAX], type[64];
	char *line, *save = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, best = 0, ml;
	bool found = false;

	if (audit_read(c, "/proc/mounts", AUDIT_FILE_MAX, &buf, &len) < 0)
		return false;
	for (line = strtok_r((char *)buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (sscanf(line, "%1023s %1023s %63s", src, mnt, type) != 3)
			continue;
		ml = strlen(mnt);
		if (strncmp(path, mnt, ml) != 0 ||
		    !(ml == 1 || path[ml] == '/' || path[ml] == '\0') || ml < best)
			continue;
		best = ml;
		if (dev)
			snprintf(dev, dlen, "%s", src);
		if (fstype)
			snprintf(fstype, flen, "%s", type);
		found = true;
	}
	free(buf);
	return found;
}

static enum audit_fs_kind fs_kind_of_name(const char *type)
{
	if (strcmp(type, "tmpfs") == 0 || strcmp(type, "hugetlbfs") == 0 ||
	    strcmp(type, "ramfs") == 0)
		return AUDIT_FS_RAM;
	return AUDIT_FS_DISK;
}

enum audit_fs_kind audit_fs_of(struct audit_ctx *c, const char *path, char *fstype, size_t flen)
{
	char p[AUDIT_PATH_MAX], *slash;
	struct statfs sf;

	snprintf(fstype, flen, "?");
	if (path[0] != '/')
		return AUDIT_FS_UNKNOWN;
	/*
	 * On this host the kernel says: statfs() the path, or the nearest parent
	 * that exists (QEMU creates the file later, or unlinks it at once).
	 */
	if (c->host) {
		snprintf(p, sizeof(p), "%s", path);
		for (;;) {
			if (statfs(p, &sf) == 0) {
				audit_mount_of(c, p, NULL, 0, fstype, flen);
				if ((unsigned long)sf.f_type == TMPFS_MAGIC ||
				    (unsigned long)sf.f_type == HUGETLBFS_MAGIC ||
				    (unsigned long)sf.f_type == RAMFS_MAGIC)
					return AUDIT_FS_RAM;
				if (strcmp(fstype, "?") == 0)
					snprintf(fstype, flen, "0x%lx", (unsigned long)sf.f_type);
				return AUDIT_FS_DISK;
			}
			slash = strrchr(p, '/');
			if (!slash || slash == p)
				break;
			*slash = '\0';
		}
	}
	/* A copied tree: its mount table. */
	if (!audit_mount_of(c, path, NULL, 0, fstype, flen))
		return AUDIT_FS_UNKNOWN;
	return fs_kind_of_name(fstype);
}

void audit_ctx_clear(struct audit_ctx *c)
{
	free(c->res);
	if (c->rootfd >= 0)
		close(c->rootfd);
	memset(c, 0, sizeof(*c));
	c->rootfd = -1;
}

int audit_run_checks(const char *root, const char *const *domain_xml, struct audit_ctx *c)
{
	return audit_run_checks_images(root, domain_xml, NULL, c);
}

int audit_run_checks_images(const char *root, const char *const *domain_xml,
			    const char *const *images, struct audit_ctx *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	c->rootfd = -1;
	c->root = root && *root ? root : "/";
	c->host = strcmp(c->root, "/") == 0;
	c->domain_xml = domain_xml;
	c->images = images;
	c->facts.libvirt_dump_core = -1;
	snprintf(c->facts.memory_backing_dir, sizeof(c->facts.memory_backing_dir),
		 "/var/lib/libvirt/qemu/ram");
	c->rootfd = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->rootfd < 0) {
		int r = -errno;

		log_err("%s: %s", c->root, strerror(errno));
		return r;
	}
	/* Files named on the command line are the caller's: an unreadable one is an error. */
	for (i = 0; domain_xml && domain_xml[i]; i++) {
		if (access(domain_xml[i], R_OK) < 0) {
			int r = -errno;

			log_err("%s: %s", domain_xml[i], strerror(errno));
			return r;
		}
	}
	for (i = 0; images && images[i]; i++) {
		if (access(images[i], R_OK) < 0) {
			int r = -errno;

			log_err("%s: %s", images[i], strerror(errno));
			return r;
		}
	}
	for (i = 0; i < ARRAY_SIZE(checks) && !c->oom; i++)
		checks[i](c);
	return c->oom ? -ENOMEM : 0;
}

static void report_text(struct textbuf *b, const struct audit_ctx *c, const unsigned *count)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		const struct audit_result *r = &c->res[i];

		tb_printf(b, "[%s] %s%s%s\n", audit_status_name(r->status), r->check,
			  r->subject[0] ? ": " : "", r->subject);
		tb_printf(b, "       why: %s\n", r->why);
		if (r->fix[0] && (r->status == VMC_AUDIT_WARN || r->status == VMC_AUDIT_FAIL))
			tb_printf(b, "       fix: %s\n", r->fix);
	}
	tb_printf(b, "Summary: %u PASS, %u WARN, %u FAIL, %u SKIP (root %s).\n",
		  count[VMC_AUDIT_PASS], count[VMC_AUDIT_WARN], count[VMC_AUDIT_FAIL],
		  count[VMC_AUDIT_SKIP], c->root);
}

static void report_json(struct textbuf *b, const struct audit_ctx *c, const unsigned *count,
			enum vmc_audit_status worst)
{
	size_t i;

	tb_printf(b, "{\"root\":");
	tb_json_str(b, c->root);
	tb_printf(b, ",\"results\":[");
	for (i = 0; i < c->n; i++) {
		const struct audit_result *r = &c->res[i];

		tb_printf(b, "%s{\"check\":", i ? "," : "");
		tb_json_str(b, r->check);
		tb_printf(b, ",\"status\":\"%s\",\"subject\":", audit_status_name(r->status));
		tb_json_str(b, r->subject[0] ? r->subject : NULL);
		tb_printf(b, ",\"why\":");
		tb_json_str(b, r->why);
		tb_printf(b, ",\"fix\":");
		tb_json_str(b, r->fix[0] ? r->fix : NULL);
		tb_printf(b, "}");
	}
	tb_printf(b, "],\"summary\":{\"PASS\":%u,\"WARN\":%u,\"FAIL\":%u,\"SKIP\":%u},",
		  count[VMC_AUDIT_PASS], count[VMC_AUDIT_WARN], count[VMC_AUDIT_FAIL],
		  count[VMC_AUDIT_SKIP]);
	tb_printf(b, "\"worst\":\"%s\"}\n", audit_status_name(worst));
}

VMC_API int vmc_audit_run(const struct vmc_audit_params *p, char **ret_report, int *ret_worst)
{
	struct audit_ctx c;
	struct textbuf b = {0};
	enum vmc_audit_status worst = VMC_AUDIT_SKIP;
	unsigned count[4] = {0};
	char *text = NULL;
	size_t i;
	int r;

	if (!p || !ret_report || !ret_worst)
		return -EINVAL;
	r = audit_run_checks_images(p->root, p->domain_xml, p->images, &c);
	if (r < 0)
		goto out;
	for (i = 0; i < c.n; i++) {
		count[c.res[i].status]++;
		if (c.res[i].status > worst)
			worst = c.res[i].status;
	}
	if (p->json)
		report_json(&b, &c, count, worst);
	else
		report_text(&b, &c, count);
	r = tb_steal(&b, &text);
	if (r < 0)
		goto out;
	*ret_report = text;
	*ret_worst = (int)worst;
out:
	tb_clear(&b);
	audit_ctx_clear(&c);
	return r;
}
