/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt encrypt --in-place IMAGE and decrypt --in-place IMAGE, on the re-encryption engine. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "progress.h"

#define WHO_MAX 4200 /* a path and a few words, for warnings */

/* The in-place options, checked before anything is asked or opened. */
static int inplace_check(const struct cli_opts *o, int nargs, bool encrypt)
{
	if (nargs != 1)
		return usage_error("--in-place takes one IMAGE");
	if (o->resume)
		return usage_error("resume an in-place %s with 'vmcrypt rekey --resume IMAGE'",
				   encrypt ? "encryption" : "decryption");
	if (encrypt && !o->header == !o->reduce_size)
		return usage_error("encrypt --in-place needs --header FILE (a new detached header) "
				   "or --reduce-size SIZE (room for the header at the start)");
	if (!encrypt && o->reduce_size)
		return usage_error("--reduce-size applies to encrypt --in-place only");
	return 0;
}

/* Rewriting an image in place: --batch-mode, or YES typed on a terminal. */
static int inplace_confirm(const struct cli_opts *o, const char *warning)
{
	if (o->batch)
		return 0;
	if (!interactive())
		return usage_error("no terminal to confirm on; add --batch-mode");
	return confirm(warning);
}

static void inplace_params(const struct cli_opts *o, struct vmc_reencrypt_params *p,
			   struct progress *pg)
{
	memset(p, 0, sizeof(*p));
	p->resilience = o->resilience;
	p->hash = o->resilience_hash;
	p->hotzone_size = o->hotzone_size;
	p->progress = progress_update;
	p->userdata = pg;
}

/* A stopped run: one line saying that nothing is lost and how to finish. */
static int inplace_stopped(const char *path, const char *header)
{
	return fail(-ECANCELED,
		    "stopped; %s is consistent. Finish with 'vmcrypt rekey --resume %s%s%s%s'",
		    path, header ? "--header " : "", header ? header : "", header ? " " : "", path);
}

/*
 * Refuses to encrypt what is LUKS already: an image with its header inside, or an
 * existing --header file (an unfinished in-place encryption is resumed, not restarted).
 * The probe is quiet: a plain image is what is expected.
 */
static int encrypt_probe(const struct cli_opts *o, const char *path, const char *file, int part)
{
	struct vmc_open_params p = {
	    .header = NULL, .read_only = true, .partition = part, .format = o->format};
	struct vmc_image *img = NULL;
	bool pending;
	int r;

	if (o->header && access(o->header, F_OK) == 0)
		p.header = o->header;
	vmc_set_log(NULL, NULL);
	r = vmc_image_open(file, &p, &img);
	log_install();
	if (r < 0 && p.header)
		return fail(-EINVAL,
			    "%s exists and is not a LUKS header of %s (an in-place encryption cut "
			    "before its header was complete leaves one: remove it and run again)",
			    o->header, path);
	if (r < 0)
		return 0;
	pending = vmc_image_reencrypt_pending(img);
	vmc_image_free(img);
	if (pending)
		return fail(-EINVAL,
			    "%s has an unfinished in-place encryption: resume it with 'vmcrypt "
			    "rekey --resume %s%s%s%s'",
			    path, p.header ? "--header " : "", p.header ? p.header : "",
			    p.header ? " " : "", path);
	return fail(-EINVAL, "%s is a LUKS image already%s%s", path,
		    p.header ? " with header " : "", p.header ? p.header : "");
}

int cmd_encrypt_in_place(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0];
	char warning[WHO_MAX], *base = NULL;
	struct vmc_format_params fp = o->fmt;
	struct vmc_reencrypt_params p;
	struct key_source ks;
	struct progress pg;
	uint8_t *pass = NULL;
	size_t len = 0;
	int part = 0, r;

	r = inplace_check(o, nargs, true);
	if (r == 0)
		r = image_path_parse(o, path, &base, &part);
	if (r == 0)
		r = encrypt_probe(o, path, base, part);
	if (r < 0)
		goto out;
	if (o->reduce_size)
		snprintf(
		    warning, sizeof(warning),
		    "WARNING: %s is encrypted in place. Its data moves up to make room for the "
		    "header and its last %" PRIu64 " bytes are given up: the file system in it "
		    "must have been shrunk first.",
		    path, o->reduce_size);
	else
		snprintf(
		    warning, sizeof(warning),
		    "WARNING: %s is encrypted in place; %s will hold its header, without which "
		    "the data can never be read again.",
		    path, o->header);
	r = inplace_confirm(o, warning);
	if (r == 0)
		r = key_source_init(&ks, o, path);
	if (r < 0)
		goto out;
	ks.verify = true;
	r = passphrase_read(&ks, &pass, &len);
	if (r < 0)
		goto out;
	fp.header = o->header;
	fp.keyslot = o->key_slot;
	fp.partition = part;
	progress_init(&pg);
	inplace_params(o, &p, &pg);
	cancel_catch(false);
	r = vmc_encrypt_in_place(base, &fp, o->reduce_size, o->force, pass, len, &p, NULL);
	progress_end(&pg);
	cancel_release();
	if (r == -ECANCELED)
		r = inplace_stopped(path, o->header);
	else if (r == 0)
		verbose("%s encrypted in place.", path);
out:
	vmc_secret_free(pass);
	free(base);
	return r;
}

int cmd_decrypt_in_place(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0], *header = NULL, *new_header = NULL;
	struct cli_opts oo = *o;
	struct vmc_reencrypt_params p;
	struct vmc_image *img = NULL;
	struct progress pg;
	char warning[WHO_MAX];
	uint8_t *pass = NULL;
	size_t len = 0;
	int r;

	r = inplace_check(o, nargs, false);
	if (r < 0)
		return r;
	/*
	 * As cryptsetup's --decrypt --header: an existing FILE is the image's detached
	 * header; a new one receives the header of an image that has it inside, while
	 * the data moves down over it.
	 */
	if (o->header && access(o->header, F_OK) == 0)
		header = o->header;
	else
		new_header = o->header;
	oo.header = header;
	r = image_open(&oo, path, false, &img);
	if (r < 0)
		goto out;
	snprintf(warning, sizeof(warning),
		 "WARNING: %s is decrypted in place: its data is then stored as plaintext.", path);
	if (!vmc_image_reencrypt_pending(img) && (r = inplace_confirm(o, warning)) < 0)
		goto out;
	r = passphrase_get(o, path, &pass, &len);
	if (r < 0)
		goto out;
	progress_init(&pg);
	inplace_params(o, &p, &pg);
	p.new_header = new_header;
	cancel_catch(false);
	r = vmc_decrypt_in_place(img, pass, len, &p);
	progress_end(&pg);
	cancel_release();
	if (r == -ECANCELED)
		r = inplace_stopped(path, o->header);
	else if (r == 0)
		verbose("%s decrypted in place.", path);
out:
	vmc_secret_free(pass);
	vmc_image_free(img);
	return r;
}
