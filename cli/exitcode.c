/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Exit statuses of vmcrypt: the one mapping from errors to statuses (see vmcrypt(1)). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "exitcode.h"
#include "vmcrypt.h"

static const struct {
	int err;
	int status;
} exit_map[] = {
    {-EINVAL, EXIT_USAGE},	  {VMC_EPASS, EXIT_PASS},     {-ENOMEM, EXIT_NOMEM},
    {VMC_ENOTLUKS, EXIT_NOTLUKS}, {-ENOENT, EXIT_NOTLUKS},    {VMC_EBUSY, EXIT_BUSY},
    {VMC_ECORRUPT, EXIT_CORRUPT}, {VMC_ENOTSUP, EXIT_NOTSUP}, {-ECANCELED, EXIT_CANCEL},
};

int exit_status(int err)
{
	size_t i;

	if (err > 0)
		return err;
	if (err == 0)
		return EXIT_OK;
	for (i = 0; i < sizeof(exit_map) / sizeof(exit_map[0]); i++)
		if (exit_map[i].err == err)
			return exit_map[i].status;
	/* -EIO, -ENOSPC, -EACCES, -EROFS, -EFBIG and every other errno. */
	return EXIT_IO;
}

static const char *const status_help[] = {
    [EXIT_OK] = "success",
    [EXIT_USAGE] = "bad arguments or usage",
    [EXIT_PASS] = "wrong passphrase (no key slot opens with it)",
    [EXIT_NOMEM] = "out of memory",
    [EXIT_NOTLUKS] = "not a LUKS image, or no such file (or key slot)",
    [EXIT_BUSY] = "image busy (locked by another writer)",
    [EXIT_CORRUPT] = "corrupted LUKS header",
    [EXIT_NOTSUP] = "unsupported cipher or feature",
    [EXIT_IO] = "I/O error (also no space, permission denied, read-only)",
    [EXIT_CANCEL] = "cancelled (declined confirmation, Ctrl-C)",
    [EXIT_AUDIT_FAIL] = "audit: at least one check failed",
    [EXIT_KEY_FOUND] = "scan: key material found",
};

void exit_status_print(FILE *f)
{
	size_t i;

	fputs("Exit status:\n", f);
	for (i = 0; i < sizeof(status_help) / sizeof(status_help[0]); i++)
		fprintf(f, "  %zu  %s\n", i, status_help[i]);
}
