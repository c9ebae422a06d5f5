/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disk images: qcow2 internal snapshots that keep VM state (savevm), and the --image files. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "base/log.h"
#include "base/util.h"
#include "qcow2/qcow2.h"

#define FIX_SNAPSHOTS                                                                        \
	"with the VM shut down, delete them: qemu-img snapshot -d NAME IMAGE (or virsh "     \
	"snapshot-delete); QEMU punches the freed clusters out of the file (where the file " \
	"system cannot, copy the image with qemu-img convert and shred the old one)"
#define FIX_COMPRESSED                                                                          \
	"rewrite the image: qemu-img convert -O qcow2 with -o encrypt.format=luks (and no -c) " \
	"to a new image, or vmcrypt decrypt then vmcrypt encrypt; then shred the old file"

/* One qcow2 file read through the audit's own file access (below the root, no io/). */
struct image_file {
	struct audit_ctx *rc;
	const char *path;
	struct qcow2_source src;
	struct qcow2_header h;
};

static int image_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct image_file *f = ctx;
	int r;

	if (len > (size_t)INT32_MAX)
		return -EFBIG;
	r = audit_read_at(f->rc, f->path, buf, len, off);
	if (r < 0)
		return r;
	return (size_t)r < len ? -ENODATA : 0;
}

/*
 * Reads the header of the qcow2 image at path: 0; 1 when path is no qcow2
 * image of version 2 or 3 (none has internal snapshots), or cannot be read at
 * all: nothing to say; < 0 when it is one whose header vmcrypt cannot parse.
 */
static int image_open(struct audit_ctx *rc, const char *path, struct image_file *f)
{
	uint8_t head[8];
	uint32_t version;
	int r;

	f->rc = rc;
	f->path = path;
	r = audit_read_at(rc, path, head, sizeof(head), 0);
	if (r < (int)sizeof(head) || load_be32(head) != QCOW2_MAGIC)
		return 1;
	version = load_be32(head + 4);
	if (version != 2 && version != 3)
		return 1;
	/* A block device has no st_size here: its reads past the end fail instead. */
	f->src = (struct qcow2_source){image_read, f, UINT64_MAX, path};
	if (audit_file_size(rc, path, &f->src.size) < 0)
		f->src.size = UINT64_MAX;
	/* The audit reports what it finds as results: the parser's messages stay quiet. */
	log_mute();
	r = qcow2_header_load(&f->src, &f->h);
	log_unmute();
	return r;
}

void audit_image_snapshots(struct audit_ctx *c, struct audit_ctx *rc, const char *check,
			   const char *subject, const char *path)
{
	struct qcow2_snapshot *snaps = NULL;
	struct image_file f;
	char list[512] = "", size[32];
	uint64_t total = 0;
	size_t used = 0;
	uint32_t i;
	int r, with_state = 0;

	r = image_open(rc, path, &f);
	if (r > 0)
		return;
	if (r < 0) {
		audit_add(c, check, VMC_AUDIT_WARN, subject, "check the image with qemu-img check",
			  "a qcow2 image whose header vmcrypt cannot read: cannot tell whether "
			  "its snapshots keep VM state");
		return;
	}
	if (f.h.nb_snapshots == 0) {
		audit_add(c, check, VMC_AUDIT_PASS, subject, NULL,
			  "no internal snapshots: the image keeps no saved VM state (guest RAM)");
		return;
	}
	log_mute();
	r = qcow2_snapshots_load(&f.src, &f.h, &snaps);
	log_unmute();
	if (r == -ENOMEM) {
		c->oom = true;
		return;
	}
	if (r < 0) {
		audit_add(c, check, VMC_AUDIT_WARN, subject, "check the image with qemu-img check",
			  "%" PRIu32
			  " internal snapshot(s), but the snapshot table cannot be read: "
			  "cannot tell whether they keep VM state",
			  f.h.nb_snapshots);
		return;
	}
	for (i = 0; i < f.h.nb_snapshots; i++) {
		if (!snaps[i].vm_state_size)
			continue;
		with_state++;
		total += snaps[i].vm_state_size;
		audit_human_size(snaps[i].vm_state_size, size, sizeof(size));
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s'%s' (%s)",
						 with_state > 1 ? ", " : "", snaps[i].name, size);
	}
	free(snaps);
	if (!with_state) {
		audit_add(c, check, VMC_AUDIT_PASS, subject, NULL,
			  "%" PRIu32 " internal snapshot(s), disk only: none keeps VM state",
			  f.h.nb_snapshots);
		return;
	}
	audit_human_size(total, size, sizeof(size));
	if (f.h.crypt_method == QCOW2_CRYPT_LUKS)
		audit_add(c, check, VMC_AUDIT_WARN, subject, FIX_SNAPSHOTS,
			  "%d internal snapshot(s) keep VM state (%s in all: %s); the image is "
			  "an encrypted qcow2, whose data clusters QEMU encrypts with the image's "
			  "key, VM state included (QEMU 7.2 aborts writing one), so it is not "
			  "plaintext on disk, but it is guest RAM inside the image",
			  with_state, size, list);
	else
		audit_add(c, check, VMC_AUDIT_FAIL, subject, FIX_SNAPSHOTS,
			  "%d internal snapshot(s) keep VM state, unencrypted, inside the image "
			  "(%s in all: %s): guest RAM, with the key of any disk the guest "
			  "encrypts itself (savevm, virsh snapshot-create with memory; see "
			  "experiments/saved-state)",
			  with_state, size, list);
}

