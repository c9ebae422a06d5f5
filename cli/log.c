/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Messages on stderr: the library's log sink and the CLI's own one-line errors. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "log.h"
#include "vmcrypt.h"

static const char *verb_name;
static bool verbose_on;
static bool quiet_on;	      /* errors and warnings counted, not shown */
static char quiet_error[512]; /* the first error held back while quiet */
/* The library may log from its worker threads. */
static atomic_uint error_count;

static void log_sink(enum vmc_log_level level, const char *msg, void *userdata)
{
	(void)userdata;
	switch (level) {
	case VMC_LOG_DEBUG:
		/* The library emits these only after vmc_set_debug(true), i.e. --debug. */
		fprintf(stderr, "vmcrypt: debug: %s\n", msg);
		break;
	case VMC_LOG_INFO:
		if (verbose_on)
			fprintf(stderr, "vmcrypt: %s\n", msg);
		break;
	case VMC_LOG_WARN:
		if (!quiet_on)
			fprintf(stderr, "vmcrypt: warning: %s\n", msg);
		break;
	case VMC_LOG_ERROR:
		atomic_fetch_add(&error_count, 1);
		if (!quiet_on)
			fprintf(stderr, "vmcrypt: %s\n", msg);
		else if (!quiet_error[0])
			snprintf(quiet_error, sizeof(quiet_error), "%s", msg);
		break;
	}
}

void log_install(void)
{
	vmc_set_log(log_sink, NULL);
}

void log_set_verbose(bool verbose)
{
	verbose_on = verbose;
}

void log_set_quiet(bool quiet)
{
	quiet_on = quiet;
	if (quiet)
		quiet_error[0] = '\0';
}

const char *log_quiet_error(void)
{
	return quiet_error[0] ? quiet_error : NULL;
}

void log_set_verb(const char *verb)
{
	verb_name = verb;
}

__attribute__((format(printf, 1, 0))) static void vprint(const char *fmt, va_list ap)
{
	if (verb_name)
		fprintf(stderr, "vmcrypt %s: ", verb_name);
	else
		fputs("vmcrypt: ", stderr);
	vfprintf(stderr, fmt, ap);
}

int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	atomic_fetch_add(&error_count, 1);
	return err;
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	if (verb_name)
		fprintf(stderr, " (see vmcrypt %s --help)\n", verb_name);
	else
		fputs(" (see vmcrypt help)\n", stderr);
	atomic_fetch_add(&error_count, 1);
	return -EINVAL;
}

void warn(const char *fmt, ...)
{
	va_list ap;

	fputs("vmcrypt: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void verbose(const char *fmt, ...)
{
	va_list ap;

	if (!verbose_on)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

unsigned errors_reported(void)
{
	return atomic_load(&error_count);
}
