/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NBD route to a VM: serve's default socket and the QEMU and libvirt settings for it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "route.h"

#define NODE_NAME "vmcrypt0"

/* ---- output for QEMU and libvirt ------------------------------------------------ */

void fput_qemu(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == ',')
			fputc(',', f);
		fputc(*s, f);
	}
}

void fput_xml(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '\'':
			fputs("&apos;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
			break;
		}
	}
}

/* True when s can stand in an NBD URI's query as it is. */
static bool uri_safe(const char *s)
{
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._~-") ==
	       strlen(s);
}

void nbd_print_qemu(FILE *f, const struct nbd_endpoint *ep)
{
	fputs("# QEMU, either:\n-blockdev driver=nbd,node-name=" NODE_NAME, f);
	if (ep->socket) {
		fputs(",server.type=unix,server.path=", f);
		fput_qemu(f, ep->socket);
	} else {
		fprintf(f, ",server.type=inet,server.host=127.0.0.1,server.port=%u", ep->port);
	}
	fprintf(f, "%s -device virtio-blk-pci,drive=" NODE_NAME "\n# or:\n-drive ",
		ep->read_only ? ",read-only=on" : "");
	if (!ep->socket) {
		fprintf(f, "file=nbd://127.0.0.1:%u", ep->port);
	} else if (uri_safe(ep->socket)) {
		fprintf(f, "file=nbd+unix:///?socket=%s", ep->socket);
	} else {
		/* A path a URI would need escapes for: the same thing as options. */
		fputs("file.driver=nbd,file.server.type=unix,file.server.path=", f);
		fput_qemu(f, ep->socket);
	}
	fprintf(f, ",format=raw,if=virtio%s\n", ep->read_only ? ",readonly=on" : "");
}

void nbd_print_libvirt(FILE *f, const struct nbd_endpoint *ep)
{
	fputs("# libvirt, in the domain's <devices> (virsh edit DOMAIN):\n"
	      "<disk type='network' device='disk'>\n"
	      "  <driver name='qemu' type='raw'/>\n"
	      "  <source protocol='nbd'>\n",
	      f);
	if (ep->socket) {
		fputs("    <host transport='unix' socket='", f);
		fput_xml(f, ep->socket);
		fputs("'/>\n", f);
	} else {
		fprintf(f, "    <host name='127.0.0.1' port='%u'/>\n", ep->port);
	}
	fprintf(f, "  </source>\n  <target dev='vdb' bus='virtio'/>\n%s</disk>\n",
		ep->read_only ? "  <readonly/>\n" : "");
}

/* dir exists (made if create) as a directory of ours that nobody else can enter. */
static int private_dir(const char *dir, bool create)
{
	struct stat st;

	if (!create)
		return 0;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return fail(-errno, "%s: %s", dir, strerror(errno));
	if (lstat(dir, &st) < 0)
		return fail(-errno, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return fail(
		    -EACCES,
		    "%s: not a directory private to this user (mode 0700); use --socket PATH", dir);
	return 0;
}

/* $XDG_RUNTIME_DIR/vmcrypt/NAME.sock, else (no runtime directory) fallback/NAME.sock. */
static int socket_in_runtime_dir(const char *fallback, const char *name, bool create, char *buf,
				 size_t len)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	char dir[PATH_MAX];
	int n;

	if (runtime && runtime[0] == '/')
		n = snprintf(dir, sizeof(dir), "%s/vmcrypt", runtime);
	else
		n = snprintf(dir, sizeof(dir), "%s", fallback);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	n = snprintf(buf, len, "%s/%s.sock", dir, name);
	if (n < 0 || (size_t)n >= len || (size_t)n >= SUN_PATH_MAX)
		return -ENAMETOOLONG;
	return private_dir(dir, create);
}

int serve_socket_default(const char *image, bool create, char *buf, size_t len)
{
	const char *name = strrchr(image, '/');
	char tmp[64];

	name = name ? name + 1 : image;
	snprintf(tmp, sizeof(tmp), "/tmp/vmcrypt-%u", (unsigned)geteuid());
	return socket_in_runtime_dir(tmp, name, create, buf, len);
}

int systemd_escape_path(const char *path, char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const char *p = path, *start;
	size_t o = 0;

	/* Absolute, normalised paths only (realpath's): no "//", "/./", "/../" or trailing '/'. */
	if (path[0] != '/' || strstr(path, "//") || strstr(path, "/./") || strstr(path, "/../"))
		return -EINVAL;
	while (*p == '/')
		p++;
	if (!*p) {
		if (len < 2)
			return -ENAMETOOLONG;
		snprintf(buf, len, "-");
		return 0;
	}
	/* As systemd: '/' becomes '-'; bytes outside [A-Za-z0-9:_.] and a leading '.' \xNN. */
	for (start = p; *p; p++) {
		unsigned char c = (unsigned char)*p;
		bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == ':' || c == '_' ||
			     (c == '.' && p != start);

		if (c == '/' && p[1] == '\0')
			return -EINVAL;
		if (o + 5 > len)
			return -ENAMETOOLONG;
		if (c == '/') {
			buf[o++] = '-';
		} else if (plain) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	return 0;
}

int serve_socket_systemd(const char *image, bool create, char *buf, size_t len)
{
	char name[PATH_MAX * 4 + 1], run[64];
	int r = systemd_escape_path(image, name, sizeof(name));

	if (r < 0)
		return r;
	/* %t of a user manager: $XDG_RUNTIME_DIR, which systemd sets to /run/user/UID. */
	snprintf(run, sizeof(run), "/run/user/%u/vmcrypt", (unsigned)geteuid());
	return socket_in_runtime_dir(run, name, create, buf, len);
}
