/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libgcrypt's own throughput for one cipher, on one core: what bench/ciphers.sh sets
 * vmcrypt's decrypt figure against (Debian does not package libgcrypt's bench-slope).
 * Decrypts a 16 MiB buffer in 4096-byte units, one gcry_cipher_setiv() per unit (the
 * work dm-crypt and vmcrypt do), for about a second of CPU time (so that a busy machine
 * does not lower the figure), and prints MB per CPU second.
 *   gcry-speed ALGO MODE KEYBYTES      e.g. gcry-speed SERPENT256 xts 64
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gcrypt.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const size_t len = 16u << 20, unit = 4096;
	gcry_cipher_hd_t hd;
	unsigned char key[64], iv[16];
	unsigned char *buf;
	int algo, mode;
	size_t klen, done = 0;
	double start, t;

	if (argc != 4) {
		fprintf(stderr, "usage: gcry-speed ALGO xts|cbc|ecb KEYBYTES\n");
		return 2;
	}
	gcry_check_version(NULL);
	gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
	gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	algo = gcry_cipher_map_name(argv[1]);
	mode = strcmp(argv[2], "xts") == 0   ? GCRY_CIPHER_MODE_XTS
	       : strcmp(argv[2], "cbc") == 0 ? GCRY_CIPHER_MODE_CBC
					     : GCRY_CIPHER_MODE_ECB;
	klen = (size_t)atoi(argv[3]);
	if (algo == 0 || klen > sizeof(key)) {
		fprintf(stderr, "gcry-speed: unknown cipher %s or key size\n", argv[1]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i * 7 + 1);
	buf = malloc(len);
	if (buf == NULL || gcry_cipher_open(&hd, algo, mode, 0) != 0 ||
	    gcry_cipher_setkey(hd, key, klen) != 0) {
		fprintf(stderr, "gcry-speed: cannot set up %s %s with %zu bytes\n", argv[1],
			argv[2], klen);
		return 1;
	}
	memset(buf, 0x5a, len);
	start = now();
	do {
		for (size_t off = 0; off < len; off += unit) {
			memset(iv, 0, sizeof(iv));
			memcpy(iv, &off, sizeof(off));
			if (mode != GCRY_CIPHER_MODE_ECB)
				gcry_cipher_setiv(hd, iv, gcry_cipher_get_algo_blklen(algo));
			gcry_cipher_decrypt(hd, buf + off, unit, NULL, 0);
		}
		done += len;
		t = now() - start;
	} while (t < 1.0);
	printf("%.0f\n", (double)done / t / 1e6);
	gcry_cipher_close(hd);
	free(buf);
	return 0;
}
