/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The storage interface on its file backend: whole-length I/O, windows, holes, sizes, locks. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "io/storage.h"
#include "io/storage_backend.h"
#include "vmcrypt.h"

#define MIB (1u << 20)

static char path[] = "/tmp/vmc-test-storage-XXXXXX";

static void quiet(enum vmc_log_level level, const char *msg, void *userdata)
{
	(void)level, (void)msg, (void)userdata;
}

/* Writes and reads back whole buffers; a read past the end is -ENODATA, not a short read. */
static void round_trip(void)
{
	struct storage *st = NULL;
	uint8_t *a = malloc(3 * MIB), *b = malloc(3 * MIB);
	uint64_t size = 0;

	CHECK(a && b);
	for (size_t i = 0; i < 3 * MIB; i++)
		a[i] = (uint8_t)(i * 7 + 3);
	CHECK_OK(storage_open(path, 0, &st));
	CHECK_OK(storage_write(st, a, 3 * MIB, 0));
	CHECK_OK(storage_sync(st));
	CHECK_OK(storage_size(st, &size));
	CHECK_EQ(size, 3 * MIB);
	CHECK_OK(storage_read(st, b, 3 * MIB, 0));
	CHECK_MEM(a, b, 3 * MIB);
	CHECK_EQ(storage_read(st, b, 2, 3 * MIB - 1), -ENODATA);
	CHECK_OK(storage_truncate(st, 5 * MIB));
	CHECK_OK(storage_size(st, &size));
	CHECK_EQ(size, 5 * MIB);
	CHECK(storage_is_regular(st) && !storage_read_only(st) && storage_fd(st) >= 0);
	storage_free(st);
	free(a);
	free(b);
}

/* A read-only handle refuses writes, size changes and holes. */
static void read_only(void)
{
	struct storage *st = NULL;
	uint8_t x = 1;

	CHECK_OK(storage_open(path, STORAGE_RDONLY, &st));
	CHECK(storage_read_only(st));
	CHECK_EQ(storage_write(st, &x, 1, 0), -EROFS);
	CHECK_EQ(storage_truncate(st, 1), -EROFS);
	CHECK_EQ(storage_punch(st, 0, 4096), -EROFS);
	storage_free(st);
}

/* A window is a partition: offsets relative to its base, nothing reachable outside it. */
static void window(void)
{
	struct storage *whole = NULL, *part = NULL;
	uint8_t in[4096], out[4096];
	uint64_t size = 0;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0xa5 ^ i);
	CHECK_OK(storage_open(path, 0, &whole));
	CHECK_OK(storage_open(path, 0, &part));
	CHECK_OK(storage_set_window(part, MIB, MIB));
	CHECK_OK(storage_size(part, &size));
	CHECK_EQ(size, MIB);
	CHECK_OK(storage_write(part, in, sizeof(in), 4096));
	CHECK_OK(storage_read(whole, out, sizeof(out), MIB + 4096));
	CHECK_MEM(in, out, sizeof(in));
	CHECK_EQ(storage_read(part, out, 2, MIB - 1), -ENODATA);
	CHECK_EQ(storage_write(part, in, 2, MIB - 1), -ENOSPC);
	CHECK_EQ(storage_truncate(part, 2 * MIB),
		 -EINVAL); /* a size the partition cannot hold: usage */
	CHECK_EQ(storage_set_window(part, UINT64_MAX - 1, 2), -EINVAL);
	storage_free(part);
	storage_free(whole);
}

/* A punched range is a hole in block status, with data on both sides; and reads zeros. */
static void holes(void)
{
	struct storage *st = NULL, *part = NULL;
	uint8_t buf[4096], zero[4096] = {0};
	uint64_t run = 0;
	bool data = false;

	CHECK_OK(storage_open(path, 0, &st));
	if (storage_punch(st, MIB, MIB) == -EOPNOTSUPP) {
		fprintf(stderr, "the file system cannot punch holes: block status not checked\n");
		storage_free(st);
		return;
	}
	CHECK_OK(storage_read(st, buf, sizeof(buf), MIB + 4096));
	CHECK_MEM(buf, zero, sizeof(buf));
	CHECK_OK(storage_block_status(st, 0, 3 * MIB, &run, &data));
	if (run == 3 * MIB && data) {
		fprintf(stderr, "the file system reports no holes (SEEK_HOLE): all data\n");
		storage_free(st);
		return;
	}
	CHECK(data);
	CHECK_EQ(run, MIB);
	CHECK_OK(storage_block_status(st, MIB, 2 * MIB, &run, &data));
	CHECK(!data);
	CHECK_EQ(run, MIB);
	CHECK_OK(storage_block_status(st, 2 * MIB, MIB, &run, &data));
	CHECK(data);
	CHECK_EQ(run, MIB);
	/* The truncated tail (3-5 MiB) is a hole too, to the end of the file. */
	CHECK_OK(storage_block_status(st, 3 * MIB, 2 * MIB, &run, &data));
	CHECK(!data);
	CHECK_EQ(run, 2 * MIB);
	/* Through a window, offsets are the partition's. */
	CHECK_OK(storage_open(path, 0, &part));
	CHECK_OK(storage_set_window(part, MIB / 2, 2 * MIB));
	CHECK_OK(storage_block_status(part, 0, 2 * MIB, &run, &data));
	CHECK(data);
	CHECK_EQ(run, MIB / 2);
	CHECK_OK(storage_block_status(part, MIB / 2, MIB, &run, &data));
	CHECK(!data);
	CHECK_EQ(run, MIB);
	CHECK_EQ(storage_block_status(part, MIB, 2 * MIB, &run, &data), -ENODATA);
	storage_free(part);
	storage_free(st);
}

