/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plaintext read/write at arbitrary offsets and lengths against a shadow copy, every sector size.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "io/storage.h"
#include "vmcrypt.h"
#include "volume/volume.h"

#define SIZE (3u << 20)

static void run(int version, uint32_t sector_size, const char *cipher, unsigned key_bits)
{
	char path[] = "/tmp/vmc-test-volume-XXXXXX";
	struct vmc_format_params p = {
	    .luks_version = version,
	    .cipher = cipher,
	    .key_bits = key_bits,
	    .pbkdf = "pbkdf2",
	    .force_iterations = 1000,
	    .sector_size = sector_size,
	    .data_size = SIZE,
	};
	struct vmc_open_params op = {.read_only = false};
	struct vmc_image *img = NULL;
	uint8_t *shadow = calloc(1, SIZE), *buf = malloc(SIZE);
	int fd = mkstemp(path);

	CHECK(fd >= 0 && shadow && buf);
	close(fd);
	CHECK_OK(vmc_image_create(path, &p, "pw", 2, true, &img));
	/* A fresh image's plaintext is whatever its zero ciphertext decrypts to: define it. */
	CHECK_OK(vmc_image_write(img, shadow, SIZE, 0));
	srand(sector_size + (unsigned)version);
	for (int i = 0; i < 300; i++) {
		uint64_t off = (uint64_t)rand() % SIZE;
		size_t len = (size_t)rand() % (i % 10 == 0 ? SIZE : 20000);
		if (len > SIZE - off)
			len = SIZE - off;
		for (size_t k = 0; k < len; k++)
			buf[k] = (uint8_t)rand();
		CHECK_OK(vmc_image_write(img, buf, len, off));
		memcpy(shadow + off, buf, len);
		off = (uint64_t)rand() % SIZE;
		len = (size_t)rand() % 70000;
		if (len > SIZE - off)
			len = SIZE - off;
		CHECK_OK(vmc_image_read(img, buf, len, off));
		CHECK_MEM(buf, shadow + off, len);
	}
	CHECK(vmc_image_read(img, buf, 2, SIZE - 1) == -EINVAL);
	CHECK_OK(vmc_image_flush(img));
	vmc_image_free(img);

	/* Reopen: everything reads back through a fresh unlock. */
	CHECK_OK(vmc_image_open(path, &op, &img));
	CHECK(vmc_image_unlock(img, "wrong", 5, -1, NULL) == VMC_EPASS);
	CHECK_OK(vmc_image_unlock(img, "pw", 2, -1, NULL));
	CHECK_EQ(vmc_image_size(img), SIZE);
	CHECK_OK(vmc_image_read(img, buf, SIZE, 0));
	CHECK_MEM(buf, shadow, SIZE);
	vmc_image_free(img);
	unlink(path);
	free(shadow);
	free(buf);
}

/*
 * Three stretches as a re-encryption leaves them: new key, plaintext on disk,
 * old key with an IV tweak. Each must read back through a one-stretch volume
 * with the same parameters, i.e. the stretches are independent and laid end to end.
 */
static void extents(void)
{
	char path[] = "/tmp/vmc-test-extents-XXXXXX";
	uint8_t ka[64], kb[32], *plain = malloc(6 << 20), *back = malloc(6 << 20);
	struct volume_spec specs[3] = {
	    {.offset = 1 << 20,
	     .size = 2 << 20,
	     .cipher = "aes-xts-plain64",
	     .sector_size = 4096,
	     .key = ka,
	     .key_len = 64},
	    {.offset = 3 << 20, .size = 1 << 20},
	    {.offset = 4 << 20,
	     .dynamic = true,
	     .iv_tweak = 6144,
	     .cipher = "aes-cbc-essiv:sha256",
	     .sector_size = 512,
	     .key = kb,
	     .key_len = 32},
	};
	struct storage *st = NULL;
	struct volume *vol = NULL, *one = NULL;
	int fd = mkstemp(path);

	CHECK(fd >= 0 && plain && back);
	close(fd);
	for (size_t i = 0; i < sizeof(ka); i++)
		ka[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < sizeof(kb); i++)
		kb[i] = (uint8_t)(i * 13 + 5);
	for (size_t i = 0; i < (6u << 20); i++)
		plain[i] = (uint8_t)rand();
	CHECK_OK(storage_open(path, 0, &st));
	CHECK_OK(storage_truncate(st, 7 << 20));
	CHECK_OK(volume_new(st, specs, 3, 7 << 20, &vol));
	CHECK_EQ(volume_size(vol), 6 << 20);
	CHECK_OK(volume_write(vol, plain, 6 << 20, 0));
	CHECK_OK(volume_read(vol, back, 6 << 20, 0));
	CHECK_MEM(back, plain, 6 << 20);
	/* Unaligned access across both boundaries. */
	CHECK_OK(volume_read(vol, back, (2 << 20) + 1000, (1 << 20) + 77));
	CHECK_MEM(back, plain + (1 << 20) + 77, (2 << 20) + 1000);
	/* The linear stretch holds plaintext on disk. */
	CHECK_OK(storage_read(st, back, 1 << 20, 3 << 20));
	CHECK_MEM(back, plain + (2 << 20), 1 << 20);
	/* Each crypt stretch alone. */
	for (int i = 0; i < 3; i += 2) {
		uint64_t at = i == 0 ? 0 : 3 << 20, len = i == 0 ? 2 << 20 : 3 << 20;
		CHECK_OK(volume_new(st, &specs[i], 1, 7 << 20, &one));
		CHECK_OK(volume_read(one, back, len, 0));
		CHECK_MEM(back, plain + at, len);
		volume_free(one);
	}
	volume_free(vol);
	storage_free(st);
	unlink(path);
	free(plain);
	free(back);
}

int main(void)
{
	extents();
	run(2, 512, NULL, 0);
	run(2, 1024, NULL, 256);
	run(2, 2048, "aes-cbc-essiv:sha256", 256);
	run(2, 4096, NULL, 0);
	run(1, 512, "aes-xts-plain64", 256);
	run(1, 512, "aes-cbc-plain", 128);
	return 0;
}
