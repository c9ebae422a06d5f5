/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verb table in verbs.c: finding a verb's row, and the help printed from the rows. */
#ifndef VMCRYPT_CLI_VERBS_H
#define VMCRYPT_CLI_VERBS_H

#include <stdio.h>

#include "options.h"

/*
 * The row named by words[0] or, for a verb with sub-verbs (rows such as "header
 * backup"), by words[0] and words[1]; *ret_used says how many words named it.
 * nwords is at least 1. NULL when no row has that name.
 */
const struct verb *verb_lookup(char **words, int nwords, int *ret_used);

/* No row is named word: prints a usage error, listing its sub-verbs if it has some; -EINVAL. */
int verb_unknown(const char *word);

/* Prints `vmcrypt help`: the synopsis, one line per row, the exit statuses. */
void verbs_usage(FILE *f);

/* Prints `vmcrypt VERB --help` of row v: usage, description, arguments, options. */
void verb_help(FILE *f, const struct verb *v);

#endif
