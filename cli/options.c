/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Option table, per-verb option parsing (getopt_long) and generated help. */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "options.h"
#include "passphrase.h"

#define HELP_COLUMN   32
#define OPT_HELP      OPT_COUNT /* --help: accepted by every verb, not in the table */
#define LONG_VAL_BASE 0x100	/* getopt_long value of a long-only option: base + id */

struct opt_def {
	const char *name;
	char short_name; /* 0: long only; otherwise as in cryptsetup */
	const char *arg; /* NULL: a flag */
	const char *help;
};

static const struct opt_def opt_defs[OPT_COUNT] = {
    [OPT_ROOT] = {"root", 0, "DIR", "read /proc, /sys, /etc, /var below DIR (a copy of a host)"},
    [OPT_DOMAIN_XML] = {"domain-xml", 0, "FILE", "also check this libvirt domain XML (repeatable)"},
    [OPT_IMAGE] = {"image", 0, "IMAGE", "search for the volume key of IMAGE (asks its passphrase)"},
    [OPT_MAX_BIT_ERRORS] = {"max-bit-errors", 0, "N",
			    "flipped bits tolerated per AES schedule, 0-64 (default 0)"},
    [OPT_SIZE] = {"size", 0, "SIZE", "size; suffix K, M, G, T (or KiB, MiB, GiB, TiB)"},
    [OPT_TYPE] = {"type", 0, "TYPE", "luks1 or luks2 (default luks2)"},
    [OPT_CIPHER] = {"cipher", 'c', "CIPHER", "cipher (default aes-xts-plain64)"},
    [OPT_KEY_SIZE] = {"key-size", 's', "BITS", "volume key bits (default 512 for XTS, else 256)"},
    [OPT_HASH] = {"hash", 0, "HASH", "hash for PBKDF2, AF and digest (default sha256)"},
    [OPT_PBKDF] = {"pbkdf", 0, "PBKDF", "pbkdf2, argon2i, argon2id (default argon2id)"},
    [OPT_ITER_TIME] = {"iter-time", 'i', "MS", "PBKDF time in milliseconds (default 2000)"},
    [OPT_PBKDF_MEMORY] = {"pbkdf-memory", 0, "KIB", "Argon2 memory cost in KiB (default 1048576)"},
    [OPT_PBKDF_PARALLEL] = {"pbkdf-parallel", 0, "N", "Argon2 threads (default min(4, CPUs))"},
    [OPT_PBKDF_FORCE_ITERATIONS] = {"pbkdf-force-iterations", 0, "N",
				    "no benchmark: PBKDF2 iterations, Argon2 time"},
    [OPT_SECTOR_SIZE] = {"sector-size", 0, "BYTES", "encryption sector size, 512 to 4096"},
    [OPT_LABEL] = {"label", 0, "LABEL", "LUKS2 label (at most 47 bytes)"},
    [OPT_SUBSYSTEM] = {"subsystem", 0, "NAME", "LUKS2 subsystem (at most 47 bytes)"},
    [OPT_UUID] = {"uuid", 0, "UUID", "header UUID (default random)"},
    [OPT_METADATA_SIZE] = {"luks2-metadata-size", 0, "SIZE",
			   "LUKS2 header copy size, 16K to 4M (default 16K)"},
    [OPT_KEYSLOTS_SIZE] = {"luks2-keyslots-size", 0, "SIZE", "LUKS2 keyslots area size"},
    [OPT_HEADER] = {"header", 0, "FILE", "detached LUKS header file"},
    [OPT_KEY_FILE] = {"key-file", 'd', "FILE", "passphrase from FILE (- = stdin), taken as is"},
    [OPT_KEYFILE_OFFSET] = {"keyfile-offset", 0, "BYTES",
			    "skip BYTES at the start of the key file"},
    [OPT_KEYFILE_SIZE] = {"keyfile-size", 'l', "BYTES",
			  "use BYTES of the key file (default all, max 8M)"},
    [OPT_KEY_SLOT] = {"key-slot", 'S', "N", "try only key slot N (default all)"},
    [OPT_VOLUME_KEY_FILE] = {"volume-key-file", 0, "FILE",
			     "use the raw volume key in FILE (not random)"},
    [OPT_JSON] = {"json", 0, NULL, "print JSON instead of text"},
    [OPT_DUMP_VOLUME_KEY] = {"dump-volume-key", 0, NULL,
			     "also unlock and print the volume key (secret!)"},
    [OPT_FORCE] = {"force", 0, NULL, "overwrite an existing output file"},
    [OPT_BATCH_MODE] = {"batch-mode", 'q', NULL, "never ask for confirmation"},
    [OPT_VERBOSE] = {"verbose", 'v', NULL, "report what was done"},
    [OPT_DEBUG] = {"debug", 0, NULL, "show debug messages"},
    [OPT_VERSION] = {"version", 'V', NULL, "print vmcrypt's version and exit"},
    [OPT_SOCKET] = {"socket", 0, "PATH", "listen on the Unix socket PATH"},
    [OPT_PORT] = {"port", 0, "N", "listen on TCP port N of 127.0.0.1 (loopback only)"},
    [OPT_READ_ONLY] = {"read-only", 0, NULL, "open the image read-only"},
    [OPT_ALLOW_DISCARDS] = {"allow-discards", 0, NULL,
			    "accept discards (TRIM): whole sectors become holes"},
    [OPT_FOREGROUND] = {"foreground", 0, NULL, "stay in the foreground until unmounted"},
    [OPT_SYSTEMD] = {"systemd", 0, NULL, "the systemd user units' way (socket, passphrase)"},
    [OPT_NEW_KEY_FILE] = {"new-key-file", 0, "FILE",
			  "new passphrase from FILE (- = stdin), taken as is"},
    [OPT_NEW_KEYFILE_OFFSET] = {"new-keyfile-offset", 0, "BYTES",
				"skip BYTES at the start of the new key file"},
    [OPT_NEW_KEYFILE_SIZE] = {"new-keyfile-size", 0, "BYTES",
			      "use BYTES of the new key file (default all)"},
    [OPT_PRIORITY] = {"priority", 0, "PRIO", "key slot priority: prefer, normal or ignore"},
    [OPT_JSON_FILE] = {"json-file", 0, "FILE", "read JSON from FILE (default stdin)"},
    [OPT_TOKEN_ID] = {"token-id", 0, "N", "LUKS2 token number, 0 to 31"},
    [OPT_PARTITION] = {"partition", 0, "N", "partition N of a GPT/MBR disk image (IMAGE@N)"},
    [OPT_KEEP_KEYSLOTS] = {"keep-keyslots", 0, NULL, "keep the given passphrase (asks no new one)"},
    [OPT_RESILIENCE] = {"resilience", 0, "MODE", "checksum (default), journal or none (unsafe)"},
    [OPT_RESILIENCE_HASH] = {"resilience-hash", 0, "HASH",
			     "checksum resilience hash (default sha256)"},
    [OPT_HOTZONE_SIZE] = {"hotzone-size", 0, "SIZE", "bytes re-encrypted per step (default 64M)"},
    [OPT_RESUME] = {"resume", 0, NULL, "only resume an unfinished re-encryption"},
    [OPT_IN_PLACE] = {"in-place", 0, NULL, "rewrite IMAGE itself (crash-safe, resumable)"},
    [OPT_REDUCE_SIZE] = {"reduce-size", 0, "SIZE",
			 "give up SIZE bytes at the end: room for the header"},
    [OPT_PUBLIC_KEY] = {"public-key", 0, NULL,
			"the passphrase is the documented public one (public-key images)"},
    [OPT_FORMAT] = {"format", 0, "FMT",
		    "container: raw, qcow2, vmdk, vdi, ... (default: by its magic)"},
    [OPT_SOURCE_FORMAT] = {"source-format", 0, "FMT",
			   "SRC's container: raw, qcow2, ... (default: by its magic)"},
    [OPT_NEW_VOLUME_KEY] = {"new-volume-key", 0, NULL,
			    "a fresh volume key (one keyslot, for the new passphrase)"},
    [OPT_NEW_SIZE] = {"size", 0, "SIZE",
		      "new size, or +SIZE to add; suffix K, M, G, T (or KiB, MiB, GiB, TiB)"},
};

