/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ground floor's few out-of-line helpers. */
#include <unistd.h>

#include "base/util.h"

unsigned cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}
