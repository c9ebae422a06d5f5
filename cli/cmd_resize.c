/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt resize IMAGE --size SIZE|+SIZE: grow (or with --force shrink) an image file. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "common.h"
#include "log.h"

#define WARNING_MAX 4400 /* a warning naming a path */

/* Shrinking needs --force, then --batch-mode or YES typed on a terminal. */
static int shrink_check(const struct cli_opts *o, const char *path, uint64_t cur, uint64_t size)
{
	char warning[WARNING_MAX];

	if (!o->force)
		return fail(-EINVAL,
			    "%s: %" PRIu64 " bytes is smaller than the current %" PRIu64
			    ": shrinking destroys the data beyond the new end; shrink the file "
			    "system inside first, then add --force",
			    path, size, cur);
	if (o->batch)
		return 0;
	if (!interactive())
		return usage_error("no terminal to confirm on; add --batch-mode");
	snprintf(warning, sizeof(warning),
		 "WARNING: this shrinks %s from %" PRIu64 " to %" PRIu64
		 " bytes: the data beyond the new end is lost. The file system inside must have "
		 "been shrunk first.",
		 path, cur, size);
	return confirm(warning);
}

int cmd_resize(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0];
	struct vmc_image *img = NULL;
	uint64_t cur, size;
	int r;

	(void)nargs;
	if (!o->size_set)
		return usage_error("--size SIZE (the new size) or --size +SIZE is required");
	r = image_open(o, path, false, &img);
	if (r < 0)
		goto out;
	cur = vmc_image_extent(img);
	size = o->size;
	if (o->size_add && size > UINT64_MAX - cur) {
		r = usage_error("--size +%" PRIu64 ": too large", o->size);
		goto out;
	}
	if (o->size_add)
		size += cur;
	if (size < cur && (r = shrink_check(o, path, cur, size)) < 0)
		goto out;
	/* The library checks the sector size, the header area and the partition's end. */
	r = vmc_image_resize(img, size, o->force);
	if (r == 0)
		verbose("%s: %" PRIu64 " bytes (was %" PRIu64 "), %" PRIu64 " bytes of data.", path,
			vmc_image_extent(img), cur, vmc_image_size(img));
out:
	vmc_image_free(img);
	return r;
}
