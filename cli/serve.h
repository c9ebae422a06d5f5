/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs that hand an image to a VM (serve, mount, qemu-args, libvirt-xml). */
#ifndef VMCRYPT_CLI_SERVE_H
#define VMCRYPT_CLI_SERVE_H

#include "options.h"

/* Rows of the verb table in verbs.c; contracts as in common.h. */
int cmd_serve(const struct cli_opts *o, char **args, int nargs);
int cmd_mount(const struct cli_opts *o, char **args, int nargs);
int cmd_qemu_args(const struct cli_opts *o, char **args, int nargs);
int cmd_libvirt_xml(const struct cli_opts *o, char **args, int nargs);

#endif
