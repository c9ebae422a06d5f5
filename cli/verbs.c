/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verb table: each verb's arguments, options and help texts, and `help` printed from it. */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "exitcode.h"
#include "log.h"
#include "options.h"
#include "serve.h"
#include "verbs.h"

#define ARG_COLUMN 16
#define HELP_WIDTH 80

/* Prints text as lines shorter than width, broken at spaces. */
static void print_wrapped(FILE *f, const char *text, int width)
{
	const char *line = text, *space;
	int len;

	while (strlen(line) >= (size_t)width) {
		space = line + width - 1;
		while (space > line && *space != ' ')
			space--;
		if (space == line)
			break;
		len = (int)(space - line);
		fprintf(f, "%.*s\n", len, line);
		line = space + 1;
	}
	fprintf(f, "%s\n", line);
}

static int cmd_help(const struct cli_opts *o, char **args, int nargs);

/*
 * Each verb's options in help order; a string replaces the option's generic
 * explanation where the verb gives it a particular meaning. An OPT_INCLUDE row
 * stands for the rows of the verb's include list.
 */

/* The rows create and encrypt share: the new header's format and its first passphrase. */
static const struct verb_opt format_opts[] = {
    {OPT_TYPE, NULL},
    {OPT_CIPHER, NULL},
    {OPT_KEY_SIZE, NULL},
    {OPT_HASH, NULL},
    {OPT_PBKDF, NULL},
    {OPT_ITER_TIME, NULL},
    {OPT_PBKDF_MEMORY, NULL},
    {OPT_PBKDF_PARALLEL, NULL},
    {OPT_PBKDF_FORCE_ITERATIONS, NULL},
    {OPT_SECTOR_SIZE, NULL},
    {OPT_LABEL, NULL},
    {OPT_SUBSYSTEM, NULL},
    {OPT_UUID, NULL},
    {OPT_METADATA_SIZE, NULL},
    {OPT_KEYSLOTS_SIZE, NULL},
    {OPT_HEADER, "write a detached header to FILE"},
    {OPT_KEY_FILE, "new passphrase from FILE (- = stdin), as is"},
    {OPT_PUBLIC_KEY, "the new passphrase is the documented public one; the label says so"},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, "key slot for the passphrase (default 0)"},
    {OPT_VOLUME_KEY_FILE, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt create_opts[] = {
    {OPT_SIZE, "plaintext size (suffix K, M, G, T); required but for IMAGE@N or an NBD export"},
    {OPT_INCLUDE, NULL}, /* format_opts */
    {OPT_FORMAT, "IMAGE's container: raw (default), qcow2, vdi, vmdk, vhdx"},
    {OPT_FORCE, "replace an existing IMAGE (and --header FILE)"},
    {OPT_BATCH_MODE, "with --force: overwrite without asking"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt encrypt_opts[] = {
    {OPT_SIZE, "plaintext size; required unless SRC is a file"},
    {OPT_INCLUDE, NULL}, /* format_opts */
    {OPT_FORCE, "replace an existing DST (and --header FILE); --in-place: a used tail"},
    {OPT_BATCH_MODE, "with --force: overwrite without asking"},
    {OPT_IN_PLACE, "encrypt IMAGE itself (--header or --reduce-size)"},
    {OPT_REDUCE_SIZE, NULL},
    {OPT_RESILIENCE, NULL},
    {OPT_HOTZONE_SIZE, NULL},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, "DST's container: raw (default), qcow2, vdi, vmdk, vhdx"},
    {OPT_SOURCE_FORMAT, NULL},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt decrypt_opts[] = {
    {OPT_IN_PLACE, "decrypt IMAGE itself (with --header: an existing or a new FILE)"},
    {OPT_RESILIENCE, NULL},
    {OPT_HOTZONE_SIZE, NULL},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, "DST's container: raw (default), qcow2, vdi, vmdk, vhdx"},
    {OPT_SOURCE_FORMAT, NULL},
    {OPT_HEADER, "read a detached header from FILE"},
    {OPT_KEY_FILE, NULL},
    {OPT_PUBLIC_KEY, NULL},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, NULL},
    {OPT_FORCE, "overwrite DST if it exists"},
    {OPT_BATCH_MODE, "with --force: overwrite without asking"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt dump_opts[] = {
    {OPT_JSON, "print JSON instead of text"},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "read a detached header from FILE"},
    {OPT_DUMP_VOLUME_KEY, NULL},
    {OPT_KEY_FILE, NULL},
    {OPT_PUBLIC_KEY, NULL},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, NULL},
    {OPT_BATCH_MODE, "with --dump-volume-key: do not ask"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt test_key_opts[] = {
    {OPT_KEY_FILE, NULL},
    {OPT_PUBLIC_KEY, "test the documented public passphrase"},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, NULL},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "read a detached header from FILE"},
    {OPT_VERBOSE, "print which key slot opened"},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt serve_opts[] = {
    {OPT_SOCKET, "listen on the Unix socket PATH (default: a private one)"},
    {OPT_SYSTEMD, "as vmcrypt-serve@.service: its socket; credential or ask-password"},
    {OPT_PORT, NULL},
    {OPT_READ_ONLY, "serve the image read-only"},
    {OPT_ALLOW_DISCARDS, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "read a detached header from FILE"},
    {OPT_KEY_FILE, NULL},
    {OPT_PUBLIC_KEY, NULL},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, NULL},
    {OPT_VERBOSE, "print the nbdkit command line"},
    {OPT_DEBUG, "also nbdkit's debug messages"},
    {OPT_END, NULL},
};

static const struct verb_opt mount_opts[] = {
    {OPT_READ_ONLY, "mount read-only"},
    {OPT_FOREGROUND, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "read a detached header from FILE"},
    {OPT_KEY_FILE, NULL},
    {OPT_PUBLIC_KEY, NULL},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, NULL},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, "also libfuse's request trace (with --foreground)"},
    {OPT_END, NULL},
};