static const struct {
	const char *suffix;
	unsigned shift;
} size_suffixes[] = {
    {"", 0},   {"K", 10},   {"KiB", 10}, {"M", 20},   {"MiB", 20},
    {"G", 30}, {"GiB", 30}, {"T", 40},	 {"TiB", 40},
};

int parse_size(const char *s, uint64_t *ret_size)
{
	char *end = NULL;
	uint64_t v;
	size_t i;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	for (i = 0; i < sizeof(size_suffixes) / sizeof(size_suffixes[0]); i++) {
		unsigned shift = size_suffixes[i].shift;

		if (strcasecmp(end, size_suffixes[i].suffix) != 0)
			continue;
		if (shift && v > UINT64_MAX >> shift)
			return -ERANGE;
		*ret_size = v << shift;
		return 0;
	}
	return -EINVAL;
}

static int opt_size(enum opt_id id, const char *arg, uint64_t min, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (parse_size(arg, &v) < 0)
		return usage_error(
		    "--%s: '%s' is not a size (a number, optional suffix K, M, G, T)",
		    opt_defs[id].name, arg);
	if (v < min)
		return usage_error("--%s: must be at least %" PRIu64, opt_defs[id].name, min);
	if (v > max)
		return usage_error("--%s: must be at most %" PRIu64, opt_defs[id].name, max);
	*ret = v;
	return 0;
}