/* Compressed clusters of one L1 table (the whole range it maps), added to *count. */
static int count_compressed(struct image_file *f, uint64_t l1, uint32_t l1_size, uint64_t *count)
{
	struct qcow2_map *map = NULL;
	struct qcow2_stats st;
	int r;

	if ((r = qcow2_map_open_source(&f->src, &f->h, l1, l1_size, &map)) == 0 &&
	    (r = qcow2_map_stats(map, 0, qcow2_l1_span(&f->h, l1_size), &st)) == 0)
		*count += st.compressed_clusters;
	qcow2_map_free(map);
	return r;
}

/*
 * An encrypted qcow2 (--image) with compressed clusters: QEMU writes those
 * unencrypted, so the plaintext of an "encrypted" image lies in the file.
 */
static void audit_image_compressed(struct audit_ctx *c, const char *path)
{
	struct audit_ctx here = {.host = true, .rootfd = -1, .root = "/"};
	struct qcow2_snapshot *snaps = NULL;
	struct image_file f;
	uint64_t active = 0, in_snaps = 0;
	int r;

	if (image_open(&here, path, &f) != 0 || f.h.crypt_method != QCOW2_CRYPT_LUKS)
		return;
	log_mute();
	r = count_compressed(&f, f.h.l1_table_offset, f.h.l1_size, &active);
	if (r == 0)
		r = qcow2_snapshots_load(&f.src, &f.h, &snaps);
	for (uint32_t i = 0; r == 0 && i < f.h.nb_snapshots; i++)
		r = count_compressed(&f, snaps[i].l1_table_offset, snaps[i].l1_size, &in_snaps);
	log_unmute();
	free(snaps);
	if (r == -ENOMEM) {
		c->oom = true;
		return;
	}
	if (r < 0)
		audit_add(c, "image-compressed", VMC_AUDIT_WARN, path,
			  "check the image with qemu-img check",
			  "an encrypted qcow2 whose cluster tables vmcrypt cannot read: cannot "
			  "tell whether compressed clusters hold plaintext");
	else if (active + in_snaps)
		audit_add(c, "image-compressed", VMC_AUDIT_FAIL, path, FIX_COMPRESSED,
			  "%" PRIu64 " compressed clusters stored unencrypted (%" PRIu64
			  " in the active layer, %" PRIu64
			  " in snapshots, one they share counted in each): QEMU writes compressed "
			  "clusters of an encrypted qcow2 "
			  "without encrypting them, so their guest data is plaintext in the file",
			  active + in_snaps, active, in_snaps);
	else
		audit_add(c, "image-compressed", VMC_AUDIT_PASS, path, NULL,
			  "no compressed clusters: every data cluster of the encrypted qcow2 is "
			  "encrypted");
}

void audit_check_images(struct audit_ctx *c)
{
	/* --image files are paths on this machine, like --domain-xml files. */
	struct audit_ctx here = {.host = true, .rootfd = -1, .root = "/"};
	enum vmc_audit_status st;
	const char *why = NULL;
	size_t i;

	for (i = 0; c->images && c->images[i]; i++) {
		st = audit_image_status(audit_classify_image(&here, c->images[i]), &why);
		audit_add(c, "image", st, c->images[i],
			  "convert it (vmcrypt encrypt SRC DST), or serve it with vmcrypt serve",
			  "%s", why);
		audit_image_snapshots(c, &here, "image-snapshots", c->images[i], c->images[i]);
		audit_image_compressed(c, c->images[i]);
	}
}
