/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt header backup/restore, repair, convert, config, is-luks, uuid: the header as a whole. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "exitcode.h"
#include "log.h"

#define WARNING_MAX 8400 /* a warning naming two paths */

int cmd_header_backup(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0], *file = args[1];
	struct vmc_image *img = NULL;
	struct stat st;
	int r;

	(void)nargs;
	/* A backup is as secret as the header: never overwrite a file that may be one. */
	if (lstat(file, &st) == 0)
		return fail(-EINVAL, "%s exists; a header backup is written to a new file only",
			    file);
	r = image_open(o, path, true, &img);
	if (r == 0)
		r = vmc_header_backup(img, file);
	if (r == 0)
		verbose("Header of %s saved in %s.", path, file);
	vmc_image_free(img);
	return r;
}

int cmd_header_restore(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0], *file = args[1];
	char warning[WARNING_MAX];
	int r;

	(void)nargs;
	snprintf(warning, sizeof(warning),
		 "WARNING: this replaces the LUKS header of %s by the backup in %s: passphrases "
		 "added since the backup stop working, removed ones work again.",
		 o->header ? o->header : path, file);
	if (!o->batch && !interactive())
		return usage_error("no terminal to confirm on; add --batch-mode");
	if (!o->batch) {
		r = confirm(warning);
		if (r < 0)
			return r;
	}
	/* The library checks the backup's UUID and data offset (unless --force). */
	r = vmc_header_restore(path, o->header, file, o->force);
	if (r == 0)
		verbose("Header of %s restored from %s.", path, file);
	return r;
}

int cmd_repair(const struct cli_opts *o, char **args, int nargs)
{
	struct vmc_image *img = NULL;
	char *report = NULL;
	int r;

	(void)nargs;
	r = image_open(o, args[0], false, &img);
	if (r == 0)
		r = vmc_image_repair(img, &report);
	if (r == 0 && report)
		printf("%s\n", report);
	free(report);
	vmc_image_free(img);
	return r;
}

int cmd_convert(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0];
	char warning[WARNING_MAX];
	struct vmc_image *img = NULL;
	int to = o->fmt.luks_version, r;

	if (nargs == 2)
		return cmd_convert_copy(o, args, nargs);
	if (o->new_volume_key || o->new_key_file || o->key_file)
		return usage_error("--new-volume-key, --new-key-file and --key-file belong to "
				   "convert SRC DST; the in-place header conversion needs no "
				   "passphrase");
	if (to == 0)
		return usage_error("--type luks1 or --type luks2 is required");
	r = image_open(o, path, false, &img);
	if (r < 0)
		goto out;
	if (vmc_image_luks_version(img) == to) {
		r = fail(-EINVAL, "%s is already LUKS%d", path, to);
		goto out;
	}
	snprintf(warning, sizeof(warning),
		 "WARNING: this converts the header of %s from LUKS%d to LUKS%d in place. Keep a "
		 "header backup (vmcrypt header backup) until the result is checked.",
		 o->header ? o->header : path, vmc_image_luks_version(img), to);
	if (!o->batch && !interactive()) {
		r = usage_error("no terminal to confirm on; add --batch-mode");
		goto out;
	}
	if (!o->batch && (r = confirm(warning)) < 0)
		goto out;
	/* Crash-safe in the library: the old header region is journalled next to the header. */
	r = vmc_image_convert(img, to);
	if (r == 0)
		verbose("%s converted to LUKS%d.", path, to);
out:
	vmc_image_free(img);
	return r;
}

static int config_check(const struct cli_opts *o)
{
	if (!o->fmt.label && !o->fmt.subsystem && !o->fmt.uuid && o->priority < 0)
		return usage_error("nothing to change: give --label, --subsystem, --uuid or "
				   "--priority");
	if (o->priority >= 0 && o->key_slot < 0)
		return usage_error("--priority needs --key-slot");
	if (o->priority < 0 && o->key_slot >= 0)
		return usage_error("--key-slot needs --priority");
	return 0;
}

int cmd_config(const struct cli_opts *o, char **args, int nargs)
{
	static const char *const priorities[] = {"ignore", "normal", "prefer"};
	struct vmc_image *img = NULL;
	int r;

	(void)nargs;
	r = config_check(o);
	if (r == 0)
		r = image_open(o, args[0], false, &img);
	/* One crash-safe header commit per change. */
	if (r == 0 && o->fmt.uuid)
		r = vmc_image_set_uuid(img, o->fmt.uuid);
	if (r == 0 && (o->fmt.label || o->fmt.subsystem))
		r = vmc_image_set_label(img, o->fmt.label, o->fmt.subsystem);
	if (r == 0 && o->priority >= 0)
		r = vmc_keyslot_set_priority(img, o->key_slot, o->priority);
	if (r == 0 && o->priority >= 0)
		verbose("Key slot %d priority: %s.", o->key_slot, priorities[o->priority]);
	vmc_image_free(img);
	return r;
}

/*
 * Exit status 0 when IMAGE holds a LUKS header vmcrypt reads, 1 when not (as
 * cryptsetup isLuks): not LUKS, corrupted, unsupported, or unreadable. Silent
 * unless --verbose, which says which and why.
 */
int cmd_is_luks(const struct cli_opts *o, char **args, int nargs)
{
	struct vmc_image *img = NULL;
	int r;

	(void)nargs;
	log_set_quiet(true);
	r = image_open(o, args[0], true, &img);
	log_set_quiet(false);
	if (r < 0) {
		const char *why = log_quiet_error();

		verbose("%s is not a LUKS image (%s).", args[0], why ? why : vmc_strerror(r));
		return EXIT_USAGE;
	}
	verbose("%s is a LUKS%d image.", args[0], vmc_image_luks_version(img));
	vmc_image_free(img);
	return 0;
}

/* Prints IMAGE's header UUID, or with --uuid sets it (cryptsetup luksUUID). */
int cmd_uuid(const struct cli_opts *o, char **args, int nargs)
{
	struct vmc_image *img = NULL;
	const char *uuid;
	int r;

	(void)nargs;
	r = image_open(o, args[0], !o->fmt.uuid, &img);
	if (r == 0 && o->fmt.uuid) {
		r = vmc_image_set_uuid(img, o->fmt.uuid);
		if (r == 0)
			verbose("%s: UUID set to %s.", args[0], o->fmt.uuid);
	} else if (r == 0) {
		uuid = vmc_image_uuid(img);
		puts(uuid ? uuid : "");
	}
	vmc_image_free(img);
	return r;
}
