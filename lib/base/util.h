/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ground floor: big-endian fields, overflow-checked arithmetic, small helpers. */
#ifndef VMC_BASE_UTIL_H
#define VMC_BASE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t load_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t load_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t load_be64(const uint8_t *p)
{
	return ((uint64_t)load_be32(p) << 32) | load_be32(p + 4);
}

static inline void store_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void store_be64(uint8_t *p, uint64_t v)
{
	store_be32(p, (uint32_t)(v >> 32));
	store_be32(p + 4, (uint32_t)v);
}

/* Overflow-checked a + b and a * b: false on overflow. */
static inline bool add_u64(uint64_t a, uint64_t b, uint64_t *ret)
{
	return !__builtin_add_overflow(a, b, ret);
}

static inline bool mul_u64(uint64_t a, uint64_t b, uint64_t *ret)
{
	return !__builtin_mul_overflow(a, b, ret);
}

static inline uint64_t round_up_u64(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

static inline bool is_power_of_2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Copies a fixed-size, possibly unterminated on-disk string into dst (always terminated). */
static inline void copy_fixed_str(char *dst, size_t dst_len, const uint8_t *src, size_t src_len)
{
	size_t n = strnlen((const char *)src, src_len);
	if (n >= dst_len)
		n = dst_len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Number of online CPUs (at least 1). */
unsigned cpu_count(void);

#endif
