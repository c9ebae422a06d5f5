/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The library's log sink: messages go to the callback the caller installed, nowhere else. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static vmc_log_fn *log_sink;
static void *log_userdata;
static bool log_debug_on;
static _Thread_local bool log_muted;

void vmc_set_log_muted(bool muted)
{
	log_muted = muted;
}

VMC_API void vmc_set_log(vmc_log_fn *fn, void *userdata)
{
	log_sink = fn;
	log_userdata = userdata;
}

VMC_API void vmc_set_debug(bool on)
{
	log_debug_on = on;
}

void vmc_log(enum vmc_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!log_sink || log_muted || (level == VMC_LOG_DEBUG && !log_debug_on))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_sink(level, msg, log_userdata);
}

unsigned vmc_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

VMC_API const char *vmc_strerror(int err)
{
	switch (err) {
	case VMC_EPASS:
		return "no key available with this passphrase";
	case VMC_ENOTLUKS:
		return "not a LUKS image";
	case VMC_ECORRUPT:
		return "corrupted LUKS header";
	case VMC_ENOTSUP:
		return "not supported";
	case VMC_EBUSY:
		return "image is in use by another process";
	default:
		return strerror(err < 0 ? -err : err);
	}
}
