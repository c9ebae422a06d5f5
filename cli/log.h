/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Messages on stderr: the library's log sink and the CLI's own one-line errors. */
#ifndef VMCRYPT_CLI_LOG_H
#define VMCRYPT_CLI_LOG_H

#include <stdbool.h>

/* Installs the stderr log sink; info messages are shown only when verbose. */
void log_install(void);
void log_set_verbose(bool verbose);
/* Quiet: the library's errors and warnings are counted but not shown (is-luks without -v). */
void log_set_quiet(bool quiet);
/* The first library error held back since log_set_quiet(true), or NULL. */
const char *log_quiet_error(void);
/* The verb named in the CLI's own messages ("vmcrypt VERB: ..."); NULL for none. */
void log_set_verb(const char *verb);

/* Prints "vmcrypt VERB: <msg>" and returns err (a negative errno). */
int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "vmcrypt VERB: <msg> (see vmcrypt VERB --help)" and returns -EINVAL. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "vmcrypt: warning: <msg>". */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints msg (a result such as "Key slot 0 unlocked.") when verbose. */
void verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Number of error lines printed so far, by the library or the CLI. */
unsigned errors_reported(void);

#endif
