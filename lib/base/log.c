/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The library's log sink: messages go to the callback the caller installed, nowhere else. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

static vmc_log_fn *log_sink;
static void *log_userdata;
static bool log_debug_on;
static _Thread_local unsigned log_muted;

void log_mute(void)
{
	log_muted++;
}

void log_unmute(void)
{
	if (log_muted)
		log_muted--;
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

void log_write(enum vmc_log_level level, const char *fmt, ...)
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
