/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt add-key, remove-key, change-key, kill-slot, erase: the key slots of an image. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"

#define WHO_MAX 4200 /* "key slot N of " + a path + " (new passphrase)" */

/*
 * The new passphrase's key file: --new-key-file or cryptsetup's positional
 * NEW_KEY_FILE (args[1]); NULL means the terminal (asked twice) or a stdin line.
 */
static int new_key_file(const struct cli_opts *o, char **args, int nargs, const char **ret_file)
{
	const char *file = nargs > 1 ? args[1] : o->new_key_file;

	if (nargs > 1 && o->new_key_file)
		return usage_error("give the new key file once: NEW_KEY_FILE or --new-key-file");
	if (!file && (o->new_keyfile_offset || o->new_keyfile_size))
		return usage_error(
		    "--new-keyfile-offset and --new-keyfile-size need a new key file");
	if (is_stdin(file) && is_stdin(o->key_file))
		return usage_error("only one of --key-file and the new key file can be - (stdin)");
	*ret_file = file;
	return 0;
}

/*
 * Reads an existing passphrase (--key-file, the terminal or a stdin line) and
 * unlocks img with it, trying keyslot (-1: every active slot). new_file is the
 * new passphrase's source: when that is stdin, the old one must not be.
 */
static int unlock_existing(const struct cli_opts *o, struct vmc_image *img, const char *path,
			   int keyslot, const char *new_file, int *ret_keyslot)
{
	struct key_source ks;
	uint8_t *pass = NULL;
	size_t len = 0;
	int r;

	r = key_source_init(&ks, o, path);
	if (r < 0)
		return r;
	ks.stdin_busy = is_stdin(new_file);
	r = passphrase_read(&ks, &pass, &len);
	if (r == 0)
		r = vmc_image_unlock(img, pass, len, keyslot, ret_keyslot);
	vmc_secret_free(pass);
	return r;
}

/* A destructive step: --batch-mode, or YES typed on a terminal. */
static int confirm_destruction(const struct cli_opts *o, const char *warning)
{
	if (o->batch)
		return 0;
	if (!interactive())
		return usage_error("no terminal to confirm on; add --batch-mode");
	return confirm(warning);
}

/* Removing the last active key slot needs --force and a confirmation. */
static int last_slot_check(const struct cli_opts *o, const char *path, int slot)
{
	char warning[WHO_MAX];

	if (!o->force)
		return fail(-EINVAL,
			    "key slot %d is the last key slot of %s: without it no passphrase "
			    "can ever decrypt the data; use --force to remove it anyway",
			    slot, path);
	snprintf(warning, sizeof(warning),
		 "WARNING: key slot %d is the last key slot of %s. Once it is removed, no "
		 "passphrase can ever decrypt the data (only a header backup made before could).",
		 slot, path);
	warn("removing the last key slot (%d) of %s", slot, path);
	return confirm_destruction(o, warning);
}

int cmd_add_key(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0], *file = NULL;
	char who[WHO_MAX];
	struct vmc_image *img = NULL;
	struct vmc_kdf_params kdf;
	uint8_t *pass = NULL;
	size_t len = 0;
	int slot = -1, r;

	kdf_from_opts(o, &kdf);
	r = new_key_file(o, args, nargs, &file);
	if (r == 0)
		r = image_open(o, path, false, &img);
	if (r < 0)
		goto out;
	if (o->key_slot >= vmc_keyslot_max(img)) {
		r = usage_error("--key-slot: LUKS%d has key slots 0 to %d",
				vmc_image_luks_version(img), vmc_keyslot_max(img) - 1);
		goto out;
	}
	if (o->key_slot >= 0 && vmc_keyslot_state(img, o->key_slot) != VMC_KEYSLOT_INACTIVE) {
		r = fail(-EINVAL, "key slot %d of %s is in use; pick a free one", o->key_slot,
			 path);
		goto out;
	}
	/* Any existing passphrase proves the right to add one; --key-slot names the new slot. */
	r = unlock_existing(o, img, path, -1, file, NULL);
	if (r < 0)
		goto out;
	snprintf(who, sizeof(who), "the new key slot of %s", path);
	r = new_passphrase_read(o, who, file, &pass, &len);
	if (r == 0)
		r = vmc_keyslot_add(img, o->key_slot, pass, len, &kdf, &slot);
	if (r == 0)
		verbose("Key slot %d created.", slot);
