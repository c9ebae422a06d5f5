/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes the key scanner's engines (lib/scan) over hostile "memory dumps": the
 * known-key search for a fixed volume key, and the any-schedule search (in the
 * manner of aeskeyfind) with 0 to 3 tolerated bit errors, picked by the first
 * byte. Hits are collected and normalised as the file driver does.
 */
#include <stdlib.h>
#include <string.h>

#include "scan/scan_internal.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_KEY_LEN 64

static int collect(void *ctx, const struct scan_hit *h)
{
	return scan_hits_add(ctx, h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct scan_known *known;
	static struct scan_any *any[4];
	struct scan_hits hits = {0};
	unsigned errors;

	if (size == 0)
		return 0;
	if (!known) {
		/* The seeds hold this key's schedules (make-corpus.sh). */
		uint8_t key[FUZZ_KEY_LEN];
		for (size_t i = 0; i < sizeof(key); i++)
			key[i] = (uint8_t)(i * 7 + 3);
		if (scan_known_new(key, sizeof(key), &known) < 0)
			abort();
	}
	errors = data[0] % 4;
	if (!any[errors] && scan_any_new(errors, &any[errors]) < 0)
		abort();
	(void)scan_known_buf(known, data + 1, size - 1, size - 1, 4096, 0, collect, &hits);
	(void)scan_any_buf(any[errors], data + 1, size - 1, size - 1, 4096, 1, collect, &hits);
	scan_hits_normalize(&hits);
	scan_hits_clear(&hits);
	return 0;
}
