/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A growable text buffer for the audit and scan reports, with JSON string quoting. */
#ifndef VMC_BASE_TEXTBUF_H
#define VMC_BASE_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

struct textbuf {
	char *s;
	size_t len, cap;
	bool oom; /* an append failed: the text is incomplete */
};

/* Appends formatted text. On allocation failure sets oom and appends nothing more. */
void tb_printf(struct textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes, escapes; NULL becomes null). */
void tb_json_str(struct textbuf *b, const char *s);
/*
 * Hands the text over (malloc()ed, NUL-terminated) and resets b. Returns
 * -ENOMEM when an append failed (the text is then freed).
 */
int tb_steal(struct textbuf *b, char **ret_text);
/* Frees the text; NULL-safe on an empty buffer. */
void tb_clear(struct textbuf *b);

#endif
