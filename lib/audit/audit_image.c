/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disk images: qcow2 internal snapshots that keep VM state (savevm), and the --image files. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "format/qcow2_snap.h"

#define SNAPS_MAX  64	      /* snapshots named per image */
#define TABLE_READ (1u << 20) /* bytes of snapshot table read per image */

#define FIX_SNAPSHOTS                                                                        \
	"with the VM shut down, delete them: qemu-img snapshot -d NAME IMAGE (or virsh "     \
	"snapshot-delete); QEMU punches the freed clusters out of the file (where the file " \
	"system cannot, copy the image with qemu-img convert and shred the old one)"

void audit_image_snapshots(struct audit_ctx *c, struct audit_ctx *rc, const char *check,
			   const char *subject, const char *path)
{
	uint8_t head[QCOW2_SNAP_HEADER_LEN], *table = NULL;
	struct qcow2_snap *snaps = NULL;
	struct qcow2_info h;
	char list[512] = "", size[32];
	uint64_t total = 0, want;
	size_t used = 0;
	int r, n, i, with_state = 0;

	r = audit_read_at(rc, path, head, sizeof(head), 0);
	if (r < 0)
		return;
	/* Not qcow2, or qcow version 1 (which has no internal snapshots): nothing to say. */
	r = qcow2_parse_header(head, (size_t)r, &h);
	if (r == -EINVAL || r == VMC_ENOTSUP)
		return;
	if (r < 0) {
		audit_add(c, check, VMC_AUDIT_WARN, subject, "check the image with qemu-img check",
			  "a qcow2 image whose header vmcrypt cannot read: cannot tell whether "
			  "its snapshots keep VM state");
		return;
	}
	if (h.nb_snapshots == 0) {
		audit_add(c, check, VMC_AUDIT_PASS, subject, NULL,
			  "no internal snapshots: the image keeps no saved VM state (guest RAM)");
		return;
	}
	want = qcow2_snap_table_max(&h);
	if (want > TABLE_READ)
		want = TABLE_READ;
	table = malloc((size_t)want);
	snaps = calloc(SNAPS_MAX, sizeof(*snaps));
	if (!table || !snaps) {
		c->oom = true;
		goto out;
	}
	r = audit_read_at(rc, path, table, (size_t)want, h.snapshots_offset);
	n = r < 0 ? r : qcow2_parse_snapshots(&h, table, (size_t)r, snaps, SNAPS_MAX);
	if (n < 0) {
		audit_add(c, check, VMC_AUDIT_WARN, subject, "check the image with qemu-img check",
			  "%" PRIu32
			  " internal snapshot(s), but the snapshot table cannot be read: "
			  "cannot tell whether they keep VM state",
			  h.nb_snapshots);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!snaps[i].vm_state_size)
			continue;
		with_state++;
		total += snaps[i].vm_state_size;
		audit_human_size(snaps[i].vm_state_size, size, sizeof(size));
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s'%s' (%s)",
						 with_state > 1 ? ", " : "", snaps[i].name, size);
	}
	if (!with_state) {
		audit_add(c, check, VMC_AUDIT_PASS, subject, NULL,
			  "%" PRIu32 " internal snapshot(s), disk only: none keeps VM state%s",
			  h.nb_snapshots, (uint32_t)n < h.nb_snapshots ? " (of those read)" : "");
		goto out;
	}
	audit_human_size(total, size, sizeof(size));
	if (h.crypt_method == 2)
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
out:
	free(snaps);
	free(table);
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
	}
}
