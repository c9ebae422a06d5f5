/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt create IMAGE --size SIZE: a new, empty encrypted image. */
#include "common.h"
#include "log.h"

int cmd_create(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0];
	struct vmc_image *img = NULL;
	bool exists = false, header_exists = false;
	uint64_t size = 0;
	int r;

	(void)nargs;
	if (!o->size_set)
		return usage_error("--size is required");
	r = stdin_check(o, false);
	if (r == 0)
		r = data_size_round(o, o->size, &size);
	if (r == 0)
		r = output_check(o, path, &exists);
	if (r == 0 && o->header)
		r = output_check(o, o->header, &header_exists);
	if (r == 0)
		r = create_image(o, path, size, exists || header_exists, false, &img);
	if (r == 0)
		r = vmc_image_flush(img);
	if (r == 0)
		verbose("Key slot %d created.", o->key_slot >= 0 ? o->key_slot : 0);
	vmc_image_free(img);
	return r;
}
