/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NBD route to a VM, shared by serve and qemu-args/libvirt-xml: socket and configuration. */
#ifndef VMCRYPT_CLI_ROUTE_H
#define VMCRYPT_CLI_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/un.h>

/* Bytes in a Unix socket address's path, its terminating NUL included. */
#define SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

/* Where an NBD export listens: a Unix socket, or a TCP port on 127.0.0.1. */
struct nbd_endpoint {
	const char *socket; /* NULL: TCP */
	unsigned port;
	bool read_only;
};

/*
 * The Unix socket `vmcrypt serve IMAGE` uses without --socket:
 * $XDG_RUNTIME_DIR/vmcrypt/NAME.sock, else /tmp/vmcrypt-UID/NAME.sock, NAME
 * being IMAGE's file name. With create, the directory is made (mode 0700) or
 * checked to be a directory of ours that only we can enter. Returns 0,
 * -ENAMETOOLONG (the path does not fit a socket address) or an error already
 * printed.
 */
int serve_socket_default(const char *image, bool create, char *buf, size_t len);

/*
 * The Unix socket of the systemd user units for IMAGE (absolute, normalised), the
 * one vmcrypt-serve@.socket listens on: $XDG_RUNTIME_DIR/vmcrypt/ESCAPED.sock
 * (systemd's %t/vmcrypt/%i.sock; /run/user/UID without XDG_RUNTIME_DIR), ESCAPED
 * being `systemd-escape --path IMAGE`. create and the return values as above;
 * -EINVAL for a path that is not absolute and normalised.
 */
int serve_socket_systemd(const char *image, bool create, char *buf, size_t len);

/*
 * Writes `systemd-escape --path PATH` of an absolute, normalised PATH (as realpath
 * returns) to buf: the instance name of vmcrypt-serve@.socket. Returns 0, -EINVAL
 * (not absolute or normalised) or -ENAMETOOLONG (buf too small).
 */
int systemd_escape_path(const char *path, char *buf, size_t len);

/* Prints the QEMU -blockdev and -drive arguments that attach the export. */
void nbd_print_qemu(FILE *f, const struct nbd_endpoint *ep);
/* Prints a libvirt <disk type='network'> element for the export. */
void nbd_print_libvirt(FILE *f, const struct nbd_endpoint *ep);

/* Writes s with every ',' doubled, as QEMU's option syntax wants. */
void fput_qemu(FILE *f, const char *s);
/* Writes s escaped for an XML attribute or text. */
void fput_xml(FILE *f, const char *s);

#endif
