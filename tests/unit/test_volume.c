/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plaintext read/write at arbitrary offsets and lengths against a shadow copy, every sector size.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "vmcrypt.h"

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

int main(void)
{
	run(2, 512, NULL, 0);
	run(2, 1024, NULL, 256);
	run(2, 2048, "aes-cbc-essiv:sha256", 256);
	run(2, 4096, NULL, 0);
	run(1, 512, "aes-xts-plain64", 256);
	run(1, 512, "aes-cbc-plain", 128);
	return 0;
}
