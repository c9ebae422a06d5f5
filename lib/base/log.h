/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Library logging: messages go to the callback the caller installed (vmc_set_log), nowhere else. */
#ifndef VMC_BASE_LOG_H
#define VMC_BASE_LOG_H

#include "vmcrypt.h"

/* Formats a message and hands it to the installed sink (if any, and unless muted). */
void log_write(enum vmc_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_write(VMC_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_write(VMC_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(VMC_LOG_WARN, __VA_ARGS__)
#define log_err(...)   log_write(VMC_LOG_ERROR, __VA_ARGS__)

/*
 * Suppresses this thread's log messages while probing something whose failure
 * is expected; calls nest, each log_mute() undone by one log_unmute().
 */
void log_mute(void);
void log_unmute(void);

#endif
