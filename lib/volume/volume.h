/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plaintext access over the data segment: sector ciphers, read-modify-write, threads, pipelines. */
#ifndef VMC_VOLUME_H
#define VMC_VOLUME_H

#include "format/meta.h"
#include "io/storage.h"
#include "vmcrypt.h"

struct volume;

#define VOLUME_MAX_EXTENTS 4

/* One stretch of the volume: a LUKS2 segment with its key (or plaintext on disk). */
struct volume_spec {
	uint64_t offset; /* in the data device */
	uint64_t size;	 /* ignored when dynamic */
	bool dynamic;	 /* to the end of the data device */
	uint64_t iv_tweak;
	const char *cipher; /* NULL: linear, the data is stored in the clear */
	uint32_t sector_size;
	const uint8_t *key;
	size_t key_len;
};

/*
 * The stretch LUKS segment s describes, read and written with key (ignored,
 * and the data stored in the clear, for a linear segment).
 */
static inline struct volume_spec volume_spec_of(const struct luks_segment *s, const uint8_t *key,
						size_t key_len)
{
	bool crypt = s->kind == LUKS_SEGMENT_CRYPT;
	return (struct volume_spec){
	    .offset = s->offset,
	    .size = s->size,
	    .dynamic = s->dynamic,
	    .iv_tweak = s->iv_tweak,
	    .cipher = crypt ? s->cipher : NULL,
	    .sector_size = s->sector_size,
	    .key = crypt ? key : NULL,
	    .key_len = crypt ? key_len : 0,
	};
}

/*
 * A plaintext view made of n stretches laid end to end (a LUKS2 segment list
 * in id order; one entry outside a re-encryption). dev_size is the size of the
 * data device (for a dynamic stretch). The volume keeps its own key schedules;
 * st must outlive it.
 */
int volume_new(struct storage *st, const struct volume_spec *specs, int n, uint64_t dev_size,
	       struct volume **ret_vol);
void volume_free(struct volume *vol);

uint64_t volume_size(const struct volume *vol);

/* Plaintext read/write at any offset and length inside the volume. Thread-safe. */
int volume_read(struct volume *vol, void *buf, size_t len, uint64_t off);
int volume_write(struct volume *vol, const void *buf, size_t len, uint64_t off);

/*
 * En/decrypts in place len bytes of buf holding plaintext offset off (whole
 * sectors of the stretch it falls in); for the re-encryption engine, which does
 * its own I/O.
 */
int volume_crypt(struct volume *vol, uint8_t *buf, size_t len, uint64_t off, bool encrypt);
/*
 * Deallocates the whole sectors inside [off, off + len) in the data file (punch
 * hole): they read back as the decryption of zeros. -EOPNOTSUPP on a device
 * that cannot punch holes.
 */
int volume_discard(struct volume *vol, uint64_t off, uint64_t len);
/* Where plaintext offset off is stored in the data device. */
uint64_t volume_phys(struct volume *vol, uint64_t off);

/* Pipelined streaming between a file descriptor and the volume (see vmc_image_copy_in/out). */
int volume_copy_in(struct volume *vol, int fd, uint64_t len, vmc_progress_fn *progress,
		   void *userdata, uint64_t *ret_done);
/*
 * The same with a plain storage handle: copy in the whole of src (at most the
 * volume's size); copy out into dst (at least the volume's size; synced at the
 * end), skipping all-zero blocks when dst is known to read zeros (zeroed).
 */
int volume_copy_in_storage(struct volume *vol, struct storage *src, vmc_progress_fn *progress,
			   void *userdata, uint64_t *ret_done);
/*
 * A source of plaintext for a copy in: fills buf with the len bytes at offset
 * off (0, or a negative errno it has reported).
 */
typedef int volume_source_fn(void *ctx, uint8_t *buf, size_t len, uint64_t off);
/*
 * Copies len bytes (at most the volume's size) from src into the volume from
 * offset 0, pipelined like volume_copy_in: src runs on the producer thread, its
 * plaintext is encrypted in the same locked buffer before the buffer is written.
 */
int volume_copy_in_source(struct volume *vol, uint64_t len, volume_source_fn *src, void *ctx,
			  vmc_progress_fn *progress, void *userdata, uint64_t *ret_done);
int volume_copy_out_storage(struct volume *vol, struct storage *dst, bool zeroed,
			    vmc_progress_fn *progress, void *userdata);
int volume_copy_out(struct volume *vol, int fd, bool sparse, vmc_progress_fn *progress,
		    void *userdata);

#endif
