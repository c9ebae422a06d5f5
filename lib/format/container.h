/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VM image containers (qcow2, VMDK, VDI, VHDX, VHD, QED, ...) recognised by their magic, so none is
 * taken for a disk. */
#ifndef VMC_FORMAT_CONTAINER_H
#define VMC_FORMAT_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes from the start of a file that container_probe looks at. */
#define CONTAINER_PROBE_LEN 512

struct container {
	const char *name; /* "qcow2": qemu-img's name for the format (-f/-O) */
	const char *what; /* "a qcow2 image (QEMU's format)": for messages */
	const char *fix;  /* one sentence: what the user can do about it */
	bool qemu;	  /* QEMU reads it as a disk (qemu-storage-daemon serves it) */
	bool vmcrypt;	  /* an encrypted image vmcrypt opens itself (lib/qcow2) */
};

/*
 * The container whose magic opens buf (the first len bytes of a file; fewer
 * than CONTAINER_PROBE_LEN when the file is shorter), or NULL for anything
 * else: a raw disk, a LUKS image, unknown bytes.
 */
const struct container *container_probe(const uint8_t *buf, size_t len);

#endif