static int opt_u32(enum opt_id id, const char *arg, uint32_t min, uint32_t max, uint32_t *ret)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (*arg < '0' || *arg > '9' || *end || errno || v < min || v > max)
		return usage_error("--%s: '%s' is not a number from %" PRIu32 " to %" PRIu32,
				   opt_defs[id].name, arg, min, max);
	*ret = (uint32_t)v;
	return 0;
}

/* A format name as qemu-img spells them: lower-case letters, digits, '-' and '_'. */
static int opt_format(enum opt_id id, const char *arg)
{
	if (!*arg || strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(arg))
		return usage_error("--%s %s: not a format name (raw, qcow2, vmdk, vdi, vhdx, ...)",
				   opt_defs[id].name, arg);
	return 0;
}

static int opt_choice(enum opt_id id, const char *arg, const char *const *choices)
{
	size_t i;

	for (i = 0; choices[i]; i++)
		if (strcmp(arg, choices[i]) == 0)
			return (int)i;
	return usage_error("--%s: unknown value '%s'", opt_defs[id].name, arg);
}

static int set_format_opt(struct vmc_format_params *f, enum opt_id id, const char *arg)
{
	static const char *const types[] = {"luks1", "luks2", NULL};
	static const char *const pbkdfs[] = {"pbkdf2", "argon2i", "argon2id", NULL};
	uint32_t v = 0;
	int r = 0;

	switch (id) {
	case OPT_TYPE:
		r = opt_choice(id, arg, types);
		if (r >= 0)
			f->luks_version = r + 1;
		break;
	case OPT_CIPHER:
		f->cipher = arg;
		break;
	case OPT_KEY_SIZE:
		r = opt_u32(id, arg, 8, VOLUME_KEY_MAX * 8, &v);
		if (r == 0 && v % 8)
			r = usage_error("--key-size: %s is not a multiple of 8 bits", arg);
		f->key_bits = v;
		break;
	case OPT_HASH:
		f->hash = arg;
		break;
	case OPT_PBKDF:
		r = opt_choice(id, arg, pbkdfs);
		f->pbkdf = arg;
		break;
	case OPT_ITER_TIME:
		r = opt_u32(id, arg, 1, UINT32_MAX, &f->iter_time_ms);
		break;
	case OPT_PBKDF_MEMORY:
		r = opt_u32(id, arg, 1, UINT32_MAX, &f->pbkdf_memory_kib);
		break;
	case OPT_PBKDF_PARALLEL:
		r = opt_u32(id, arg, 1, UINT32_MAX, &f->pbkdf_parallel);
		break;
	case OPT_PBKDF_FORCE_ITERATIONS:
		r = opt_u32(id, arg, 1, UINT32_MAX, &f->force_iterations);
		break;
	case OPT_SECTOR_SIZE:
		r = opt_u32(id, arg, 512, 4096, &v);
		if (r == 0 && (v & (v - 1)))
			r = usage_error("--sector-size: %s is not a power of two", arg);
		f->sector_size = v;
		break;
	case OPT_LABEL:
		f->label = arg;
		break;
	case OPT_SUBSYSTEM:
		f->subsystem = arg;
		break;
	case OPT_UUID:
		f->uuid = arg;
		break;
	case OPT_METADATA_SIZE:
		r = opt_size(id, arg, 1, UINT64_MAX, &f->metadata_size);
		break;
	case OPT_KEYSLOTS_SIZE:
		r = opt_size(id, arg, 1, UINT64_MAX, &f->keyslots_size);
		break;
	default:
		break;
	}
	return r < 0 ? r : 0;
}