/* Two writers on one image: the second is told the image is busy; readers share. */
static void locks(void)
{
	struct storage *a = NULL, *b = NULL;

	CHECK_OK(storage_open(path, 0, &a));
	CHECK_OK(storage_open(path, STORAGE_RDONLY, &b));
	CHECK_OK(storage_lock(a, true));
	CHECK_EQ(storage_lock(b, false), VMC_EBUSY);
	storage_free(a);
	CHECK_OK(storage_lock(b, false));
	CHECK_OK(storage_open(path, STORAGE_RDONLY, &a));
	CHECK_OK(storage_lock(a, false));
	storage_free(a);
	storage_free(b);
}

/*
 * A backend with only the mandatory operations, in memory: what an NBD export
 * looks like to the front (no descriptor, no locks, no holes, a fixed size).
 */
struct mem {
	uint8_t bytes[64 * 1024];
	bool *closed;
};

static int mem_pread(void *be, void *buf, size_t len, uint64_t off)
{
	struct mem *m = be;

	if (off + len > sizeof(m->bytes))
		return -ENODATA;
	memcpy(buf, m->bytes + off, len);
	return 0;
}

static int mem_pwrite(void *be, const void *buf, size_t len, uint64_t off)
{
	struct mem *m = be;

	if (off + len > sizeof(m->bytes))
		return -ENOSPC;
	memcpy(m->bytes + off, buf, len);
	return 0;
}

static int mem_sync(void *be)
{
	(void)be;
	return 0;
}

static int mem_size(void *be, uint64_t *ret_size)
{
	*ret_size = sizeof(((struct mem *)be)->bytes);
	return 0;
}

static void mem_close(void *be)
{
	struct mem *m = be;

	*m->closed = true;
	free(m);
}

static const struct storage_backend_ops mem_ops = {
    .name = "mem",
    .pread = mem_pread,
    .pwrite = mem_pwrite,
    .sync = mem_sync,
    .size = mem_size,
    .close = mem_close,
};

/* The front's answers for the operations a backend leaves out, and its window over any backend. */
static void bare_backend(void)
{
	struct storage_backend_info info = {.read_only = false, .regular = false};
	struct storage *st = NULL;
	struct mem *m = calloc(1, sizeof(*m));
	uint8_t in[512], out[512];
	uint64_t run = 0, size = 0;
	bool data = false, closed = false;

	CHECK(m);
	m->closed = &closed;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i ^ 0x3c);
	CHECK_OK(storage_new(&mem_ops, m, "mem://test", &info, &st));
	CHECK(strcmp(storage_path(st), "mem://test") == 0);
	CHECK(!storage_is_regular(st) && !storage_read_only(st));
	CHECK_EQ(storage_fd(st), -1);
	CHECK_OK(storage_lock(st, true));
	CHECK_EQ(storage_punch(st, 0, 4096), -EOPNOTSUPP);
	CHECK_OK(storage_block_status(st, 4096, 8192, &run, &data));
	CHECK(data);
	CHECK_EQ(run, 8192);
	CHECK_OK(storage_write(st, in, sizeof(in), 1000));
	CHECK_OK(storage_sync(st));
	CHECK_MEM(m->bytes + 1000, in, sizeof(in));
	CHECK_EQ(storage_read(st, out, 2, sizeof(m->bytes) - 1), -ENODATA);
	CHECK_OK(storage_set_window(st, 4096, 8192));
	CHECK_OK(storage_size(st, &size));
	CHECK_EQ(size, 8192);
	CHECK_OK(storage_write(st, in, sizeof(in), 100));
	CHECK_MEM(m->bytes + 4096 + 100, in, sizeof(in));
	CHECK_OK(storage_read(st, out, sizeof(out), 100));
	CHECK_MEM(out, in, sizeof(in));
	CHECK_EQ(storage_read(st, out, 2, 8191), -ENODATA);
	CHECK_EQ(storage_write(st, in, 2, 8191), -ENOSPC);
	storage_free(st);
	CHECK(closed);
}

int main(void)
{
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	close(fd);
	vmc_set_log(quiet, NULL);
	round_trip();
	read_only();
	window();
	holes();
	locks();
	bare_backend();
	unlink(path);
	printf("storage: round trip, read-only, window, holes, locks, bare backend\n");
	return 0;
}
