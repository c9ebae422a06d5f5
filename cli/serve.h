/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs that hand an image to a VM (serve, mount, qemu-args, libvirt-xml) and their output. */
#ifndef VMCRYPT_CLI_SERVE_H
#define VMCRYPT_CLI_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "options.h"

/* Rows of the verb table in vmcrypt.c; contracts as in common.h. */
int cmd_serve(const struct cli_opts *o, char **args, int nargs);
int cmd_mount(const struct cli_opts *o, char **args, int nargs);
int cmd_qemu_args(const struct cli_opts *o, char **args, int nargs);
int cmd_libvirt_xml(const struct cli_opts *o, char **args, int nargs);

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

/* Prints the QEMU -blockdev and -drive arguments that attach the export. */
void nbd_print_qemu(FILE *f, const struct nbd_endpoint *ep);
/* Prints a libvirt <disk type='network'> element for the export. */
void nbd_print_libvirt(FILE *f, const struct nbd_endpoint *ep);

/* Writes s with every ',' doubled, as QEMU's option syntax wants. */
void fput_qemu(FILE *f, const char *s);
/* Writes s escaped for an XML attribute or text. */
void fput_xml(FILE *f, const char *s);

#endif
