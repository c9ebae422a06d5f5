/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the harnesses: memory-backed files and LUKS2 checksum repair. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crypto/backend.h"
#include "format/meta.h"
#include "tests/fuzz/fuzz.h"
#include "base/util.h"

#define CSUM_OFF     448
#define CSUM_LEN     64
#define CSUM_ALG_OFF 72

const char *fuzz_memfile(int slot, const uint8_t *data, size_t size)
{
	return fuzz_memfile_sized(slot, data, size, size);
}

const char *fuzz_memfile_sized(int slot, const uint8_t *data, size_t size, size_t file_size)
{
	static int fds[2] = {-1, -1};
	static char paths[2][32];

	if (slot < 0 || slot > 1)
		return NULL;
	if (fds[slot] < 0) {
		fds[slot] = memfd_create(slot ? "fuzz-1" : "fuzz-0", MFD_CLOEXEC);
		if (fds[slot] < 0)
			return NULL;
		snprintf(paths[slot], sizeof(paths[slot]), "/proc/self/fd/%d", fds[slot]);
	}
	if (file_size < size)
		file_size = size;
	if (ftruncate(fds[slot], 0) < 0 || ftruncate(fds[slot], (off_t)file_size) < 0)
		return NULL;
	for (size_t done = 0; done < size;) {
		ssize_t n = pwrite(fds[slot], data + done, size - done, (off_t)done);
		if (n <= 0)
			return NULL;
		done += (size_t)n;
	}
	return paths[slot];
}

void fuzz_fix_luks2_checksum(uint8_t *buf, size_t len, size_t off)
{
	uint8_t csum[CSUM_LEN];
	char alg[33];
	uint64_t hdr_size;
	int hlen;

	if (off > len || len - off < LUKS2_HDR_BIN_LEN)
		return;
	hdr_size = load_be64(buf + off + 8);
	if (hdr_size < LUKS2_HDR_MIN || hdr_size > LUKS2_HDR_MAX || hdr_size > len - off)
		return;
	copy_fixed_str(alg, sizeof(alg), buf + off + CSUM_ALG_OFF, 32);
	hlen = crypto_hash_len(alg);
	if (hlen <= 0 || hlen > CSUM_LEN)
		return;
	memset(buf + off + CSUM_OFF, 0, CSUM_LEN);
	if (crypto_hash(alg, buf + off, (size_t)hdr_size, csum) == 0)
		memcpy(buf + off + CSUM_OFF, csum, (size_t)hlen);
}