out:
	vmc_secret_free(pass);
	vmc_image_free(img);
	return r;
}

int cmd_change_key(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0], *file = NULL;
	char who[WHO_MAX];
	struct vmc_image *img = NULL;
	struct vmc_kdf_params kdf;
	uint8_t *pass = NULL;
	size_t len = 0;
	int slot = -1, new_slot = -1, r;

	kdf_from_opts(o, &kdf);
	r = new_key_file(o, args, nargs, &file);
	if (r == 0)
		r = image_open(o, path, false, &img);
	/* The old passphrase picks the slot to change (only --key-slot's, when given). */
	if (r == 0)
		r = unlock_existing(o, img, path, o->key_slot, file, &slot);
	if (r < 0)
		goto out;
	snprintf(who, sizeof(who), "key slot %d of %s (new passphrase)", slot, path);
	r = new_passphrase_read(o, who, file, &pass, &len);
	if (r == 0)
		r = vmc_keyslot_change(img, slot, pass, len, &kdf, &new_slot);
	if (r == 0 && new_slot == slot)
		verbose("Key slot %d changed.", slot);
	else if (r == 0)
		verbose("Key slot %d changed: the new passphrase is in key slot %d.", slot,
			new_slot);
out:
	vmc_secret_free(pass);
	vmc_image_free(img);
	return r;
}

int cmd_remove_key(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0];
	struct vmc_image *img = NULL;
	int slot = -1, r;

	(void)nargs;
	r = stdin_check(o, false);
	if (r == 0)
		r = image_open(o, path, false, &img);
	/* The passphrase to remove must open its slot: that is the slot removed. */
	if (r == 0)
		r = unlock_existing(o, img, path, o->key_slot, NULL, &slot);
	if (r == 0 && vmc_keyslot_count(img) <= 1)
		r = last_slot_check(o, path, slot);
	if (r == 0)
		r = vmc_keyslot_kill(img, slot);
	if (r == 0)
		verbose("Key slot %d removed.", slot);
	vmc_image_free(img);
	return r;
}

/* N of kill-slot: a decimal key slot number of img. */
static int parse_slot(const struct vmc_image *img, const char *arg, int *ret_slot)
{
	char *end = NULL;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || errno || v >= (unsigned long)vmc_keyslot_max(img))
		return usage_error("'%s' is not a key slot: LUKS%d has key slots 0 to %d", arg,
				   vmc_image_luks_version(img), vmc_keyslot_max(img) - 1);
	*ret_slot = (int)v;
	return 0;
}

int cmd_kill_slot(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0];
	char warning[WHO_MAX];
	struct vmc_image *img = NULL;
	int slot = -1, r;

	(void)nargs;
	r = image_open(o, path, false, &img);
	if (r == 0)
		r = parse_slot(img, args[1], &slot);
	if (r < 0)
		goto out;
	if (vmc_keyslot_state(img, slot) == VMC_KEYSLOT_INACTIVE) {
		r = fail(-ENOENT, "key slot %d of %s is not in use", slot, path);
		goto out;
	}
	if (vmc_keyslot_state(img, slot) == VMC_KEYSLOT_ACTIVE && vmc_keyslot_count(img) <= 1) {
		r = last_slot_check(o, path, slot);
	} else if (!o->batch && interactive()) {
		snprintf(warning, sizeof(warning),
			 "WARNING: key slot %d of %s will be destroyed: a passphrase that opens "
			 "only this slot will not open the image any more.",
			 slot, path);
		r = confirm(warning);
	}
	if (r == 0)
		r = vmc_keyslot_kill(img, slot);
	if (r == 0)
		verbose("Key slot %d removed.", slot);
out:
	vmc_image_free(img);
	return r;
}

int cmd_erase(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0];
	char warning[WHO_MAX];
	struct vmc_image *img = NULL;
	int r;

	(void)nargs;
	r = image_open(o, path, false, &img);
	if (r < 0)
		goto out;
	snprintf(warning, sizeof(warning),
		 "WARNING: this destroys every key slot of %s (%d active). The data can never "
		 "be decrypted again, with any passphrase; only a header backup made before "
		 "could still open it.",
		 path, vmc_keyslot_count(img));
	r = confirm_destruction(o, warning);
	if (r == 0)
		r = vmc_image_erase(img);
	if (r == 0)
		verbose("All key slots of %s destroyed.", path);
out:
	vmc_image_free(img);
	return r;
}
