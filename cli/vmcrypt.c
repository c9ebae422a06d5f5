/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt: main and the verb table, from which `help` and `VERB --help` are printed. */
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "exitcode.h"
#include "log.h"
#include "options.h"
#include "serve.h"
#include "vmcrypt.h"

#ifndef VMCRYPT_VERSION
#define VMCRYPT_VERSION "unknown"
#endif

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
 * explanation where the verb gives it a particular meaning.
 */
static const struct verb_opt create_opts[] = {
    {OPT_SIZE, "plaintext size (suffix K, M, G, T); required"},
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
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, "key slot for the passphrase (default 0)"},
    {OPT_VOLUME_KEY_FILE, NULL},
    {OPT_FORCE, "replace an existing IMAGE (and --header FILE)"},
    {OPT_BATCH_MODE, "with --force: overwrite without asking"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt encrypt_opts[] = {
    {OPT_SIZE, "plaintext size; required unless SRC is a file"},
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
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, "key slot for the passphrase (default 0)"},
    {OPT_VOLUME_KEY_FILE, NULL},
    {OPT_FORCE, "replace an existing DST (and --header FILE)"},
    {OPT_BATCH_MODE, "with --force: overwrite without asking"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt decrypt_opts[] = {
    {OPT_HEADER, "read a detached header from FILE"},
    {OPT_KEY_FILE, NULL},
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
    {OPT_HEADER, "read a detached header from FILE"},
    {OPT_DUMP_VOLUME_KEY, NULL},
    {OPT_KEY_FILE, NULL},
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
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, NULL},
    {OPT_HEADER, "read a detached header from FILE"},
    {OPT_VERBOSE, "print which key slot opened"},
    {OPT_DEBUG, NULL},
    {OPT_END, NULL},
};

static const struct verb_opt serve_opts[] = {
    {OPT_SOCKET, "listen on the Unix socket PATH (default: a private one)"},
    {OPT_PORT, NULL},
    {OPT_READ_ONLY, "serve the image read-only"},
    {OPT_ALLOW_DISCARDS, NULL},
    {OPT_HEADER, "read a detached header from FILE"},
    {OPT_KEY_FILE, NULL},
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
    {OPT_HEADER, "read a detached header from FILE"},
    {OPT_KEY_FILE, NULL},
    {OPT_KEYFILE_OFFSET, NULL},
    {OPT_KEYFILE_SIZE, NULL},
    {OPT_KEY_SLOT, NULL},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, "also libfuse's request trace (with --foreground)"},
    {OPT_END, NULL},
};

