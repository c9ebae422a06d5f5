/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt rekey IMAGE: a new volume key and new passphrase, the data re-encrypted in place. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "log.h"
#include "progress.h"

#define WHO_MAX 4200 /* a path and a few words, for prompts and warnings */

/* Option combinations, before the image is opened. */
static int rekey_check(const struct cli_opts *o)
{
	if (o->keep_keyslots && o->new_key_file)
		return usage_error(
		    "--keep-keyslots keeps the passphrase: it takes no --new-key-file");
	if (!o->new_key_file && (o->new_keyfile_offset || o->new_keyfile_size))
		return usage_error(
		    "--new-keyfile-offset and --new-keyfile-size need --new-key-file");
	if (o->public_key && (o->keep_keyslots || o->resume))
		return usage_error("--public-key names the current, public passphrase: a re-key "
				   "replaces it, so --keep-keyslots and --resume (which take the "
				   "new one) do not apply");
	if (is_stdin(o->new_key_file) && is_stdin(o->key_file))
		return usage_error("only one of --key-file and --new-key-file can be - (stdin)");
	if (o->resume && (o->new_key_file || o->keep_keyslots || o->fmt.cipher || o->fmt.key_bits ||
			  o->fmt.sector_size))
		return usage_error("--resume continues with the settings the re-encryption started "
				   "with: --new-key-file, --keep-keyslots, --cipher, --key-size "
				   "and --sector-size do not apply");
	return 0;
}

/* Another passphrase than the one given will stop opening the image: say so, and confirm. */
static int others_check(const struct cli_opts *o, struct vmc_image *img, const char *path)
{
	char warning[WHO_MAX];
	int n = vmc_keyslot_count(img);

	if (n <= 1 || o->batch)
		return 0;
	if (!interactive())
		return usage_error("%s has %d passphrases; re-keying keeps only the one given: add "
				   "--batch-mode to go on without a terminal to confirm",
				   path, n);
	snprintf(warning, sizeof(warning),
		 "WARNING: %s has %d passphrases (key slots). After the re-key only the %s "
		 "passphrase opens it; the other key slots are destroyed.",
		 path, n, o->keep_keyslots ? "given" : "new");
	return confirm(warning);
}

/* Reads the passphrases: the current one, and the new one unless --keep-keyslots or resuming. */
static int read_passphrases(const struct cli_opts *o, const char *path, bool resuming,
			    uint8_t **ret_pass, size_t *ret_len, uint8_t **ret_new,
			    size_t *ret_new_len)
{
	char who[WHO_MAX];
	struct key_source ks;
	int r;

	r = key_source_init(&ks, o, path);
	if (r < 0)
		return r;
	if (resuming) {
		/* A rekey's new passphrase opens both keys (vmcrypt's and cryptsetup's). */
		snprintf(who, sizeof(who), "%s (unfinished re-encryption)", path);
		ks.image = who;
	}
	ks.stdin_busy = is_stdin(o->new_key_file);
	r = passphrase_read(&ks, ret_pass, ret_len);
	if (r < 0 || resuming || o->keep_keyslots)
		return r;
	snprintf(who, sizeof(who), "%s (new passphrase)", path);
	r = new_passphrase_read(o, who, o->new_key_file, ret_new, ret_new_len);
	if (r < 0) {
		vmc_secret_free(*ret_pass);
		*ret_pass = NULL;
	}
	return r;
}

static int run_rekey(struct vmc_image *img, const uint8_t *pass, size_t len,
		     struct vmc_reencrypt_params *p)
{
	struct progress pg;
	int r;

	progress_init(&pg);
	/* SIGINT/SIGTERM: the library stops after the step under way (a clean, resumable state). */
	cancel_catch(false);
	p->progress = progress_update;
	p->userdata = &pg;
	r = vmc_image_rekey(img, pass, len, p);
	progress_end(&pg);
	cancel_release();
	return r;
}

int cmd_rekey(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0];
	struct vmc_reencrypt_params p = {0};
	struct vmc_image *img = NULL;
	uint8_t *pass = NULL, *new_pass = NULL;
	size_t len = 0, new_len = 0;
	bool pending;
	int r;

	(void)nargs;
	r = rekey_check(o);
	if (r == 0)
		r = image_open(o, path, false, &img);
	if (r < 0)
		goto out;
	/*
	 * With --resume and nothing pending, the library still has a say: a LUKS1
	 * image left as LUKS2 by an interrupted re-key is converted back. It
	 * answers -ENOENT when there was nothing to resume.
	 */
	pending = vmc_image_reencrypt_pending(img) || o->resume;
	if (pending && !o->resume) {
		if (o->new_key_file || o->keep_keyslots || o->fmt.cipher || o->fmt.key_bits ||
		    o->fmt.sector_size) {
			r = fail(-EINVAL,
				 "%s has an unfinished re-encryption: finish it first with "
				 "'vmcrypt rekey --resume' and its new passphrase",
				 path);
			goto out;
		}
		verbose("%s has an unfinished re-encryption: resuming it.", path);
	}
	if (!pending && (r = others_check(o, img, path)) < 0)
		goto out;
	r = read_passphrases(o, path, pending, &pass, &len, &new_pass, &new_len);
	if (r < 0)
		goto out;
	p.cipher = o->fmt.cipher;
	p.key_bits = o->fmt.key_bits;
	p.sector_size = o->fmt.sector_size;
	p.resilience = o->resilience;
	p.hash = o->resilience_hash;
	p.hotzone_size = o->hotzone_size;
	p.new_pass = new_pass;
	p.new_pass_len = new_len;
	p.resume_only = o->resume;
	kdf_from_opts(o, &p.kdf);
	if (!pending && p.resilience && strcmp(p.resilience, "none") == 0)
		warn("resilience none: a crash or power loss during the re-encryption loses data; "
		     "only Ctrl-C (SIGINT/SIGTERM) stops it safely");
	r = run_rekey(img, pass, len, &p);
	if (r == -ECANCELED) {
		r = fail(-ECANCELED,
			 "stopped; %s is consistent and opens with the new passphrase. Finish with "
			 "'vmcrypt rekey --resume %s%s%s%s'",
			 path, o->header ? "--header " : "", o->header ? o->header : "",
			 o->header ? " " : "", path);
		goto out;
	}
	if (r == 0)
		verbose("%s re-keyed: new volume key, re-encrypted in place.", path);
out:
	vmc_secret_free(pass);
	vmc_secret_free(new_pass);
	vmc_image_free(img);
	return r;
}
