/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A growable text buffer for the audit and scan reports, with JSON string quoting. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/textbuf.h"

static bool grow(struct textbuf *b, size_t extra)
{
	size_t need, cap;
	char *s;

	if (b->oom)
		return false;
	if (extra > SIZE_MAX - b->len - 1) {
		b->oom = true;
		return false;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	s = realloc(b->s, cap);
	if (!s) {
		b->oom = true;
		return false;
	}
	b->s = s;
	b->cap = cap;
	return true;
}

void tb_printf(struct textbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (!grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void tb_json_str(struct textbuf *b, const char *s)
{
	const unsigned char *p;

	if (!s) {
		tb_printf(b, "null");
		return;
	}
	tb_printf(b, "\"");
	for (p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			tb_printf(b, "\\\"");
			break;
		case '\\':
			tb_printf(b, "\\\\");
			break;
		case '\n':
			tb_printf(b, "\\n");
			break;
		case '\t':
			tb_printf(b, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				tb_printf(b, "\\u%04x", *p);
			else
				tb_printf(b, "%c", *p);
		}
	}
	tb_printf(b, "\"");
}

int tb_steal(struct textbuf *b, char **ret_text)
{
	if (b->oom || !grow(b, 0)) {
		tb_clear(b);
		return -ENOMEM;
	}
	b->s[b->len] = '\0';
	*ret_text = b->s;
	b->s = NULL;
	b->len = b->cap = 0;
	return 0;
}

void tb_clear(struct textbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}