static int set_opt(struct cli_opts *o, enum opt_id id, const char *arg)
{
	static const char *const priorities[] = {"ignore", "normal", "prefer", NULL};
	static const char *const resiliences[] = {"checksum", "journal", "none", NULL};
	uint32_t slot = 0, token = 0, part = 0;
	int r = 0;

	switch (id) {
	case OPT_ROOT:
		o->root = arg;
		break;
	case OPT_DOMAIN_XML:
		if (o->domain_xml_count == CLI_DOMAIN_XML_MAX)
			r = usage_error("--domain-xml: at most %d files", CLI_DOMAIN_XML_MAX);
		else
			o->domain_xml[o->domain_xml_count++] = arg;
		break;
	case OPT_IMAGE:
		/* scan takes one (the last given); audit checks each. */
		if (o->image_count == CLI_DOMAIN_XML_MAX)
			r = usage_error("--image: at most %d files", CLI_DOMAIN_XML_MAX);
		else
			o->images[o->image_count++] = arg;
		o->image = arg;
		break;
	case OPT_MAX_BIT_ERRORS:
		r = opt_u32(id, arg, 0, 64, &o->max_bit_errors);
		break;
	case OPT_SIZE:
		r = opt_size(id, arg, 1, UINT64_MAX, &o->size);
		o->size_set = true;
		break;
	case OPT_NEW_SIZE:
		/* The same sizes as --size elsewhere, or one with a '+': added to the current. */
		o->size_add = arg[0] == '+';
		r = opt_size(id, arg + o->size_add, 1, UINT64_MAX, &o->size);
		o->size_set = true;
		break;
	case OPT_HEADER:
		o->header = arg;
		break;
	case OPT_KEY_FILE:
		o->key_file = arg;
		break;
	case OPT_KEYFILE_OFFSET:
		r = opt_size(id, arg, 0, UINT64_MAX, &o->keyfile_offset);
		break;
	case OPT_KEYFILE_SIZE:
		r = opt_size(id, arg, 1, KEYFILE_MAX, &o->keyfile_size);
		break;
	case OPT_KEY_SLOT:
		r = opt_u32(id, arg, 0, 31, &slot);
		o->key_slot = (int)slot;
		break;
	case OPT_VOLUME_KEY_FILE:
		o->volume_key_file = arg;
		break;
	case OPT_JSON:
		o->json = true;
		break;
	case OPT_DUMP_VOLUME_KEY:
		o->dump_volume_key = true;
		break;
	case OPT_FORCE:
		o->force = true;
		break;
	case OPT_BATCH_MODE:
		o->batch = true;
		break;
	case OPT_VERBOSE:
		o->verbose = true;
		break;
	case OPT_DEBUG:
		o->debug = true;
		break;
	case OPT_VERSION:
		o->version = true;
		break;
	case OPT_SOCKET:
		o->socket = arg;
		break;
	case OPT_PORT:
		r = opt_u32(id, arg, 1, 65535, &o->port);
		break;
	case OPT_READ_ONLY:
		o->read_only = true;
		break;
	case OPT_ALLOW_DISCARDS:
		o->allow_discards = true;
		break;
	case OPT_FOREGROUND:
		o->foreground = true;
		break;
	case OPT_SYSTEMD:
		o->systemd = true;
		break;
	case OPT_NEW_KEY_FILE:
		o->new_key_file = arg;
		break;
	case OPT_NEW_KEYFILE_OFFSET:
		r = opt_size(id, arg, 0, UINT64_MAX, &o->new_keyfile_offset);
		break;
	case OPT_NEW_KEYFILE_SIZE:
		r = opt_size(id, arg, 1, KEYFILE_MAX, &o->new_keyfile_size);
		break;
	case OPT_PRIORITY:
		/* cryptsetup's names, in the order of the LUKS2 priority values 0, 1, 2. */
		r = opt_choice(id, arg, priorities);
		if (r >= 0) {
			o->priority = r;
			r = 0;
		}
		break;
	case OPT_JSON_FILE:
		o->json_file = arg;
		break;
	case OPT_TOKEN_ID:
		r = opt_u32(id, arg, 0, 31, &token);
		o->token_id = (int)token;
		break;
	case OPT_PARTITION:
		r = opt_u32(id, arg, 1, 256, &part);
		o->partition = (int)part;
		break;
	case OPT_KEEP_KEYSLOTS:
		o->keep_keyslots = true;
		break;
	case OPT_NEW_VOLUME_KEY:
		o->new_volume_key = true;
		break;
	case OPT_RESILIENCE:
		r = opt_choice(id, arg, resiliences);
		o->resilience = arg;
		if (r > 0)
			r = 0;
		break;
	case OPT_RESILIENCE_HASH:
		o->resilience_hash = arg;
		break;
	case OPT_HOTZONE_SIZE:
		r = opt_size(id, arg, 4096, UINT64_MAX, &o->hotzone_size);
		break;
	case OPT_RESUME:
		o->resume = true;
		break;
	case OPT_IN_PLACE:
		o->in_place = true;
		break;
	case OPT_PUBLIC_KEY:
		o->public_key = true;
		break;
	case OPT_REDUCE_SIZE:
		r = opt_size(id, arg, 1, UINT64_MAX, &o->reduce_size);
		break;
	case OPT_FORMAT:
		r = opt_format(id, arg);
		o->format = arg;
		o->fmt.format = arg;
		break;
	case OPT_SOURCE_FORMAT:
		r = opt_format(id, arg);
		o->source_format = arg;
		break;
	default:
		r = set_format_opt(&o->fmt, id, arg);
		break;
	}
	return r;
}

