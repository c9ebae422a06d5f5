/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Secret hygiene, checked from inside: a program that creates, writes, opens,
 * unlocks and reads images (LUKS2 aes-xts-plain64 and LUKS1
 * aes-cbc-essiv:sha256, multi-threaded pipelines) and searches its own memory
 * (every readable mapping: heap, stacks of all threads, anonymous mappings,
 * data segments) for the passphrase, the volume key, its halves, the ESSIV
 * key, and all their AES schedules in both memory layouts.
 *
 *  - While an image is unlocked, every copy found must lie in a mapping that
 *    is locked and excluded from core dumps (VmFlags "lo" and "dd"), and the
 *    key and a schedule of each AES key must be found (the search works).
 *  - After the images are freed, nothing may be found anywhere.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/backend.h"
#include "crypto/osslmem.h"
#include "tests/check.h"
#include "tests/secrets/memscan.h"
#include "vmcrypt.h"

#define DATA_SIZE (16u << 20)

static void logger(enum vmc_log_level level, const char *msg, void *userdata)
{
	(void)userdata;
	if (level >= VMC_LOG_WARN)
		fprintf(stderr, "vmcrypt: %s\n", msg);
}

/* Hits of patterns whose name starts with prefix (and contains what, if not NULL). */
static unsigned hits_ok(const struct memscan *s, const char *prefix, const char *what)
{
	unsigned n = 0;

	for (size_t i = 0; i < s->n; i++)
		if (strncmp(s->p[i].name, prefix, strlen(prefix)) == 0 &&
		    (!what || strstr(s->p[i].name + strlen(prefix), what)))
			n += s->p[i].hits_ok;
	return n;
}

static void scenario(const char *dir, int version, const char *cipher, uint32_t key_bits,
		     const uint8_t *pass, size_t pass_len, struct memscan *s)
{
	struct vmc_format_params fp = {
	    .luks_version = version,
	    .cipher = cipher,
	    .key_bits = key_bits,
	    .pbkdf = "pbkdf2",
	    .force_iterations = 1000,
	    .data_size = DATA_SIZE,
	};
	struct vmc_open_params op = {.read_only = true};
	struct vmc_image *img = NULL;
	uint8_t *vk = NULL, *data = NULL;
	char path[512], tag[64];
	size_t vk_len = 0;
	unsigned bad;
	int fd, slot = -1;

	snprintf(path, sizeof(path), "%s/luks%d.img", dir, version);
	CHECK_OK(vmc_image_create(path, &fp, pass, pass_len, false, &img));
	data = malloc(DATA_SIZE);
	CHECK(data != NULL);
	for (size_t i = 0; i < DATA_SIZE; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);
	CHECK_OK(vmc_image_write(img, data, DATA_SIZE, 0));
	CHECK_OK(vmc_image_flush(img));

	/* The patterns: the volume key (masked; the copy is freed at once). */
	CHECK_OK(vmc_image_volume_key(img, &vk, &vk_len));
	snprintf(tag, sizeof(tag), "LUKS%d volume key", version);
	memscan_add_key(s, tag, vk, vk_len);
	if (strstr(cipher, "essiv:sha256")) {
		uint8_t *salt = secmem_alloc(32);
		CHECK(salt != NULL);
		CHECK_OK(crypto_hash("sha256", vk, vk_len, salt));
		snprintf(tag, sizeof(tag), "LUKS%d ESSIV key", version);
		memscan_add_key(s, tag, salt, 32);
		secmem_free(salt);
	}
	vmc_secret_free(vk);
	vmc_image_free(img);

	/* Open again, unlock, read everything through the threaded pipeline and directly. */
	CHECK_OK(vmc_image_open(path, &op, &img));
	CHECK_OK(vmc_image_unlock(img, pass, pass_len, -1, &slot));
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_OK(vmc_image_copy_out(img, fd, false, NULL, NULL));
	close(fd);
	memset(data, 0, DATA_SIZE);
	CHECK_OK(vmc_image_read(img, data, DATA_SIZE, 0));
	CHECK(data[12345] == (uint8_t)(12345u * 2654435761u >> 13));

	printf("LUKS%d %s, unlocked: every copy must be in locked, non-dumpable memory\n", version,
	       cipher);
	bad = memscan_run(s, true);
	snprintf(tag, sizeof(tag), "LUKS%d volume key", version);
	CHECK(hits_ok(s, tag, NULL) > 0);
	if (strstr(cipher, "xts")) {
		snprintf(tag, sizeof(tag), "LUKS%d volume key half 1 ", version);
		CHECK(hits_ok(s, tag, "schedule") > 0);
		snprintf(tag, sizeof(tag), "LUKS%d volume key half 2 ", version);
		CHECK(hits_ok(s, tag, "schedule") > 0);
	} else {
		snprintf(tag, sizeof(tag), "LUKS%d volume key ", version);
		CHECK(hits_ok(s, tag, "schedule") > 0);
		snprintf(tag, sizeof(tag), "LUKS%d ESSIV key ", version);
		CHECK(hits_ok(s, tag, "schedule") > 0);
	}
	CHECK(hits_ok(s, "passphrase", NULL) > 0);
	CHECK_EQ(bad, 0);
	vmc_image_free(img);
	free(data);
	unlink(path);
}

int main(void)
{
	struct memscan s = {0};
	struct osslmem_stats st;
	char dir[] = "/tmp/vmcrypt-heapscan.XXXXXX";
	uint8_t *pass = NULL;
	size_t pass_len = 24;
	unsigned bad, total = 0;
	int rnd;

#if defined(__SANITIZE_ADDRESS__)
	printf("SKIP: ASan's allocator keeps freed chunks in quarantine; run without it\n");
	return CHECK_SKIP;
#endif
	/* Statically linked: the constructor may not be in the link, so install by hand first. */
	CHECK_OK(osslmem_install());
	vmc_set_log(logger, NULL);
	CHECK(mkdtemp(dir) != NULL);

	/* A random passphrase: a literal would sit in the binary's read-only data. */
	pass = vmc_secret_alloc(pass_len);
	rnd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	CHECK(pass && rnd >= 0 && read(rnd, pass, pass_len) == (ssize_t)pass_len);
	close(rnd);
	for (size_t i = 0; i < pass_len; i++)
		pass[i] = (uint8_t)('a' + pass[i] % 26);
	memscan_add(&s, "passphrase", pass, pass_len);

	scenario(dir, 2, "aes-xts-plain64", 512, pass, pass_len, &s);
	scenario(dir, 1, "aes-cbc-essiv:sha256", 256, pass, pass_len, &s);
	vmc_secret_free(pass);
	rmdir(dir);

	osslmem_get_stats(&st);
	printf("OpenSSL arena: %zu allocations, %zu bytes in use, %zu bytes mapped, %s\n",
	       st.allocations, st.in_use, st.mapped,
	       st.all_locked ? "all locked" : "NOT all locked");
	CHECK(st.allocations > 0);

	printf("after free: no copy may remain anywhere (%zu patterns)\n", s.n);
	bad = memscan_run(&s, true);
	for (size_t i = 0; i < s.n; i++)
		total += s.p[i].hits;
	CHECK_EQ(bad, 0);
	CHECK_EQ(total, 0);
	printf("no copy of the passphrase, the keys or their schedules remains\n");
	memscan_free(&s);
	return 0;
}
