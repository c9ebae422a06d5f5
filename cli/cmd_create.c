/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt create IMAGE --size SIZE: a new, empty encrypted image. */
#include <stdlib.h>

#include "common.h"
#include "log.h"

/*
 * Without --size, IMAGE must have a size of its own: a partition (IMAGE@N,
 * --partition) or an NBD export, which the new image fills.
 */
static int size_needed(const struct cli_opts *o, const char *path)
{
	char *file = NULL;
	int partition = 0, r;

	if (o->size_set || vmc_is_nbd_uri(path))
		return 0;
	r = image_path_parse(o, path, &file, &partition);
	free(file);
	if (r == 0 && partition == 0)
		r = usage_error("--size is required (only a partition or an NBD export has a size "
				"of its own)");
	return r;
}

int cmd_create(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0];
	struct vmc_image *img = NULL;
	bool exists = false, header_exists = false;
	uint64_t size = 0;
	int r;

	(void)nargs;
	r = size_needed(o, path);
	if (r == 0)
		r = stdin_check(o, false);
	if (r == 0 && o->size_set)
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