/*
 * The options every verb takes, as every cryptsetup action does; a verb whose
 * rows do not name one gets it with this text (NULL: the generic one).
 */
static const struct verb_opt common_opts[] = {
    {OPT_BATCH_MODE, "accepted as by cryptsetup; nothing to confirm here"},
    {OPT_VERBOSE, NULL},
    {OPT_DEBUG, NULL},
    {OPT_VERSION, NULL},
    {OPT_END, NULL},
};

static bool rows_have(const struct verb_opt *rows, size_t n, enum opt_id id)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].id == id)
			return true;
	return false;
}

/*
 * Copies the verb's option rows into rows (OPT_COUNT entries), the rows of
 * verb->include in place of an OPT_INCLUDE row, then the common options the
 * verb does not name, and ends them with OPT_END.
 */
static void verb_rows(const struct verb *verb, struct verb_opt *rows)
{
	const struct verb_opt *vo, *inc;
	size_t n = 0;

	for (vo = verb->opts; vo->id != OPT_END; vo++) {
		if (vo->id != OPT_INCLUDE) {
			assert(n + 1 < OPT_COUNT);
			rows[n++] = *vo;
			continue;
		}
		for (inc = verb->include; inc->id != OPT_END; inc++) {
			assert(inc->id != OPT_INCLUDE && n + 1 < OPT_COUNT);
			rows[n++] = *inc;
		}
	}
	for (vo = common_opts; vo->id != OPT_END; vo++) {
		if (rows_have(rows, n, vo->id))
			continue;
		assert(n + 1 < OPT_COUNT);
		rows[n++] = *vo;
	}
	rows[n] = (struct verb_opt){OPT_END, NULL};
}

/* The id of the option getopt_long returned as val (a short letter or base + id). */
static enum opt_id opt_from_val(const struct verb_opt *opts, int val)
{
	const struct verb_opt *vo;