static const struct verb_opt vm_config_opts[] = {
    {OPT_KEY_FILE, "the passphrase file QEMU/libvirt will read (else a placeholder)"},
    {OPT_SYSTEMD, "the systemd user units' set-up and socket (LUKS1 too)"},
    {OPT_HEADER, "detached header (then the serve route)"},
    {OPT_READ_ONLY, "attach the disk read-only"},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt add_key_opts[] = {
    {OPT_KEY_FILE, "an existing passphrase from FILE (- = stdin), as is"},
    {OPT_PUBLIC_KEY, "the existing passphrase is the public one"},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_NEW_KEY_FILE, NULL},
    {OPT_NEW_KEYFILE_OFFSET, NULL},
    {OPT_NEW_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, "key slot for the new passphrase (default: the first free)"},
    {OPT_PBKDF, NULL},
    {OPT_HASH, "PBKDF2 hash of the new key slot (LUKS2 only)"},
    {OPT_ITER_TIME, NULL},
    {OPT_PBKDF_MEMORY, NULL},
    {OPT_PBKDF_PARALLEL, NULL},
    {OPT_PBKDF_FORCE_ITERATIONS, NULL},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE"},
    {OPT_VERBOSE, "print which key slot was created"},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt change_key_opts[] = {
    {OPT_KEY_FILE, "the passphrase to change, from FILE (- = stdin), as is"},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_NEW_KEY_FILE, NULL},
    {OPT_NEW_KEYFILE_OFFSET, NULL},
    {OPT_NEW_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, "change key slot N only (default: the slot the passphrase opens)"},
    {OPT_PBKDF, NULL},
    {OPT_HASH, "PBKDF2 hash of the new key slot (LUKS2 only)"},
    {OPT_ITER_TIME, NULL},
    {OPT_PBKDF_MEMORY, NULL},
    {OPT_PBKDF_PARALLEL, NULL},
    {OPT_PBKDF_FORCE_ITERATIONS, NULL},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE"},
    {OPT_VERBOSE, "print which key slot was changed"},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt remove_key_opts[] = {
    {OPT_KEY_FILE, "the passphrase to remove, from FILE (- = stdin), as is"},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, "remove the passphrase from key slot N only"},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE"},
    {OPT_FORCE, "allow removing the last key slot"},
    {OPT_BATCH_MODE, "with --force: do not ask for confirmation"},
    {OPT_VERBOSE, "print which key slot was removed"},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt kill_slot_opts[] = {
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE"},
    {OPT_FORCE, "allow removing the last key slot"},
    {OPT_BATCH_MODE, "do not ask for confirmation"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt erase_opts[] = {
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE"},
    {OPT_BATCH_MODE, "do not ask for confirmation"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt header_backup_opts[] = {
    {OPT_PARTITION, NULL}, {OPT_FORMAT, NULL}, {OPT_HEADER, "back up the detached header FILE"},
    {OPT_VERBOSE, NULL},   {OPT_DEBUG, NULL},  {OPT_END, NULL},
};

static const struct verb_opt header_restore_opts[] = {
    {OPT_HEADER, "restore into the detached header FILE"},
    {OPT_FORCE, "restore a backup with another UUID or data offset"},
    {OPT_BATCH_MODE, "do not ask for confirmation"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt repair_opts[] = {
    {OPT_PARTITION, NULL}, {OPT_FORMAT, NULL}, {OPT_HEADER, "repair the detached header FILE"},
    {OPT_VERBOSE, NULL},   {OPT_DEBUG, NULL},  {OPT_END, NULL},
};

static const struct verb_opt convert_opts[] = {
    {OPT_TYPE, "luks1 or luks2: the version to convert to (SRC DST: DST is raw LUKS)"},
    {OPT_FORMAT, "IMAGE's container; SRC DST: qcow2 makes DST QEMU's encrypted qcow2"},
    {OPT_PARTITION, "IMAGE only"},
    {OPT_HEADER, "IMAGE only: convert the detached header FILE"},
    {OPT_KEY_FILE, "SRC DST: SRC's passphrase from FILE (- = stdin)"},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, "SRC DST: the key slot of SRC to try (default all)"},
    {OPT_NEW_VOLUME_KEY, NULL},
    {OPT_NEW_KEY_FILE, "with --new-volume-key: its passphrase (default SRC's)"},
    {OPT_NEW_KEYFILE_OFFSET, NULL},
    {OPT_NEW_KEYFILE_SIZE, NULL},
    {OPT_PBKDF, "keyslots made anew (qcow2 DST: pbkdf2 only)"},
    {OPT_HASH, NULL},
    {OPT_ITER_TIME, NULL},
    {OPT_PBKDF_MEMORY, NULL},
    {OPT_PBKDF_PARALLEL, NULL},
    {OPT_PBKDF_FORCE_ITERATIONS, NULL},
    {OPT_FORCE, "SRC DST: replace an existing DST"},
    {OPT_BATCH_MODE, "do not ask for confirmation"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt resize_opts[] = {
    {OPT_NEW_SIZE, "new size of IMAGE (IMAGE@N: of its data); +SIZE adds"},
    {OPT_FORCE, "allow shrinking: the data beyond the new end is lost"},
    {OPT_BATCH_MODE, "with --force: shrink without asking"},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE (IMAGE is its data)"},
    {OPT_VERBOSE, "print the new size"},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt config_opts[] = {
    {OPT_LABEL, NULL},
    {OPT_SUBSYSTEM, NULL},
    {OPT_UUID, "set the header UUID"},
    {OPT_PRIORITY, NULL},
    {OPT_KEY_SLOT, "the key slot whose --priority is set"},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt is_luks_opts[] = {
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "look at the detached header FILE"},
    {OPT_VERBOSE, "say whether IMAGE is LUKS, and if not why"},
    {OPT_END, NULL},
};

static const struct verb_opt uuid_opts[] = {
    {OPT_UUID, "set the header UUID to UUID instead of printing it"},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE"},
    {OPT_END, NULL},
};

static const struct verb_opt token_import_opts[] = {
    {OPT_JSON_FILE, NULL},
    {OPT_TOKEN_ID, "token number (default: the first free one)"},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE"},
    {OPT_VERBOSE, "print the token number"},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt token_export_opts[] = {
    {OPT_TOKEN_ID, "the token to print; required"}, {OPT_PARTITION, NULL}, {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE"},	    {OPT_DEBUG, NULL},	   {OPT_END, NULL},
};

static const struct verb_opt token_remove_opts[] = {
    {OPT_TOKEN_ID, "the token to remove; required"},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt no_opts[] = {
    {OPT_END, NULL},
};

static const struct verb_opt audit_opts[] = {
    {OPT_JSON, "print JSON instead of text"},
    {OPT_ROOT, NULL},
    {OPT_DOMAIN_XML, NULL},
    {OPT_IMAGE, "also check this disk image: its encryption, qcow2 snapshots that keep VM "
		"state, compressed (plaintext) clusters of an encrypted qcow2 (repeatable)"},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt scan_opts[] = {
    {OPT_IMAGE, NULL},
    {OPT_HEADER, "with --image: its detached header; else test the keys found against it"},
    {OPT_KEY_FILE, "with --image: its passphrase from FILE (- = stdin), as is"},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, NULL},
    {OPT_MAX_BIT_ERRORS, NULL},
    {OPT_JSON, "print JSON instead of text"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt rekey_opts[] = {
    {OPT_KEY_FILE, "the current passphrase from FILE (- = stdin)"},
    {OPT_PUBLIC_KEY, "the current passphrase is the documented public one"},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_NEW_KEY_FILE, NULL},
    {OPT_NEW_KEYFILE_OFFSET, NULL},
    {OPT_NEW_KEYFILE_SIZE, NULL},
    {OPT_KEEP_KEYSLOTS, NULL},
    {OPT_RESUME, "only resume (with the new key's passphrase)"},
    {OPT_CIPHER, "new cipher (default: the current one)"},
    {OPT_KEY_SIZE, "new key bits (default: the current size)"},
    {OPT_SECTOR_SIZE, "new sector size (default: the current one)"},
    {OPT_RESILIENCE, NULL},
    {OPT_RESILIENCE_HASH, NULL},
    {OPT_HOTZONE_SIZE, NULL},
    {OPT_PBKDF, NULL},
    {OPT_HASH, "PBKDF2 hash of the new key slot"},
    {OPT_ITER_TIME, NULL},
    {OPT_PBKDF_MEMORY, NULL},
    {OPT_PBKDF_PARALLEL, NULL},
    {OPT_PBKDF_FORCE_ITERATIONS, NULL},
    {OPT_PARTITION, NULL},
    {OPT_FORMAT, NULL},
    {OPT_HEADER, "the detached header FILE"},
    {OPT_BATCH_MODE, "remove other passphrases without asking"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_arg image_arg[] = {
    {"IMAGE", "the encrypted image (a file or a block device)"},
};
static const struct verb_arg new_image_arg[] = {
    {"IMAGE", "the image file to create"},
};
static const struct verb_arg encrypt_args[] = {
    {"SRC", "plain raw image (file or block device), - for stdin"},
    {"DST", "the encrypted image to create"},
};
static const struct verb_arg decrypt_args[] = {
    {"SRC", "the encrypted image"},
    {"DST", "plain raw image to create, - for stdout"},
};
static const struct verb_arg convert_args[] = {
    {"IMAGE | SRC", "the image to convert in place, or to read (encrypted qcow2 or raw LUKS)"},
    {"DST", "the image to create in the other form"},
};
static const struct verb_arg mount_args[] = {
    {"IMAGE", "the encrypted image"},
    {"DIR", "an existing, empty directory to mount on"},
};
static const struct verb_arg scan_args[] = {
    {"FILE", "dump, saved VM state, swap, image or device (repeatable)"},
};
static const struct verb_arg new_key_args[] = {
    {"IMAGE", "the encrypted image (a file or a block device)"},
    {"NEW_KEY_FILE", "the new passphrase from a file, as --new-key-file"},
};
static const struct verb_arg kill_slot_args[] = {
    {"IMAGE", "the encrypted image (a file or a block device)"},
    {"N", "the key slot to remove"},
};
static const struct verb_arg header_backup_args[] = {
    {"IMAGE", "the encrypted image (a file or a block device)"},
    {"FILE", "the backup file to create (mode 0600)"},
};
static const struct verb_arg header_restore_args[] = {
    {"IMAGE", "the encrypted image (a file or a block device)"},
    {"FILE", "a header backup (vmcrypt or cryptsetup luksHeaderBackup)"},
};
static const struct verb_arg resize_args[] = {
    {"IMAGE", "the encrypted image file, or IMAGE@N: partition N of a disk image"},
};
static const struct verb_arg help_args[] = {
    {"VERB", "the verb to explain"},
    {"SUBVERB", "its sub-verb (header and token have some)"},
};

static const struct verb verbs[] = {
    {
	.name = "create",
	.run = cmd_create,
	.synopsis = "--size SIZE IMAGE",
	.summary = "create a new, empty encrypted image",
	.description =
	    "Creates IMAGE as a sparse file with a new LUKS header (LUKS2 unless --type luks1) and "
	    "SIZE bytes of plaintext, all zero. The passphrase is asked twice on a terminal. "
	    "IMAGE@N formats partition N of an existing disk image instead (needs --force); "
	    "without --size the image fills the partition (or an NBD export).",
	.min_args = 1,
	.max_args = 1,
	.args = new_image_arg,
	.opts = create_opts,
	.include = format_opts,
    },
    {
	.name = "encrypt",
	.run = cmd_encrypt,
	.synopsis = "SRC DST | --in-place IMAGE",
	.summary = "copy a plain raw image into a new encrypted image, or encrypt in place",
	.description =
	    "Creates the encrypted image DST with SRC's size (rounded up to the sector size) and "
	    "copies SRC's contents into it. A failed or cancelled copy removes DST. With "
	    "--in-place, encrypts the plain image IMAGE itself into LUKS2, crash-safe: with a "
	    "new detached header (--header FILE), or by moving the data up to make room for the "
	    "header (--reduce-size SIZE: the last SIZE bytes are given up, so shrink the file "
	    "system first). A stopped or interrupted run resumes with vmcrypt rekey --resume. "
	    "DST@N writes into partition N of an existing disk image (needs --force).",
	.min_args = 1,
	.max_args = 2,
	.args = encrypt_args,
	.opts = encrypt_opts,
	.include = format_opts,
    },
    {
	.name = "decrypt",
	.run = cmd_decrypt,
	.synopsis = "SRC DST | --in-place IMAGE",
	.summary = "copy an encrypted image out to a plain raw image, or decrypt in place",
	.description = "Unlocks SRC and writes its plaintext to DST. A regular file DST is created "
		       "with mode 0600 and written sparse (zero blocks become holes); it is "
		       "removed if the copy fails or is cancelled. With --in-place, decrypts IMAGE "
		       "itself, crash-safe: with its detached header (--header FILE), or, when the "
		       "header is inside, moving the data down over it while a new --header FILE "
		       "holds the header. A stopped or interrupted run resumes with vmcrypt rekey "
		       "--resume.",
	.min_args = 1,
	.max_args = 2,
	.args = decrypt_args,
	.opts = decrypt_opts,
    },
    {
	.name = "dump",
	.run = cmd_dump,
	.synopsis = "IMAGE",
	.summary = "describe the LUKS header",
	.description = "Prints IMAGE's LUKS header as cryptsetup luksDump does, or as JSON. With "
		       "--dump-volume-key, also unlocks IMAGE and prints the volume key: a secret "
		       "that opens the image without any passphrase.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = dump_opts,
    },
    {
	.name = "test-key",
	.run = cmd_test_key,
	.synopsis = "IMAGE",
	.summary = "check that a passphrase or key file unlocks IMAGE",
	.description = "Tries the passphrase (or key file) on IMAGE's key slots. Exit status 0 if "
		       "one opens, 2 if none does. Prints nothing unless --verbose.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = test_key_opts,
    },
    {
	.name = "rekey",
	.run = cmd_rekey,
	.synopsis = "IMAGE",
	.summary = "replace the volume key and passphrase, re-encrypting in place",
	.description =
	    "Generates a new volume key and re-encrypts IMAGE's data in place in cryptsetup's "
	    "LUKS2 re-encryption format; the new passphrase (--new-key-file, or asked twice) "
	    "replaces every old one, or with --keep-keyslots the passphrase given is kept. "
	    "--cipher, --key-size and --sector-size may change too. Safe against crashes and "
	    "power loss at every step (resilience checksum or journal). Ctrl-C or SIGTERM stops "
	    "after the current step (exit status 9): a stopped or interrupted rekey resumes with "
	    "--resume (or cryptsetup reencrypt --resume-only), and meanwhile the new passphrase "
	    "reads the plaintext. A LUKS1 image is LUKS2 while re-keyed, LUKS1 again at the end.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = rekey_opts,
    },
    {
	.name = "serve",
	.run = cmd_serve,
	.synopsis = "IMAGE",
	.summary = "serve the plaintext over NBD (nbdkit) to QEMU or libvirt",
	.description =
	    "Asks the passphrase and runs nbdkit with the vmcrypt plugin in the foreground, on a "
	    "Unix socket (default $XDG_RUNTIME_DIR/vmcrypt/NAME.sock, in a directory only you can "
	    "enter) or on a TCP port of 127.0.0.1, which any local user can reach. Prints the QEMU "
	    "-blockdev/-drive "
	    "arguments and a libvirt <disk> element. Ctrl-C or SIGTERM stops it after the image "
	    "is flushed. Discards are refused unless --allow-discards; they then free the space of "
	    "whole sectors, as dm-crypt's allow_discards does (which shows which blocks are "
	    "unused). Started by systemd (socket activation, LISTEN_FDS) it serves on the "
	    "socket it was given; --systemd is how vmcrypt-serve@.service runs it: the "
	    "passphrase is the credential vmcrypt.passphrase, else asked by "
	    "systemd-ask-password.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = serve_opts,
    },
    {
	.name = "mount",
	.run = cmd_mount,
	.synopsis = "IMAGE DIR",
	.summary = "mount the plaintext as DIR/disk.raw and DIR/disk.vmdk (FUSE)",
	.description =
	    "Asks the passphrase and mounts a FUSE file system on DIR holding disk.raw, the "
	    "plaintext disk (a raw image for any virtualiser), and disk.vmdk, a VMDK descriptor "
	    "of it for VirtualBox. Runs in the background unless --foreground; fusermount3 -u "
	    "DIR or SIGTERM unmounts after the image is flushed.",
	.min_args = 2,
	.max_args = 2,
	.args = mount_args,
	.opts = mount_opts,
    },
    {
	.name = "qemu-args",
	.run = cmd_qemu_args,
	.synopsis = "IMAGE",
	.summary = "print the QEMU arguments that open IMAGE",
	.description =
	    "For a LUKS1 image, QEMU's own luks driver with the passphrase in a file (--key-file); "
	    "for LUKS2 (or a detached header), the vmcrypt serve command and the NBD arguments "
	    "(--systemd: the vmcrypt-serve@ user units' set-up and socket). Reads only the "
	    "header.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = vm_config_opts,
    },
    {
	.name = "libvirt-xml",
	.run = cmd_libvirt_xml,
	.synopsis = "IMAGE",
	.summary = "print the libvirt <disk> element (and secret) for IMAGE",
	.description =
	    "For a LUKS1 image, a <disk> with <encryption format='luks'> and the virsh commands "
	    "that define its passphrase secret; for LUKS2 (or a detached header), the vmcrypt "
	    "serve command and a <disk type='network'> element. With --systemd, the commands "
	    "that set up the vmcrypt-serve@ user units instead, and their socket. Reads only "
	    "the header.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = vm_config_opts,
    },
    {
	.name = "audit",
	.run = cmd_audit,
	.synopsis = "",
	.summary = "check this host (or a copy) for ways VM keys leak to disk",
	.description =
	    "Checks swap, hibernation, core and crash dumps, freed-memory wiping, KSM, libvirt "
	    "settings, save and snapshot files and domains (file-backed guest RAM, qcow2 "
	    "snapshots with VM state, virtiofs), running QEMU processes (memory backends, "
	    "-incoming, migration settings), VirtualBox saved states, Xen ballooning, and the "
	    "images given with --image. Each check prints PASS, WARN, FAIL or SKIP with a "
	    "line saying why and, for WARN and FAIL, how to fix it. Exit status 10 when a check "
	    "FAILs. Run it as root to see every process and file.",
	.min_args = 0,
	.max_args = 0,
	.args = NULL,
	.opts = audit_opts,
    },
    {
	.name = "scan",
	.run = cmd_scan,
	.synopsis = "FILE...",
	.summary = "find key material in memory dumps, saved VM states, swap or disks",
	.description =
	    "With --image, searches FILE for IMAGE's volume key, each of its halves and their AES "
	    "encryption and decryption schedules (as dm-crypt, OpenSSL and QEMU keep them). "
	    "Without, searches for any AES-128/192/256 key schedule, tolerating --max-bit-errors "
	    "flipped bits; with --header, pairs the keys found into volume key candidates and "
	    "tests them against that LUKS header. Prints file, offset and what was found, never "
	    "key bytes. Exit status 11 when something was found.",
	.min_args = 1,
	.max_args = VERB_ARGS_ANY,
	.args = scan_args,
	.opts = scan_opts,
    },
    {
	.name = "add-key",
	.run = cmd_add_key,
	.synopsis = "IMAGE [NEW_KEY_FILE]",
	.summary = "add a passphrase or key file in a free key slot",
	.description =
	    "Unlocks IMAGE with an existing passphrase (--key-file or the terminal), then stores "
	    "a new one (NEW_KEY_FILE, --new-key-file, or asked twice on the terminal) in a free "
	    "key slot, or in --key-slot N, with its own PBKDF and cost. The key material is "
	    "written and synced before the header that names it.",
	.min_args = 1,
	.max_args = 2,
	.args = new_key_args,
	.opts = add_key_opts,
    },
    {
	.name = "remove-key",
	.run = cmd_remove_key,
	.synopsis = "IMAGE",
	.summary = "remove the key slot a passphrase opens",
	.description =
	    "Unlocks IMAGE with the passphrase to remove and destroys the key slot it opened. "
	    "The last key slot is removed only with --force, after a confirmation (on a "
	    "terminal, unless --batch-mode): without any key slot the data is lost.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = remove_key_opts,
    },
    {
	.name = "change-key",
	.run = cmd_change_key,
	.synopsis = "IMAGE [NEW_KEY_FILE]",
	.summary = "replace a passphrase, atomically",
	.description =
	    "Unlocks IMAGE with the old passphrase and replaces it by the new one (NEW_KEY_FILE, "
	    "--new-key-file, or asked twice on the terminal). At every instant one of the two "
	    "opens the image. LUKS2 keeps the key slot number; LUKS1 moves the passphrase to a "
	    "free key slot.",
	.min_args = 1,
	.max_args = 2,
	.args = new_key_args,
	.opts = change_key_opts,
    },
    {
	.name = "kill-slot",
	.run = cmd_kill_slot,
	.synopsis = "IMAGE N",
	.summary = "remove key slot N (no passphrase needed)",
	.description =
	    "Destroys key slot N of IMAGE. On a terminal this asks for confirmation unless "
	    "--batch-mode. The last key slot is removed only with --force: without any key slot "
	    "the data is lost.",
	.min_args = 2,
	.max_args = 2,
	.args = kill_slot_args,
	.opts = kill_slot_opts,
    },
    {
	.name = "erase",
	.run = cmd_erase,
	.synopsis = "IMAGE",
	.summary = "destroy every key slot (crypto-shred)",
	.description =
	    "Removes every key slot of IMAGE and overwrites their key material: nothing can "
	    "decrypt the data any more, except a header backup made before. Asks for "
	    "confirmation on a terminal; without one, --batch-mode is required.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = erase_opts,
    },
    {
	.name = "header backup",
	.run = cmd_header_backup,
	.synopsis = "IMAGE FILE",
	.summary = "save the LUKS header and key slots in FILE",
	.description =
	    "Copies IMAGE's header region (both LUKS2 metadata copies and the key slots area, or "
	    "the LUKS1 header and key material) into the new file FILE, mode 0600. The file "
	    "opens the image with the passphrases of today: keep it as secret as they are.",
	.min_args = 2,
	.max_args = 2,
	.args = header_backup_args,
	.opts = header_backup_opts,
    },
    {
	.name = "header restore",
	.run = cmd_header_restore,
	.synopsis = "IMAGE FILE",
	.summary = "put a header backup back onto IMAGE",
	.description =
	    "Writes the header backup FILE (from vmcrypt or cryptsetup luksHeaderBackup) over "
	    "IMAGE's header, key material first and the metadata last. A backup of another image "
	    "(other UUID or data offset) is refused unless --force. Asks for confirmation on a "
	    "terminal; without one, --batch-mode is required.",
	.min_args = 2,
	.max_args = 2,
	.args = header_restore_args,
	.opts = header_restore_opts,
    },
    {
	.name = "repair",
	.run = cmd_repair,
	.synopsis = "IMAGE",
	.summary = "rewrite a damaged or outdated LUKS2 header copy",
	.description =
	    "Checks both LUKS2 header copies and, when one is damaged or outdated, rewrites both "
	    "from the valid one. Prints what it found and did.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = repair_opts,
    },
    {
	.name = "convert",
	.run = cmd_convert,
	.synopsis = "--type TYPE IMAGE | SRC DST (--type TYPE | --format qcow2)",
	.summary = "convert a header between LUKS1 and LUKS2, or an image between qcow2 and LUKS",
	.description =
	    "With IMAGE: rewrites its header as LUKS1 or LUKS2 (--type), keeping every key slot "
	    "and the data where they are or relocating key material as needed; QEMU's LUKS1 "
	    "layout becomes a LUKS2 header cryptsetup accepts. The old header region is "
	    "journalled next to the header until the new one is committed. Asks for "
	    "confirmation on a terminal; without one, --batch-mode is required. With SRC DST: "
	    "writes the new image DST holding SRC's plaintext in the other encrypted form, "
	    "re-encrypted in one stream, never as plaintext on disk: QEMU's encrypted qcow2 SRC "
	    "becomes a raw LUKS1 or LUKS2 image (--type; the active disk, not internal "
	    "snapshots; a backing chain is refused), a raw LUKS SRC becomes a thin encrypted "
	    "qcow2 (--format qcow2). The volume key stays, and with it SRC's passphrases where "
	    "DST's header can hold them (a LUKS2 SRC's qcow2 gets one key slot, for the "
	    "passphrase given), unless --new-volume-key: a fresh key, one key slot. A failed or "
	    "cancelled conversion removes DST; SRC is never changed.",
	.min_args = 1,
	.max_args = 2,
	.args = convert_args,
	.opts = convert_opts,
    },
    {
	.name = "resize",
	.run = cmd_resize,
	.synopsis = "--size SIZE|+SIZE IMAGE",
	.summary = "grow (or with --force shrink) an image and its data segment",
	.description =
	    "Sets the size of the image file IMAGE to SIZE bytes, or adds SIZE with +SIZE. "
	    "Growing extends the file sparsely (nothing is written); a LUKS1 or dynamic LUKS2 data "
	    "segment grows with it, a LUKS2 segment of fixed size is set to the new end in a "
	    "crash-safe header commit. For IMAGE@N (a partition of a disk image, which keeps its "
	    "size) SIZE is the size of the data segment, up to the partition's end. SIZE must be "
	    "a multiple of the sector size. Shrinking needs --force and a confirmation (on a "
	    "terminal, unless --batch-mode); it cuts off the end of the data, so shrink the file "
	    "system inside first: that is yours to do. Never into the header or key slots. A VM "
	    "image container (qcow2, ...) is resized with qemu-img resize.",
	.min_args = 1,
	.max_args = 1,
	.args = resize_args,
	.opts = resize_opts,
    },
    {
	.name = "config",
	.run = cmd_config,
	.synopsis = "IMAGE",
	.summary = "set the label, subsystem, UUID or a key slot priority",
	.description =
	    "Changes IMAGE's LUKS2 label and subsystem, its UUID (LUKS1 too), or with "
	    "--priority and --key-slot the priority of a key slot: prefer (tried first), normal, "
	    "or ignore (opened only when named by --key-slot).",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = config_opts,
    },
    {
	.name = "is-luks",
	.run = cmd_is_luks,
	.synopsis = "IMAGE",
	.summary = "exit status 0 if IMAGE is a LUKS image, 1 if not",
	.description = "Reads IMAGE's header, as cryptsetup isLuks does: exit status 0 when it is "
		       "a LUKS1 or LUKS2 header vmcrypt can open, 1 when it is not (no LUKS "
		       "magic, a corrupted or unsupported header, or an unreadable file). Prints "
		       "nothing unless --verbose, which says which and why.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = is_luks_opts,
    },
    {
	.name = "uuid",
	.run = cmd_uuid,
	.synopsis = "IMAGE",
	.summary = "print the header UUID (or set it with --uuid)",
	.description = "Prints IMAGE's LUKS header UUID on a line, as cryptsetup luksUUID does; "
		       "with --uuid UUID, writes that UUID into the header instead (as vmcrypt "
		       "config --uuid).",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = uuid_opts,
    },
    {
	.name = "token import",
	.run = cmd_token_import,
	.synopsis = "IMAGE",
	.summary = "add a LUKS2 token from JSON",
	.description =
	    "Reads a token (a JSON object with a \"type\" string and a \"keyslots\" list) from "
	    "--json-file or standard input and stores it in the first free token number, or in "
	    "--token-id N.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = token_import_opts,
    },
    {
	.name = "token export",
	.run = cmd_token_export,
	.synopsis = "IMAGE --token-id N",
	.summary = "print a LUKS2 token as JSON",
	.description = "Prints token N of IMAGE as JSON, as cryptsetup token export does.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = token_export_opts,
    },
    {
	.name = "token remove",
	.run = cmd_token_remove,
	.synopsis = "IMAGE --token-id N",
	.summary = "remove a LUKS2 token",
	.description = "Removes token N from IMAGE's LUKS2 header.",
	.min_args = 1,
	.max_args = 1,
	.args = image_arg,
	.opts = token_remove_opts,
    },
    {
	.name = "help",
	.run = cmd_help,
	.synopsis = "[VERB [SUBVERB]]",
	.summary = "show this help, or the help of VERB",
	.description = "Lists the verbs, or explains VERB with its arguments and options.",
	.min_args = 0,
	.max_args = 2,
	.args = help_args,
	.opts = no_opts,
    },
};

#define VERB_COUNT (sizeof(verbs) / sizeof(verbs[0]))

static const struct verb *verb_find(const char *name)
{
	size_t i;

	for (i = 0; i < VERB_COUNT; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

const struct verb *verb_lookup(char **words, int nwords, int *ret_used)
{
	const struct verb *v = NULL;
	char name[64];

	if (nwords >= 2 &&
	    snprintf(name, sizeof(name), "%s %s", words[0], words[1]) < (int)sizeof(name))
		v = verb_find(name);
	*ret_used = v ? 2 : 1;
	return v ? v : verb_find(words[0]);
}

int verb_unknown(const char *word)
{
	char subs[256] = "";
	size_t i, n = strlen(word), len = 0;

	for (i = 0; i < VERB_COUNT; i++)
		if (strncmp(verbs[i].name, word, n) == 0 && verbs[i].name[n] == ' ' &&
		    len < sizeof(subs))
			len += (size_t)snprintf(subs + len, sizeof(subs) - len, "%s%s",
						len ? ", " : "", verbs[i].name + n + 1);
	if (len)
		return usage_error("'%s' needs one of: %s", word, subs);
	return usage_error("unknown verb '%s'", word);
}

void verbs_usage(FILE *f)
{
	char left[64];
	size_t i;

	fputs("Usage: vmcrypt VERB [options] ARGS...\n       vmcrypt VERB --help\n       vmcrypt "
	      "--version\n\nLUKS1/LUKS2 encrypted VM disk images, without root or "
	      "device-mapper.\n\nVerbs:\n",
	      f);
	for (i = 0; i < VERB_COUNT; i++) {
		snprintf(left, sizeof(left), "%s %s", verbs[i].name, verbs[i].synopsis);
		if (strlen(left) > 26)
			fprintf(f, "  %s\n  %-26s %s\n", left, "", verbs[i].summary);
		else
			fprintf(f, "  %-26s %s\n", left, verbs[i].summary);
	}
	fputs("\n", f);
	exit_status_print(f);
	fputs("\nRun 'vmcrypt VERB --help' for the options of a verb; see also vmcrypt(1).\n", f);
}

void verb_help(FILE *f, const struct verb *v)
{
	int i;

	fprintf(f, "Usage: vmcrypt %s%s %s\n\n", v->name,
		v->opts[0].id == OPT_END ? "" : " [options]", v->synopsis);
	print_wrapped(f, v->description, HELP_WIDTH);
	fputc('\n', f);
	if (v->max_args > 0)
		fputs("Arguments:\n", f);
	/* A repeating argument (VERB_ARGS_ANY) is described once. */
	for (i = 0; i < v->max_args && (v->max_args != VERB_ARGS_ANY || i < 1); i++)
		fprintf(f, "  %-*s%s\n", ARG_COLUMN, v->args[i].name, v->args[i].help);
	if (v->opts[0].id == OPT_END)
		return;
	fputs("\n", f);
	opts_print_help(f, v);
}

static int cmd_help(const struct cli_opts *o, char **args, int nargs)
{
	const struct verb *v;
	int used = 0;

	(void)o;
	if (nargs == 0) {
		verbs_usage(stdout);
		return 0;
	}
	v = verb_lookup(args, nargs, &used);
	if (!v)
		return verb_unknown(args[0]);
	if (used < nargs)
		return usage_error("unexpected argument '%s'", args[used]);
	verb_help(stdout, v);
	return 0;
}
