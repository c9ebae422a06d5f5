/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt test-key IMAGE: does this passphrase or key file unlock IMAGE? */
#include "common.h"
#include "log.h"

int cmd_test_key(const struct cli_opts *o, char **args, int nargs)
{
	struct vmc_image *img = NULL;
	int slot = -1, r;

	(void)nargs;
	r = stdin_check(o, false);
	if (r == 0)
		r = image_open(o, args[0], true, &img);
	if (r == 0)
		r = image_test_passphrase(o, img, args[0], &slot);
	if (r == 0)
		verbose("Key slot %d unlocked.", slot);
	vmc_image_free(img);
	return r;
}
