/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vmcrypt convert SRC DST: QEMU's encrypted qcow2 into a raw LUKS image (--type) or a raw
 * LUKS image into an encrypted qcow2 (--format qcow2), re-encrypted in one stream.
 */
#include <errno.h>
#include <string.h>

#include "common.h"
#include "log.h"
#include "progress.h"

#define WHO_MAX 4200 /* a path and a few words, for prompts */

/* Option combinations, before anything is opened. */
static int convert_copy_check(const struct cli_opts *o, bool to_qcow2)
{
	if (!to_qcow2 && o->fmt.luks_version == 0)
		return usage_error("convert SRC DST needs --type luks1|luks2 (a raw LUKS DST from "
				   "an encrypted qcow2) or --format qcow2 (the other way)");
	if (to_qcow2 && o->fmt.luks_version)
		return usage_error("--format qcow2 writes QEMU's encrypted qcow2, which holds a "
				   "LUKS1 header: no --type");
	if (o->format && !to_qcow2)
		return usage_error("--format takes only qcow2 here (DST's form)");
	if (o->header || o->partition)
		return usage_error("convert SRC DST takes no --header or --partition");
	if (!o->new_volume_key && o->new_key_file)
		return usage_error(
		    "--new-key-file is the passphrase of --new-volume-key's keyslot");
	if (!o->new_key_file && (o->new_keyfile_offset || o->new_keyfile_size))
		return usage_error(
		    "--new-keyfile-offset and --new-keyfile-size need --new-key-file");
	if (is_stdin(o->new_key_file) && is_stdin(o->key_file))
		return usage_error("only one of --key-file and --new-key-file can be - (stdin)");
	return 0;
}

/* The new keyslot's passphrase: --new-key-file (with --new-volume-key), else none. */
static int read_new_pass(const struct cli_opts *o, const char *dst, uint8_t **ret_pass,
			 size_t *ret_len)
{
	char who[WHO_MAX];

	if (!o->new_key_file)
		return 0;
	snprintf(who, sizeof(who), "%s (new passphrase)", dst);
	return new_passphrase_read(o, who, o->new_key_file, ret_pass, ret_len);
}

int cmd_convert_copy(const struct cli_opts *o, char **args, int nargs)
{
	const char *src = args[0], *dst = args[1];
	bool to_qcow2 = o->format && strcmp(o->format, "qcow2") == 0, exists = false;
	struct vmc_convert_params p = {0};
	struct vmc_image *img = NULL;
	struct cli_opts so = *o;
	struct key_source ks;
	struct progress pg;
	uint8_t *pass = NULL, *new_pass = NULL;
	size_t len = 0, new_len = 0;
	int r;

	(void)nargs;
	r = convert_copy_check(o, to_qcow2);
	if (r == 0)
		r = stdin_check(o, false);
	if (r == 0)
		r = same_file_check(src, dst);
	if (r == 0)
		r = output_check(o, dst, &exists);
	/* --format names DST's form; SRC is found by its magic (a qcow2 opened natively). */
	so.format = NULL;
	if (r == 0)
		r = image_open(&so, src, true, &img);
	if (r == 0)
		r = key_source_init(&ks, o, src);
	if (r < 0)
		goto out;
	ks.stdin_busy = is_stdin(o->new_key_file);
	if ((r = passphrase_read(&ks, &pass, &len)) < 0 ||
	    (r = read_new_pass(o, dst, &new_pass, &new_len)) < 0)
		goto out;
	p.luks_version = o->fmt.luks_version;
	p.qcow2 = to_qcow2;
	p.new_volume_key = o->new_volume_key;
	p.new_pass = new_pass;
	p.new_pass_len = new_len;
	p.overwrite = exists;
	kdf_from_opts(o, &p.kdf);
	progress_init(&pg);
	p.progress = progress_update;
	p.userdata = &pg;
	/* Ctrl-C: the library stops the stream, removes DST and answers -ECANCELED. */
	cancel_catch(false);
	r = vmc_image_convert_copy(img, pass, len, o->key_slot, dst, &p);
	progress_end(&pg);
	cancel_release();
	if (r == 0)
		verbose("%s written from %s%s.", dst, src,
			o->new_volume_key ? " with a new volume key" : "");
out:
	vmc_secret_free(pass);
	vmc_secret_free(new_pass);
	vmc_image_free(img);
	return r;
}
