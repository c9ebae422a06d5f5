/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The FUSE file system of vmcrypt mount: disk.raw (the plaintext) and disk.vmdk over one image. */
#ifndef VMCRYPT_FUSE_VMCFUSE_H
#define VMCRYPT_FUSE_VMCFUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmcrypt.h"

/* Names of the two files in the mounted directory. */
#define VMCFUSE_RAW  "disk.raw"
#define VMCFUSE_VMDK "disk.vmdk"

struct vmcfuse;

struct vmcfuse_params {
	const char *mountpoint; /* an existing directory */
	bool read_only;		/* mount read-only (img may still be writable) */
	bool debug;		/* libfuse's request trace on stderr */
};

/*
 * Mounts the file system over img (opened and unlocked; it stays owned by the
 * caller and must outlive the returned handle). Without fuse's privileges,
 * fusermount3 does the mount. Errors are printed by libfuse; returns -EIO
 * (mount failed), -ENOMEM or -EINVAL.
 */
int vmcfuse_mount(struct vmc_image *img, const struct vmcfuse_params *p, struct vmcfuse **ret_fs);

/*
 * Serves requests on several threads until the file system is unmounted
 * (fusermount3 -u) or SIGINT, SIGTERM or SIGHUP arrives. Returns 0, or a
 * negative errno when serving failed.
 */
int vmcfuse_loop(struct vmcfuse *fs);

/* Unmounts (when still mounted), flushes the image and frees fs. NULL-safe. */
void vmcfuse_free(struct vmcfuse *fs);

/*
 * Writes the VMDK descriptor of a monolithic flat disk of size bytes (rounded
 * down to 512-byte sectors) whose extent is the file extent (relative to the
 * descriptor), IDE geometry, and uuid (may be NULL) as ddb.uuid.image.
 * Returns the length written (< len) or -ENOSPC.
 */
int vmcfuse_vmdk_descriptor(char *buf, size_t len, uint64_t size, const char *extent,
			    bool read_only, const char *uuid);

#endif
