/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OpenSSL's allocator: a locked, MADV_DONTDUMP arena whose blocks are wiped on free. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "crypto/osslmem.h"
#include "base/log.h"
#include "base/util.h"

/*
 * Why: an EVP_CIPHER_CTX keeps the expanded AES key schedule (and a PBKDF2
 * HMAC context the passphrase-derived pads) in memory OpenSSL allocates. With
 * the default allocator that is the malloc heap: not locked (it can reach swap
 * or a hibernation image), included in core dumps, and left in freed chunks
 * after EVP_CIPHER_CTX_free() for a later malloc() to hand out. OpenSSL calls
 * its own cleanse only on some of these buffers; this allocator wipes them all.
 *
 * Layout: blocks of size classes 16 .. 16384 bytes are carved from 256 KiB
 * slabs (never returned; freed blocks are wiped and kept on a per-class free
 * list); larger blocks get a mapping of their own, wiped and unmapped on free.
 * Every block starts with a 16-byte header (OpenSSL's free passes only the
 * pointer), which also keeps user pointers 16-byte aligned like malloc's.
 */
#define OM_HDR	       16u
#define OM_MIN_SHIFT   4u  /* smallest class: 16 bytes */
#define OM_NUM_CLASSES 11u /* 16 << 10 = 16384 bytes */
#define OM_SLAB	       (256u * 1024)
#define OM_LARGE       UINT32_MAX
#define OM_MAGIC       0x6f6d656du /* "omem" */
#define OM_FREED       0x66726565u /* "free" */

struct om_hdr {
	size_t size;	/* bytes requested (in use) */
	uint32_t cls;	/* size class, or OM_LARGE for a mapping of its own */
	uint32_t magic; /* OM_MAGIC while allocated */
};
_Static_assert(sizeof(struct om_hdr) == OM_HDR, "osslmem header must keep 16-byte alignment");

struct om_free {
	struct om_free *next;
};

static pthread_mutex_t om_lock = PTHREAD_MUTEX_INITIALIZER;
static struct om_free *om_free_lists[OM_NUM_CLASSES];
static uint8_t *om_slab_cur; /* bump allocation inside the newest slab */
static size_t om_slab_left;
static bool om_active;
static bool om_lock_failed;
static size_t om_in_use, om_mapped, om_allocs;

static size_t class_size(uint32_t cls)
{
	return (size_t)1 << (cls + OM_MIN_SHIFT);
}

static uint32_t class_of(size_t size)
{
	uint32_t cls = 0;

	while (class_size(cls) < size)
		cls++;
	return cls;
}

static size_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}

/* A fresh zeroed mapping, locked (best effort) and kept out of core dumps. Lock held. */
static void *map_locked(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mlock(p, len) < 0)
		om_lock_failed = true;
	(void)madvise(p, len, MADV_DONTDUMP);
	om_mapped += len;
	return p;
}

static size_t large_map_len(size_t size)
{
	size_t page = page_size();

	return (OM_HDR + size + page - 1) / page * page;
}

static struct om_hdr *hdr_of(void *p)
{
	struct om_hdr *h = (struct om_hdr *)((uint8_t *)p - OM_HDR);

	/* A bad header is heap corruption or a double free: stop rather than guess. */
	if (h->magic != OM_MAGIC || (h->cls >= OM_NUM_CLASSES && h->cls != OM_LARGE))
		abort();
	return h;
}

/* Lock held. */
static void *alloc_locked(size_t size)
{
	struct om_hdr *h;
	uint32_t cls;

	if (size > class_size(OM_NUM_CLASSES - 1)) {
		if (size > SIZE_MAX - OM_HDR - page_size())
			return NULL;
		h = map_locked(large_map_len(size));
		if (!h)
			return NULL;
		h->cls = OM_LARGE;
	} else {
		cls = class_of(size);
		if (om_free_lists[cls]) {
			struct om_free *f = om_free_lists[cls];
			om_free_lists[cls] = f->next;
			f->next = NULL; /* the rest of a free block is already zero */
			h = (struct om_hdr *)((uint8_t *)f - OM_HDR);
		} else {
			size_t need = OM_HDR + class_size(cls);
			if (om_slab_left < need) {
				/* The tail of the old slab is simply abandoned (it is zero). */
				om_slab_cur = map_locked(OM_SLAB);
				if (!om_slab_cur) {
					om_slab_left = 0;
					return NULL;
				}
				om_slab_left = OM_SLAB;
			}
			h = (struct om_hdr *)om_slab_cur;
			om_slab_cur += need;
			om_slab_left -= need;
		}
		h->cls = cls;
	}
	h->size = size;
	h->magic = OM_MAGIC;
	om_in_use += size;
	om_allocs++;
	return (uint8_t *)h + OM_HDR;
}

