/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Assertion macros for the C test programs: print file, line and expression, then fail. */
#ifndef VMC_TESTS_CHECK_H
#define VMC_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_SKIP 77

#define CHECK(expr)                                                                              \
	do {                                                                                     \
		if (!(expr)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
			exit(1);                                                                 \
		}                                                                                \
	} while (0)

/* An int-returning call must give 0 (or the expected value). */
#define CHECK_OK(expr)                                                                          \
	do {                                                                                    \
		long long check_r_ = (long long)(expr);                                         \
		if (check_r_ != 0) {                                                            \
			fprintf(stderr, "%s:%d: %s returned %lld\n", __FILE__, __LINE__, #expr, \
				check_r_);                                                      \
			exit(1);                                                                \
		}                                                                               \
	} while (0)

#define CHECK_EQ(a, b)                                                                      \
	do {                                                                                \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);             \
		if (check_a_ != check_b_) {                                                 \
			fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, \
				__LINE__, #a, #b, check_a_, check_b_);                      \
			exit(1);                                                            \
		}                                                                           \
	} while (0)

#define CHECK_MEM(a, b, len)                                                              \
	do {                                                                              \
		if (memcmp((a), (b), (len)) != 0) {                                       \
			fprintf(stderr, "%s:%d: memory %s != %s (%zu bytes)\n", __FILE__, \
				__LINE__, #a, #b, (size_t)(len));                         \
			exit(1);                                                          \
		}                                                                         \
	} while (0)

/* Parses a hex string into buf (test vectors); returns the byte count. */
static inline size_t check_unhex(const char *hex, unsigned char *buf, size_t cap)
{
	size_t n = 0;
	while (hex[0] && hex[1] && n < cap) {
		unsigned v;
		if (sscanf(hex, "%2x", &v) != 1)
			break;
		buf[n++] = (unsigned char)v;
		hex += 2;
	}
	return n;
}

#endif