static const struct verb_opt vm_config_opts[] = {
    {OPT_KEY_FILE, "the passphrase file QEMU/libvirt will read (else a placeholder)"},
    {OPT_HEADER, "detached header (then the serve route)"},
    {OPT_READ_ONLY, "attach the disk read-only"},
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
static const struct verb_arg mount_args[] = {
    {"IMAGE", "the encrypted image"},
    {"DIR", "an existing, empty directory to mount on"},
};
static const struct verb_arg scan_args[] = {
    {"FILE", "dump, saved VM state, swap, image or device (repeatable)"},
};
static const struct verb_arg help_args[] = {
    {"VERB", "the verb to explain"},
};

static const struct verb verbs[] = {
    {
	.name = "create",
	.run = cmd_create,
	.synopsis = "--size SIZE IMAGE",
	.summary = "create a new, empty encrypted image",
	.description =
	    "Creates IMAGE as a sparse file with a new LUKS header (LUKS2 unless --type luks1) and "
	    "SIZE bytes of plaintext, all zero. The passphrase is asked twice on a terminal.",
	.min_args = 1,
	.max_args = 1,
	.args = new_image_arg,
	.opts = create_opts,
    },
    {
	.name = "encrypt",
	.run = cmd_encrypt,
	.synopsis = "SRC DST",
	.summary = "copy a plain raw image into a new encrypted image",
	.description =
	    "Creates the encrypted image DST with SRC's size (rounded up to the sector size) and "
	    "copies SRC's contents into it. A failed or cancelled copy removes DST.",
	.min_args = 2,
	.max_args = 2,
	.args = encrypt_args,
	.opts = encrypt_opts,
    },
    {
	.name = "decrypt",
	.run = cmd_decrypt,
	.synopsis = "SRC DST",
	.summary = "copy an encrypted image out to a plain raw image",
	.description = "Unlocks SRC and writes its plaintext to DST. A regular file DST is created "
		       "with mode 0600 and written sparse (zero blocks become holes); it is "
		       "removed if the copy fails or is cancelled.",
	.min_args = 2,
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
	.name = "serve",
	.run = cmd_serve,
	.synopsis = "IMAGE",
	.summary = "serve the plaintext over NBD (nbdkit) to QEMU or libvirt",
	.description =
	    "Asks the passphrase and runs nbdkit with the vmcrypt plugin in the foreground, on a "
	    "Unix socket (default $XDG_RUNTIME_DIR/vmcrypt/NAME.sock, in a directory only you can "
	    "enter) or on a TCP port of 127.0.0.1, which any local user can reach. Prints the QEMU -blockdev/-drive "
	    "arguments and a libvirt <disk> element. Ctrl-C or SIGTERM stops it after the image "
	    "is flushed. Discards are refused unless --allow-discards; they are then written as "
	    "encrypted zeros and free no space.",
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
	    "for LUKS2 (or a detached header), the vmcrypt serve command and the NBD arguments. "
	    "Reads only the header.",
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
	    "serve command and a <disk type='network'> element. Reads only the header.",
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
	    "settings, save and snapshot files and domains, running QEMU processes, VirtualBox "
	    "saved states and Xen ballooning. Each check prints PASS, WARN, FAIL or SKIP with a "
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
	.name = "help",
	.run = cmd_help,
	.synopsis = "[VERB]",
	.summary = "show this help, or the help of VERB",
	.description = "Lists the verbs, or explains VERB with its arguments and options.",
	.min_args = 0,
	.max_args = 1,
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

static void usage(FILE *f)
{
	char left[64];
	size_t i;

	fputs("Usage: vmcrypt VERB [options] ARGS...\n       vmcrypt VERB --help\n       vmcrypt "
	      "--version\n\nLUKS1/LUKS2 encrypted VM disk images, without root or "
	      "device-mapper.\n\nVerbs:\n",
	      f);
	for (i = 0; i < VERB_COUNT; i++) {
		snprintf(left, sizeof(left), "%s %s", verbs[i].name, verbs[i].synopsis);
		fprintf(f, "  %-26s %s\n", left, verbs[i].summary);
	}
	fputs("\n", f);
	exit_status_print(f);
	fputs("\nRun 'vmcrypt VERB --help' for the options of a verb; see also vmcrypt(1).\n", f);
}

static void verb_help(FILE *f, const struct verb *v)
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

	(void)o;
	if (nargs == 0) {
		usage(stdout);
		return 0;
	}
	v = verb_find(args[0]);
	if (!v)
		return usage_error("unknown verb '%s'", args[0]);
	verb_help(stdout, v);
	return 0;
}

/* Parses the verb's options and arguments, then runs it. */
static int run_verb(const struct verb *v, int argc, char **argv)
{
	struct cli_opts o;
	int first = 0, nargs, r;

	log_set_verb(v->name);
	r = opts_parse(v, argc, argv, &o, &first);
	if (r < 0)
		return r;
	if (o.help) {
		verb_help(stdout, v);
		return 0;
	}
	nargs = argc - first;
	if (nargs < v->min_args)
		return usage_error("missing %s", v->args[nargs].name);
	if (nargs > v->max_args)
		return usage_error("unexpected argument '%s'", argv[first + v->max_args]);
	log_set_verbose(o.verbose || o.debug);
	vmc_set_debug(o.debug);
	r = v->run(&o, argv + first, nargs);
	/* Every failure prints one line: the library's, the CLI's, or this one. */
	if (r < 0 && errors_reported() == 0)
		fail(r, "%s", r == -ECANCELED ? "cancelled" : vmc_strerror(r));
	return r;
}

int main(int argc, char **argv)
{
	const struct verb *v;
	int r;

	log_install();
	/* Before any secret is read: no core dump, no ptrace by other users. */
	r = vmc_harden_process();
	if (r < 0)
		return exit_status(fail(r, "cannot disable core dumps: %s", vmc_strerror(r)));
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0) {
		puts("vmcrypt " VMCRYPT_VERSION);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	v = verb_find(argv[1]);
	if (!v)
		return exit_status(usage_error("unknown verb '%s'", argv[1]));
	r = run_verb(v, argc - 1, argv + 1);
	if (fflush(stdout) != 0 && r == 0)
		r = fail(-errno, "standard output: %s", strerror(errno));
	return exit_status(r);
}
