/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Secret memory: page-backed blocks that are locked, kept out of core dumps and wiped on free. */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "crypto/backend.h"

/*
 * Each block is its own anonymous mapping: a small header (which shares the
 * first locked page) followed by the caller's bytes. A private mapping keeps
 * secrets off the malloc heap, where a freed chunk could be handed out again
 * unwiped or end up in a core dump.
 */
#define SECMEM_MAGIC	UINT64_C(0x766d635f7365636d) /* "vmc_secm" */
#define SECMEM_HDR_SIZE 64			     /* keeps the user pointer 64-byte aligned */

struct secmem_hdr {
	uint64_t magic;
	size_t len;	/* what the caller asked for */
	size_t map_len; /* the whole mapping, header included */
	bool locked;
};

_Static_assert(sizeof(struct secmem_hdr) <= SECMEM_HDR_SIZE, "secmem header too large");

/* Set once any block could not be locked; read by secmem_all_locked(). */
static atomic_bool secmem_lock_failed;

static size_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}

static struct secmem_hdr *hdr_of(const void *p)
{
	struct secmem_hdr *h = (struct secmem_hdr *)((uintptr_t)p - SECMEM_HDR_SIZE);

	assert(h->magic == SECMEM_MAGIC);
	return h;
}

/* Returns a zeroed, locked (best effort) block of at least len bytes, or NULL with errno ENOMEM. */
void *secmem_alloc(size_t len)
{
	struct secmem_hdr *h;
	size_t page = page_size();
	size_t map_len;

	if (len > SIZE_MAX - SECMEM_HDR_SIZE - page) {
		errno = ENOMEM;
		return NULL;
	}
	map_len = (SECMEM_HDR_SIZE + len + page - 1) / page * page;

	/* Anonymous mappings come zero-filled. */
	h = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}

	/*
	 * Locking can fail under RLIMIT_MEMLOCK; the block is still usable, so
	 * record the failure for secmem_all_locked() instead of refusing.
	 */
	h->locked = mlock(h, map_len) == 0;
	if (!h->locked)
		atomic_store(&secmem_lock_failed, true);
	(void)madvise(h, map_len, MADV_DONTDUMP);

	h->magic = SECMEM_MAGIC;
	h->len = len;
	h->map_len = map_len;
	return (uint8_t *)h + SECMEM_HDR_SIZE;
}

/* Wipes the whole mapping, unlocks and unmaps it; NULL-safe and errno-preserving. */
void secmem_free(void *p)
{
	struct secmem_hdr *h;
	size_t map_len;
	bool locked;
	int saved_errno = errno;

	if (p == NULL)
		return;
	h = hdr_of(p);
	map_len = h->map_len;
	locked = h->locked;
	explicit_bzero(h, map_len);
	if (locked)
		(void)munlock(h, map_len);
	(void)munmap(h, map_len);
	errno = saved_errno;
}

/* Length requested at allocation; 0 for NULL. */
size_t secmem_len(const void *p)
{
	if (p == NULL)
		return 0;
	return hdr_of(p)->len;
}

/* Copies len bytes of src into a new secret block; src may be NULL when len is 0. */
void *secmem_dup(const void *src, size_t len)
{
	void *p = secmem_alloc(len);

	if (p != NULL && len > 0)
		memcpy(p, src, len);
	return p;
}

/* True while no allocation so far has failed to mlock(). */
bool secmem_all_locked(void)
{
	return !atomic_load(&secmem_lock_failed);
}

/*
 * Non-dumpable and no core files: a crash or a ptrace-capable neighbour must
 * not be able to read passphrases and keys out of this process. Attempts both
 * steps and returns the first failure as a negative errno.
 */
int secmem_harden_process(void)
{
	struct rlimit rl = {.rlim_cur = 0, .rlim_max = 0};
	int r = 0;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		r = -errno;
	if (setrlimit(RLIMIT_CORE, &rl) < 0 && r == 0)
		r = -errno;
	return r;
}
