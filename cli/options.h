/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Option table, per-verb option parsing (getopt_long) and generated help. */
#ifndef VMCRYPT_CLI_OPTIONS_H
#define VMCRYPT_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "vmcrypt.h"

/* Every option any verb accepts; a verb lists the subset it takes. */
enum opt_id {
	OPT_END = 0, /* terminates a verb's option list */
	OPT_INCLUDE, /* stands for the rows of the verb's include list */
	OPT_SIZE,
	OPT_TYPE,
	OPT_CIPHER,
	OPT_KEY_SIZE,
	OPT_HASH,
	OPT_PBKDF,
	OPT_ITER_TIME,
	OPT_PBKDF_MEMORY,
	OPT_PBKDF_PARALLEL,
	OPT_PBKDF_FORCE_ITERATIONS,
	OPT_SECTOR_SIZE,
	OPT_LABEL,
	OPT_SUBSYSTEM,
	OPT_UUID,
	OPT_METADATA_SIZE,
	OPT_KEYSLOTS_SIZE,
	OPT_HEADER,
	OPT_KEY_FILE,
	OPT_KEYFILE_OFFSET,
	OPT_KEYFILE_SIZE,
	OPT_KEY_SLOT,
	OPT_VOLUME_KEY_FILE,
	OPT_JSON,
	OPT_DUMP_VOLUME_KEY,
	OPT_FORCE,
	OPT_BATCH_MODE,
	OPT_VERBOSE,
	OPT_DEBUG,
	OPT_SOCKET,
	OPT_PORT,
	OPT_READ_ONLY,
	OPT_ALLOW_DISCARDS,
	OPT_FOREGROUND,
	OPT_SYSTEMD,
	OPT_NEW_KEY_FILE,
	OPT_NEW_KEYFILE_OFFSET,
	OPT_NEW_KEYFILE_SIZE,
	OPT_PRIORITY,
	OPT_JSON_FILE,
	OPT_TOKEN_ID,
	OPT_ROOT,
	OPT_DOMAIN_XML,
	OPT_IMAGE,
	OPT_MAX_BIT_ERRORS,
	OPT_PARTITION,
	OPT_KEEP_KEYSLOTS,
	OPT_RESILIENCE,
	OPT_RESILIENCE_HASH,
	OPT_HOTZONE_SIZE,
	OPT_RESUME,
	OPT_IN_PLACE,
	OPT_REDUCE_SIZE,
	OPT_PUBLIC_KEY,
	OPT_FORMAT,
	OPT_SOURCE_FORMAT,
	OPT_NEW_SIZE, /* resize's --size: SIZE or +SIZE */
	OPT_NEW_VOLUME_KEY,
	OPT_VERSION,
	OPT_COUNT,
};

/* One option of a verb; help overrides the option's generic explanation when not NULL. */
struct verb_opt {
	enum opt_id id;
	const char *help;
};

/* A positional argument of a verb, for the generated help. */
struct verb_arg {
	const char *name;
	const char *help;
};

struct cli_opts;

/* A row of the dispatch table: everything `help` and `VERB --help` print comes from here. */
struct verb {
	const char *name;
	int (*run)(const struct cli_opts *o, char **args, int nargs);
	const char *synopsis;	 /* arguments after "vmcrypt VERB [options]" */
	const char *summary;	 /* one line for `vmcrypt help` */
	const char *description; /* paragraph for `vmcrypt VERB --help` */
	int min_args;
	int max_args;
	const struct verb_arg *args;	/* max_args entries */
	const struct verb_opt *opts;	/* terminated by OPT_END */
	const struct verb_opt *include; /* the rows OPT_INCLUDE stands for; no OPT_INCLUDE */
};

/* max_args of a verb whose last argument repeats (args describes it once). */
#define VERB_ARGS_ANY 0x7fffffff
/* --domain-xml may be given this many times. */
#define CLI_DOMAIN_XML_MAX 64

/* Parsed options of one verb invocation. */
struct cli_opts {
	struct vmc_format_params
	    fmt; /* create/encrypt; data_size, header, keyslot, volume_key unset */
	bool size_set;
	uint64_t size;
	const char *header;
	const char *key_file;
	uint64_t keyfile_offset;
	uint64_t keyfile_size; /* 0: the whole key file */
	int key_slot;	       /* -1: any */
	const char *volume_key_file;
	bool json;
	bool dump_volume_key;
	bool force;
	bool batch;
	bool verbose;
	bool debug;
	bool help;
	bool version;	    /* --version: print it and exit */
	const char *socket; /* serve: Unix socket path */
	uint32_t port;	    /* serve: TCP port on 127.0.0.1; 0: none */
	bool read_only;
	bool allow_discards;
	bool foreground;
	bool systemd; /* serve: run as the systemd unit; qemu-args, libvirt-xml: print it */
	const char *new_key_file; /* add-key, change-key: the new passphrase */
	uint64_t new_keyfile_offset;
	uint64_t new_keyfile_size; /* 0: the whole new key file */
	bool new_volume_key;	   /* convert SRC DST: a fresh volume key */
	int priority;		   /* config: 0 ignore, 1 normal, 2 prefer; -1: unchanged */
	const char *json_file;	   /* token import: NULL reads stdin */
	int token_id;		   /* -1: none given */
	const char *root;	   /* audit: read /proc, /sys, /etc, /var below DIR */
	const char *domain_xml[CLI_DOMAIN_XML_MAX + 1]; /* audit: NULL-terminated */
	size_t domain_xml_count;
	const char *image; /* scan: the image whose volume key to look for */
	const char *images[CLI_DOMAIN_XML_MAX + 1]; /* audit: --image files, NULL-terminated */
	size_t image_count;
	uint32_t max_bit_errors; /* scan: flipped bits tolerated per AES schedule */

	/* rekey, encrypt/decrypt --in-place, and every verb that opens an image (partition) */
	int partition;		     /* partition N of a disk image (or IMAGE@N); 0: whole file */
	bool keep_keyslots;	     /* re-wrap the given passphrase, ask no new one */
	const char *resilience;	     /* checksum, journal or none */
	const char *resilience_hash; /* checksum hash */
	uint64_t hotzone_size;	     /* bytes per step; 0: default */
	bool resume;		     /* only resume an unfinished re-encryption */
	bool in_place;		     /* encrypt, decrypt: rewrite IMAGE itself */
	uint64_t reduce_size;	     /* encrypt --in-place: bytes given up for the header */
	bool public_key;	     /* the passphrase is VMC_PUBLIC_PASSPHRASE */
	const char *format;	     /* IMAGE's (or a new DST's) format: NULL probes */
	const char *source_format;   /* encrypt, decrypt: SRC's format; NULL probes */
	bool size_add;		     /* resize: --size +SIZE adds o->size to the current size */
};

/*
 * Parses argv[0..argc) (argv[0] is the verb name) with the options verb accepts.
 * On success, *ret_first is the index of the first positional argument, which
 * getopt_long has permuted to the end of argv. Prints a usage error and returns
 * -EINVAL on a bad option or value.
 */
int opts_parse(const struct verb *verb, int argc, char **argv, struct cli_opts *o, int *ret_first);

/* Prints the "Options:" part of verb's help. */
void opts_print_help(FILE *f, const struct verb *verb);

/*
 * Parses a size: decimal digits with an optional suffix K, M, G, T (also KiB,
 * MiB, GiB, TiB; case-insensitive), all binary multiples. Returns -EINVAL on
 * anything else, -ERANGE on overflow.
 */
int parse_size(const char *s, uint64_t *ret_size);

#endif
