/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt scan FILE...: an image's volume key, or any AES key schedule, in dumps, saved states,
 * swap, disks. */
#include <stdio.h>
#include <stdlib.h>

#include "common.h"
#include "exitcode.h"
#include "log.h"
#include "progress.h"

static int scan_check(const struct cli_opts *o)
{
	if (!o->image && (o->key_file || o->key_slot >= 0 || o->keyfile_offset || o->keyfile_size))
		return usage_error("--key-file, --keyfile-offset, --keyfile-size and --key-slot "
				   "need --image");
	if (o->image && o->max_bit_errors)
		return usage_error("--max-bit-errors applies without --image (a known key is "
				   "searched for exactly)");
	return stdin_check(o, false);
}

int cmd_scan(const struct cli_opts *o, char **args, int nargs)
{
	struct vmc_scan_params p = {.max_bit_errors = o->max_bit_errors, .json = o->json};
	struct vmc_image *img = NULL;
	struct progress pg;
	uint8_t *vk = NULL;
	char *report = NULL;
	unsigned found = 0;
	size_t vk_len = 0;
	int slot = -1, r;

	r = scan_check(o);
	if (r < 0)
		return r;
	if (o->image) {
		/* --header is then the image's detached header. */
		r = open_unlocked(o, o->image, &img, &slot);
		if (r == 0)
			r = vmc_image_volume_key(img, &vk, &vk_len);
		if (r < 0)
			goto out;
		verbose("Key slot %d unlocked; searching for the volume key of %s.", slot,
			o->image);
		p.volume_key = vk;
		p.volume_key_len = vk_len;
		p.key_name = o->image;
	} else {
		/* --header is the image whose digest the keys found are tested against. */
		p.header = o->header;
	}
	progress_init(&pg);
	cancel_catch(false);
	p.progress = progress_update;
	p.userdata = &pg;
	r = vmc_scan_run(&p, (const char *const *)args, (size_t)nargs, &report, &found);
	progress_end(&pg);
	cancel_release();
	if (r < 0)
		goto out;
	fputs(report, stdout);
	r = found ? EXIT_KEY_FOUND : 0;
out:
	free(report);
	vmc_secret_free(vk);
	vmc_image_free(img);
	return r;
}
