/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Exit statuses of vmcrypt: the one mapping from errors to statuses. */
#ifndef VMCRYPT_CLI_EXITCODE_H
#define VMCRYPT_CLI_EXITCODE_H

#include <stdio.h>

enum exit_status {
	EXIT_OK = 0,
	EXIT_USAGE = 1,
	EXIT_PASS = 2,
	EXIT_NOMEM = 3,
	EXIT_NOTLUKS = 4,
	EXIT_BUSY = 5,
	EXIT_CORRUPT = 6,
	EXIT_NOTSUP = 7,
	EXIT_IO = 8,
	EXIT_CANCEL = 9,
	EXIT_AUDIT_FAIL = 10, /* vmcrypt audit: at least one check FAILed */
	EXIT_KEY_FOUND = 11,  /* vmcrypt scan: key material found */
};

/*
 * Maps 0 or a negative errno (library or CLI) to the documented exit status;
 * a positive value is a status a verb chose (EXIT_AUDIT_FAIL, EXIT_KEY_FOUND).
 */
int exit_status(int err);
/* Prints the table of exit statuses (for `vmcrypt help`). */
void exit_status_print(FILE *f);

#endif
