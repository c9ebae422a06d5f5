/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzzes the container probe: any bytes, any length, give a known container or none. */
#include <stdlib.h>
#include <string.h>

#include "format/container.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = size < CONTAINER_PROBE_LEN ? size : CONTAINER_PROBE_LEN;
	/* A copy of exactly n bytes, so that a read past the probe's window is caught. */
	uint8_t *buf = malloc(n ? n : 1);
	const struct container *c;

	if (!buf)
		return 0;
	memcpy(buf, data, n);
	c = container_probe(buf, n);
	if (c && (!c->name || !c->what || !c->fix || !*c->name))
		abort();
	free(buf);
	return 0;
}
