/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt: main, which finds the verb's row, parses its options and arguments, and runs it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "log.h"
#include "options.h"
#include "verbs.h"
#include "vmcrypt.h"

#ifndef VMCRYPT_VERSION
#define VMCRYPT_VERSION "unknown"
#endif

/* Parses the verb's options and arguments, then runs it. */
static int run_verb(const struct verb *v, int argc, char **argv)
{
	struct cli_opts o;
	int first = 0, nargs, r;

	log_set_verb(v->name);
	r = opts_parse(v, argc, argv, &o, &first);
	if (r < 0)
		return r;
	if (o.help) {
		verb_help(stdout, v);
		return 0;
	}
	if (o.version) {
		puts("vmcrypt " VMCRYPT_VERSION);
		return 0;
	}
	nargs = argc - first;
	if (nargs < v->min_args)
		return usage_error("missing %s", v->args[nargs].name);
	if (nargs > v->max_args)
		return usage_error("unexpected argument '%s'", argv[first + v->max_args]);
	log_set_verbose(o.verbose || o.debug);
	vmc_set_debug(o.debug);
	r = v->run(&o, argv + first, nargs);
	/* Every failure prints one line: the library's, the CLI's, or this one. */
	if (r < 0 && errors_reported() == 0)
		fail(r, "%s", r == -ECANCELED ? "cancelled" : vmc_strerror(r));
	return r;
}

int main(int argc, char **argv)
{
	const struct verb *v;
	int used = 0, r;

	log_install();
	/* Before any secret is read: no core dump, no ptrace by other users. */
	r = vmc_harden_process();
	if (r < 0)
		return exit_status(fail(r, "cannot disable core dumps: %s", vmc_strerror(r)));
	if (argc < 2) {
		verbs_usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		puts("vmcrypt " VMCRYPT_VERSION);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--help") == 0) {
		verbs_usage(stdout);
		return EXIT_OK;
	}
	v = verb_lookup(argv + 1, argc - 1, &used);
	if (!v)
		return exit_status(verb_unknown(argv[1]));
	r = run_verb(v, argc - used, argv + used);
	if (fflush(stdout) != 0 && r == 0)
		r = fail(-errno, "standard output: %s", strerror(errno));
	return exit_status(r);
}