/* Lock held. */
static void free_locked(void *p)
{
	struct om_hdr *h = hdr_of(p);
	struct om_free *f = p;

	om_in_use -= h->size;
	if (h->cls == OM_LARGE) {
		size_t len = large_map_len(h->size);
		explicit_bzero(h, len);
		(void)munlock(h, len);
		(void)munmap(h, len);
		om_mapped -= len;
		return;
	}
	/* The whole class capacity: realloc() may have used more than h->size once. */
	explicit_bzero(p, class_size(h->cls));
	h->size = 0;
	h->magic = OM_FREED;
	f->next = om_free_lists[h->cls];
	om_free_lists[h->cls] = f;
}

static size_t capacity(const struct om_hdr *h)
{
	return h->cls == OM_LARGE ? large_map_len(h->size) - OM_HDR : class_size(h->cls);
}

static void *om_malloc(size_t num, const char *file, int line)
{
	void *p;

	(void)file;
	(void)line;
	if (num == 0)
		return NULL; /* as CRYPTO_malloc() does */
	pthread_mutex_lock(&om_lock);
	p = alloc_locked(num);
	pthread_mutex_unlock(&om_lock);
	return p;
}

static void om_free(void *addr, const char *file, int line)
{
	(void)file;
	(void)line;
	if (!addr)
		return;
	pthread_mutex_lock(&om_lock);
	free_locked(addr);
	pthread_mutex_unlock(&om_lock);
}

static void *om_realloc(void *addr, size_t num, const char *file, int line)
{
	struct om_hdr *h;
	void *p;

	if (!addr)
		return om_malloc(num, file, line);
	if (num == 0) {
		om_free(addr, file, line);
		return NULL;
	}
	pthread_mutex_lock(&om_lock);
	h = hdr_of(addr);
	if (h->cls != OM_LARGE && num <= capacity(h)) {
		/* In place; a shrunk tail is wiped now, not at free. */
		if (num < h->size)
			explicit_bzero((uint8_t *)addr + num, h->size - num);
		om_in_use = om_in_use - h->size + num;
		h->size = num;
		pthread_mutex_unlock(&om_lock);
		return addr;
	}
	p = alloc_locked(num);
	if (p) {
		memcpy(p, addr, h->size < num ? h->size : num);
		free_locked(addr);
	}
	pthread_mutex_unlock(&om_lock);
	return p;
}

/* A fork() while another thread holds the lock must not leave the child's arena locked. */
static void atfork_prepare(void)
{
	pthread_mutex_lock(&om_lock);
}

static void atfork_release(void)
{
	pthread_mutex_unlock(&om_lock);
}

int osslmem_install(void)
{
	static bool atfork_done;
	int r = 0;

	pthread_mutex_lock(&om_lock);
	/* OpenSSL refuses once it has allocated anything: then its heap stays malloc(). */
	if (!om_active && !CRYPTO_set_mem_functions(om_malloc, om_realloc, om_free))
		r = -EBUSY;
	else
		om_active = true;
	if (om_active && !atfork_done)
		atfork_done = pthread_atfork(atfork_prepare, atfork_release, atfork_release) == 0;
	pthread_mutex_unlock(&om_lock);
	if (r < 0)
		log_warn("OpenSSL allocated memory before vmcrypt could move its heap into locked "
			 "memory; cipher key schedules stay in the ordinary heap");
	return r;
}

bool osslmem_active(void)
{
	bool a;

	pthread_mutex_lock(&om_lock);
	a = om_active;
	pthread_mutex_unlock(&om_lock);
	return a;
}

void osslmem_get_stats(struct osslmem_stats *ret_stats)
{
	pthread_mutex_lock(&om_lock);
	ret_stats->in_use = om_in_use;
	ret_stats->mapped = om_mapped;
	ret_stats->allocations = om_allocs;
	ret_stats->all_locked = !om_lock_failed;
	pthread_mutex_unlock(&om_lock);
}

/*
 * The same arena for libgcrypt (lib/crypto/gcry.c): its cipher and digest
 * contexts hold Serpent, Twofish, Camellia and CAST5 key schedules and HMAC
 * pads. gcrypt treats a NULL return as out of memory, so a zero-byte request
 * gets the smallest block instead.
 */
void *osslmem_malloc(size_t len)
{
	return om_malloc(len > 0 ? len : 1, NULL, 0);
}

void *osslmem_realloc(void *p, size_t len)
{
	return om_realloc(p, len > 0 ? len : 1, NULL, 0);
}

void osslmem_free(void *p)
{
	om_free(p, NULL, 0);
}

/* Before main() and before any other constructor of this library could reach OpenSSL. */
__attribute__((constructor)) static void osslmem_init(void)
{
	(void)osslmem_install();
}