	if (val >= LONG_VAL_BASE)
		return (enum opt_id)(val - LONG_VAL_BASE);
	for (vo = opts; vo->id != OPT_END; vo++)
		if (opt_defs[vo->id].short_name == val)
			return vo->id;
	return OPT_END;
}

/* Builds getopt_long's tables from the verb's option rows. */
static void build_getopt(const struct verb_opt *opts, struct option *longopts, char *shortopts)
{
	const struct verb_opt *vo;
	size_t n = 0, s = 0;

	/* Leading ':' makes getopt report a missing argument as ':', and print nothing. */
	shortopts[s++] = ':';
	for (vo = opts; vo->id != OPT_END; vo++) {
		const struct opt_def *d = &opt_defs[vo->id];

		longopts[n++] = (struct option){d->name, d->arg ? required_argument : no_argument,
						NULL, LONG_VAL_BASE + (int)vo->id};
		if (!d->short_name)
			continue;
		shortopts[s++] = d->short_name;
		if (d->arg)
			shortopts[s++] = ':';
	}
	longopts[n++] = (struct option){"help", no_argument, NULL, LONG_VAL_BASE + OPT_HELP};
	longopts[n] = (struct option){NULL, 0, NULL, 0};
	shortopts[s] = '\0';
}

static const char *opt_name(int val)
{
	int id = val - LONG_VAL_BASE;

	return id == OPT_HELP ? "help" : opt_defs[id].name;
}

/* getopt_long returned '?' or ':': say which option was wrong, and how. */
static int bad_option(int c, char **argv)
{
	if (c == ':' && optopt >= LONG_VAL_BASE)
		return usage_error("option --%s needs a value", opt_name(optopt));
	if (c == ':')
		return usage_error("option -%c needs a value", optopt);
	if (optopt >= LONG_VAL_BASE)
		return usage_error("option --%s takes no value", opt_name(optopt));
	if (optopt)
		return usage_error("unknown option -%c", optopt);
	return usage_error("unknown or ambiguous option %s", argv[optind - 1]);
}

int opts_parse(const struct verb *verb, int argc, char **argv, struct cli_opts *o, int *ret_first)
{
	struct verb_opt opts[OPT_COUNT];
	struct option longopts[OPT_COUNT + 2];
	char shortopts[3 * OPT_COUNT + 2];
	enum opt_id id;
	int c, r;

	memset(o, 0, sizeof(*o));
	o->key_slot = -1;
	o->fmt.keyslot = -1;
	o->priority = -1;
	o->token_id = -1;
	verb_rows(verb, opts);
	build_getopt(opts, longopts, shortopts);
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == '?' || c == ':')
			return bad_option(c, argv);
		id = opt_from_val(opts, c);
		if (id == OPT_HELP) {
			o->help = true;
			return 0;
		}
		r = set_opt(o, id, optarg);
		if (r < 0)
			return r;
	}
	*ret_first = optind;
	return 0;
}

static void print_opt(FILE *f, const struct opt_def *d, const char *help)
{
	char left[64];
	int n;

	if (d->short_name)
		n = snprintf(left, sizeof(left), "  -%c, --%s", d->short_name, d->name);
	else
		n = snprintf(left, sizeof(left), "      --%s", d->name);
	if (d->arg)
		n += snprintf(left + n, sizeof(left) - (size_t)n, " %s", d->arg);
	if (n >= HELP_COLUMN - 1)
		fprintf(f, "%s\n%*s%s\n", left, HELP_COLUMN, "", help);
	else
		fprintf(f, "%-*s%s\n", HELP_COLUMN, left, help);
}

void opts_print_help(FILE *f, const struct verb *verb)
{
	static const struct opt_def help = {"help", 0, NULL, "show this help"};
	struct verb_opt opts[OPT_COUNT];
	const struct verb_opt *vo;

	verb_rows(verb, opts);
	fputs("Options:\n", f);
	for (vo = opts; vo->id != OPT_END; vo++)
		print_opt(f, &opt_defs[vo->id], vo->help ? vo->help : opt_defs[vo->id].help);
	print_opt(f, &help, help.help);
}
