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

int serve_socket_default(const char *image, bool create, char *buf, size_t len)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	const char *name = strrchr(image, '/');
	char dir[PATH_MAX];
	int n;

	name = name ? name + 1 : image;
	if (runtime && runtime[0] == '/')
		n = snprintf(dir, sizeof(dir), "%s/vmcrypt", runtime);
	else
		n = snprintf(dir, sizeof(dir), "/tmp/vmcrypt-%u", (unsigned)geteuid());
	if (n < 0 || (size_t)n >= sizeof(dir))
		return -ENAMETOOLONG;
	n = snprintf(buf, len, "%s/%s.sock", dir, name);
	if (n < 0 || (size_t)n >= len || (size_t)n >= SUN_PATH_MAX)
		return -ENAMETOOLONG;
	return private_dir(dir, create);
}
