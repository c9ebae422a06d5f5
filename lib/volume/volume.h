/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plaintext access over the data segment: sector ciphers, read-modify-write, threads, pipelines. */
#ifndef VMC_VOLUME_H
#define VMC_VOLUME_H

#include "format/meta.h"
#include "io/storage.h"
#include "vmcrypt.h"

struct volume;

/*
 * A plaintext view of segment seg of the data device st, keyed with vk.
 * dev_size is the size of the data device (for a dynamic segment). The volume
 * keeps its own copy of the key schedule; st must outlive it.
 */
int volume_new(struct storage *st, const struct luks_segment *seg, uint64_t dev_size,
	       const uint8_t *vk, size_t vk_len, struct volume **ret_vol);
void volume_free(struct volume *vol);

uint64_t volume_size(const struct volume *vol);

/* Plaintext read/write at any offset and length inside the volume. Thread-safe. */
int volume_read(struct volume *vol, void *buf, size_t len, uint64_t off);
int volume_write(struct volume *vol, const void *buf, size_t len, uint64_t off);

/* Pipelined streaming between a file descriptor and the volume (see vmc_image_copy_in/out). */
int volume_copy_in(struct volume *vol, int fd, uint64_t len, vmc_progress_fn *progress,
		   void *userdata, uint64_t *ret_done);
int volume_copy_out(struct volume *vol, int fd, bool sparse, vmc_progress_fn *progress,
		    void *userdata);

#endif
