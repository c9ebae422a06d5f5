/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit's bounded parsers: /proc and /sys files, configuration files, QEMU command lines, image
 * headers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "base/util.h"

/* A line iterator over (buf, len): no NUL needed, never reads past the end. */
struct lines {
	const char *p, *end;
};

static bool next_line(struct lines *l, const char **ret, size_t *ret_len)
{
	const char *nl;

	if (l->p >= l->end)
		return false;
	nl = memchr(l->p, '\n', (size_t)(l->end - l->p));
	*ret = l->p;
	*ret_len = nl ? (size_t)(nl - l->p) : (size_t)(l->end - l->p);
	l->p = nl ? nl + 1 : l->end;
	return true;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Splits a line into at most max whitespace-separated fields (pointers into the line). */
static size_t split_fields(const char *s, size_t len, const char **f, size_t *flen, size_t max)
{
	size_t i = 0, n = 0, start;

	while (n < max) {
		while (i < len && is_space(s[i]))
			i++;
		if (i >= len)
			break;
		start = i;
		while (i < len && !is_space(s[i]))
			i++;
		f[n] = s + start;
		flen[n] = i - start;
		n++;
	}
	return n;
}

static void copy_span(char *dst, size_t dlen, const char *s, size_t len)
{
	if (len >= dlen)
		len = dlen - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
}

/* Copies a /proc path field, turning \040-style octal escapes back into bytes. */
static void copy_unescaped(char *dst, size_t dlen, const char *s, size_t len)
{
	size_t i = 0, n = 0;

	while (i < len && n + 1 < dlen) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			dst[n++] =
			    (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 4;
		} else {
			dst[n++] = s[i++];
		}
	}
	dst[n] = '\0';
}

size_t audit_parse_swaps(const uint8_t *buf, size_t len, struct audit_swap *out, size_t max)
{
	struct lines l = {(const char *)buf, (const char *)buf + len};
	const char *line, *f[2];
	size_t ll, fl[2], n = 0;

	while (n < max && next_line(&l, &line, &ll)) {
		if (split_fields(line, ll, f, fl, 2) < 2)
			continue;
		if (fl[0] == 8 && memcmp(f[0], "Filename", 8) == 0)
			continue;
		copy_unescaped(out[n].path, sizeof(out[n].path), f[0], fl[0]);
		out[n].is_file = fl[1] == 4 && memcmp(f[1], "file", 4) == 0;
		n++;
	}
	return n;
}

int audit_parse_crypttab(const uint8_t *buf, size_t len, const char *key, bool by_device,
			 struct audit_crypttab *ret)
{
	struct lines l = {(const char *)buf, (const char *)buf + len};
	const char *line, *f[4];
	size_t ll, fl[4], n, klen = strlen(key);
	int found = 0;

	while (next_line(&l, &line, &ll)) {
		n = split_fields(line, ll, f, fl, 4);
		if (n < 2 || f[0][0] == '#')
			continue;
		if (fl[by_device ? 1 : 0] != klen || memcmp(f[by_device ? 1 : 0], key, klen) != 0)
			continue;
		memset(ret, 0, sizeof(*ret));
		copy_span(ret->name, sizeof(ret->name), f[0], fl[0]);
		copy_span(ret->device, sizeof(ret->device), f[1], fl[1]);
		if (n > 2)
			copy_span(ret->key, sizeof(ret->key), f[2], fl[2]);
		if (n > 3)
			copy_span(ret->options, sizeof(ret->options), f[3], fl[3]);
		found = 1;
	}
	return found;
}

/* Kernel parameter names treat '-' and '_' alike. */
static bool param_name_eq(const char *a, size_t alen, const char *b)
{
	size_t i;

	if (alen != strlen(b))
		return false;
	for (i = 0; i < alen; i++) {
		char x = a[i] == '-' ? '_' : a[i], y = b[i] == '-' ? '_' : b[i];

		if (x != y)
			return false;
	}
	return true;
}

bool audit_cmdline_get(const uint8_t *buf, size_t len, const char *name, char *val, size_t vlen)
{
	const char *s = (const char *)buf, *tok, *eq;
	size_t i = 0, start, tlen;
	bool found = false, quoted;

	while (i < len) {
		while (i < len && (is_space(s[i]) || s[i] == '\n' || s[i] == '\0'))
			i++;
		if (i >= len)
			break;
		start = i;
		quoted = false;
		while (i < len && (quoted || !(is_space(s[i]) || s[i] == '\n' || s[i] == '\0'))) {
			if (s[i] == '"')
				quoted = !quoted;
			i++;
		}
		tok = s + start;
		tlen = i - start;
		eq = memchr(tok, '=', tlen);
		if (!param_name_eq(tok, eq ? (size_t)(eq - tok) : tlen, name))
			continue;
		found = true;
		if (vlen == 0)
			continue;
		if (!eq) {
			val[0] = '\0';
			continue;
		}
		eq++;
		tlen -= (size_t)(eq - tok);
		if (tlen >= 2 && eq[0] == '"' && eq[tlen - 1] == '"') {
			eq++;
			tlen -= 2;
		}
		copy_span(val, vlen, eq, tlen);
	}
	return found;
}

static int parse_limit_value(const char *s, size_t len, uint64_t *ret)
{
	char tmp[32];
	char *end = NULL;

	if (len == 9 && memcmp(s, "unlimited", 9) == 0) {
		*ret = UINT64_MAX;
		return 0;
	}
	if (len == 0 || len >= sizeof(tmp))
		return -EBADMSG;
	copy_span(tmp, sizeof(tmp), s, len);
	errno = 0;
	*ret = strtoull(tmp, &end, 10);
	return errno || *end || tmp[0] < '0' || tmp[0] > '9' ? -EBADMSG : 0;
}

int audit_parse_limit(const uint8_t *buf, size_t len, const char *row, uint64_t *ret_soft,
		      uint64_t *ret_hard)
{
	struct lines l = {(const char *)buf, (const char *)buf + len};
	size_t ll, rlen = strlen(row), fl[2];
	const char *line, *f[2];

	while (next_line(&l, &line, &ll)) {
		if (ll <= rlen || memcmp(line, row, rlen) != 0 || !is_space(line[rlen]))
			continue;
		if (split_fields(line + rlen, ll - rlen, f, fl, 2) < 2)
			return -EBADMSG;
		if (parse_limit_value(f[0], fl[0], ret_soft) < 0 ||
		    parse_limit_value(f[1], fl[1], ret_hard) < 0)
			return -EBADMSG;
		return 0;
	}
	return -ENOENT;
}

static void trim(const char **s, size_t *len)
{
	while (*len > 0 && (is_space(**s) || **s == '\n')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && (is_space((*s)[*len - 1]) || (*s)[*len - 1] == '\n'))
		(*len)--;
}

int audit_conf_get(const uint8_t *buf, size_t len, const char *section, const char *key, char *val,
		   size_t vlen)
{
	struct lines l = {(const char *)buf, (const char *)buf + len};
	size_t ll, klen = strlen(key), kl, vl;
	const char *line, *eq, *k, *v, *hash;
	bool in_section = section == NULL;
	int found = 0;

	while (next_line(&l, &line, &ll)) {
		trim(&line, &ll);
		if (ll == 0 || line[0] == '#' || line[0] == ';')
			continue;
		if (line[0] == '[' && section) {
			in_section = ll == strlen(section) + 2 && line[ll - 1] == ']' &&
				     memcmp(line + 1, section, ll - 2) == 0;
			continue;
		}
		if (!in_section)
			continue;
		eq = memchr(line, '=', ll);
		if (!eq)
			continue;
		k = line;
		kl = (size_t)(eq - line);
		trim(&k, &kl);
		if (kl > 7 && memcmp(k, "export", 6) == 0 && is_space(k[6])) {
			k += 7;
			kl -= 7;
			trim(&k, &kl);
		}
		if (kl != klen || memcmp(k, key, klen) != 0)
			continue;
		v = eq + 1;
		vl = ll - (size_t)(v - line);
		trim(&v, &vl);
		if (vl >= 2 && (v[0] == '"' || v[0] == '\'')) {
			const char *close = memchr(v + 1, v[0], vl - 1);

			vl = close ? (size_t)(close - v - 1) : vl - 1;
			v++;
		} else {
			/* An unquoted value ends at a comment. */
			hash = memchr(v, '#', vl);
			if (hash) {
				vl = (size_t)(hash - v);
				trim(&v, &vl);
			}
		}
		copy_span(val, vlen, v, vl);
		found = 1;
	}
	return found;
}

void audit_sysfs_selected(const char *value, char *val, size_t vlen)
{
	const char *open = strchr(value, '['), *close;

	if (open && (close = strchr(open, ']')) != NULL) {
		copy_span(val, vlen, open + 1, (size_t)(close - open - 1));
		return;
	}
	snprintf(val, vlen, "%s", value);
}

/* ---- disk image headers ---- */

enum audit_image_kind audit_classify_head(const uint8_t *buf, size_t len)
{
	if (len >= 6 && memcmp(buf, "LUKS\xba\xbe", 6) == 0)
		return AUDIT_IMAGE_LUKS;
	if (len >= 36 && memcmp(buf, "QFI\xfb", 4) == 0)
		return load_be32(buf + 32) != 0 ? AUDIT_IMAGE_QCOW2_CRYPT : AUDIT_IMAGE_QCOW2;
	if ((len >= 4 && memcmp(buf, "KDMV", 4) == 0) ||
	    (len >= 8 && memcmp(buf, "vhdxfile", 8) == 0) ||
	    (len >= 68 && load_be32(buf + 64) == 0x7f10dabe))
		return AUDIT_IMAGE_OTHER_FORMAT;
	return AUDIT_IMAGE_PLAIN;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

size_t audit_parse_partitions(const uint8_t *buf, size_t len, uint64_t *starts, size_t max)
{
	size_t n = 0, i;
	uint64_t entries_lba, off;
	uint32_t count, esize;
	bool gpt = false;

	if (len < 512 || buf[510] != 0x55 || buf[511] != 0xaa)
		return 0;
	for (i = 0; i < 4 && n < max; i++) {
		const uint8_t *e = buf + 446 + 16 * i;

		if (e[4] == 0xee)
			gpt = true;
		else if (e[4] != 0 && le32(e + 8) != 0)
			starts[n++] = (uint64_t)le32(e + 8) * 512;
	}
	if (!gpt || len < 1024 || memcmp(buf + 512, "EFI PART", 8) != 0)
		return n;
	entries_lba = le64(buf + 512 + 72);
	count = le32(buf + 512 + 80);
	esize = le32(buf + 512 + 84);
	if (esize < 128 || esize > 4096 || entries_lba > len / 512)
		return n;
	for (i = 0; i < count && n < max; i++) {
		off = entries_lba * 512 + (uint64_t)i * esize;
		if (off + 48 > len)
			break;
		if (le64(buf + off + 32) != 0)
			starts[n++] = le64(buf + off + 32) * 512;
	}
	return n;
}

/* ---- QEMU command lines ---- */

struct qnode {
	char node[64];
	char file_ref[64];
	char filename[AUDIT_PATH_MAX];
	bool encrypted, network, cdrom;
	bool drive; /* from -drive, where file= names a file, not a node */
};

#define QNODES_MAX 64

/* Drivers of QEMU block nodes that reach a disk over the network. */
static bool network_driver(const char *d)
{
	static const char *const names[] = {"nbd",   "iscsi", "rbd", "gluster", "ssh", "http",
					    "https", "nfs",   "ftp", "ftps",	NULL};
	size_t i;

	for (i = 0; names[i]; i++)
		if (strcmp(d, names[i]) == 0)
			return true;
	return false;
}

static void qnode_set(struct qnode *q, const char *k, size_t kl, const char *v, size_t vl)
{
	char val[AUDIT_PATH_MAX];

	copy_span(val, sizeof(val), v, vl);
#define KEY(s) (kl == strlen(s) && memcmp(k, s, kl) == 0)
	if (KEY("node-name")) {
		copy_span(q->node, sizeof(q->node), v, vl);
	} else if (KEY("file") && !q->drive) {
		/* -blockdev file=NODE refers to another node; -drive file= names a file. */
		copy_span(q->file_ref, sizeof(q->file_ref), v, vl);
	} else if (KEY("filename") || KEY("file") || KEY("file.filename")) {
		if (strncmp(val, "nbd:", 4) == 0 || strncmp(val, "nbd+", 4) == 0)
			q->network = true;
		snprintf(q->filename, sizeof(q->filename), "%s", val);
	} else if (KEY("driver") || KEY("format") || KEY("file.driver")) {
		if (strcmp(val, "luks") == 0)
			q->encrypted = true;
		if (network_driver(val))
			q->network = true;
	} else if ((kl >= 8 && memcmp(k, "encrypt.", 8) == 0) || KEY("encrypt") ||
		   KEY("key-secret")) {
		q->encrypted = true;
	} else if (KEY("media") && strcmp(val, "cdrom") == 0) {
		q->cdrom = true;
	} else if (KEY("server") || KEY("server.type") || KEY("server.path")) {
		q->network = true;
	}
#undef KEY
}

/* key=value,key=value with ",," standing for a comma inside a value. */
static void parse_kv_option(const char *s, size_t len, struct qnode *q)
{
	char val[AUDIT_PATH_MAX];
	size_t i = 0, ks, kl, n;

	while (i < len) {
		ks = i;
		while (i < len && s[i] != '=' && s[i] != ',')
			i++;
		kl = i - ks;
		n = 0;
		if (i < len && s[i] == '=') {
			i++;
			while (i < len) {
				if (s[i] == ',' && i + 1 < len && s[i + 1] == ',') {
					i += 2;
					if (n + 1 < sizeof(val))
						val[n++] = ',';
					continue;
				}
				if (s[i] == ',')
					break;
				if (n + 1 < sizeof(val))
					val[n++] = s[i];
				i++;
			}
		}
		if (kl)
			qnode_set(q, s + ks, kl, val, n);
		if (i < len && s[i] == ',')
			i++;
	}
}

/*
 * A -blockdev JSON object, flattened: every "key": "string" pair at any depth,
 * plus a key whose value is an object ("encrypt": {...}, "file": {...}) as a
 * marker. Enough for the node graph; no general JSON parser is needed.
 */
static void parse_json_option(const char *s, size_t len, struct qnode *q)
{
	size_t i = 0, ks = 0, kl = 0, vs, j;
	bool have_key = false;

	while (i < len) {
		if (s[i] != '"') {
			if (have_key && s[i] == '{' && kl == 7 && memcmp(s + ks, "encrypt", 7) == 0)
				q->encrypted = true;
			if (s[i] != ':' && !is_space(s[i]))
				have_key = false;
			i++;
			continue;
		}
		vs = ++i;
		while (i < len && s[i] != '"') {
			if (s[i] == '\\')
				i++;
			i++;
		}
		if (i >= len)
			break;
		j = i + 1;
		while (j < len && is_space(s[j]))
			j++;
		if (j < len && s[j] == ':') {
			ks = vs;
			kl = i - vs;
			have_key = true;
			i = j + 1;
			continue;
		}
		if (have_key)
			qnode_set(q, s + ks, kl, s + vs, i - vs);
		have_key = false;
		i++;
	}
}

static void add_disk(struct audit_qemu *q, const char *file, bool encrypted, bool network)
{
	struct audit_qemu_disk *d;
	size_t i;

	for (i = 0; i < q->ndisks; i++) {
		if (strcmp(q->disks[i].file, file) == 0) {
			q->disks[i].encrypted |= encrypted;
			return;
		}
	}
	if (q->ndisks == AUDIT_DISKS_MAX)
		return;
	d = &q->disks[q->ndisks++];
	snprintf(d->file, sizeof(d->file), "%s", file);
	d->encrypted = encrypted;
	d->network = network;
}

/* Marks the nodes below encrypted ones (luks over file, qcow2 with encrypt over file). */
static void resolve_nodes(struct qnode *nodes, size_t n, struct audit_qemu *q)
{
	size_t i, j, depth;

	for (i = 0; i < n; i++) {
		struct qnode *cur = &nodes[i];

		if (!cur->encrypted)
			continue;
		for (depth = 0; depth < 8 && cur->file_ref[0]; depth++) {
			for (j = 0; j < n && strcmp(nodes[j].node, cur->file_ref) != 0; j++)
				;
			if (j == n)
				break;
			nodes[j].encrypted = true;
			cur = &nodes[j];
		}
	}
	for (i = 0; i < n; i++)
		if (nodes[i].filename[0] && !nodes[i].cdrom)
			add_disk(q, nodes[i].filename, nodes[i].encrypted, nodes[i].network);
}

static bool is_qemu_binary(const char *argv0, size_t len)
{
	const char *base = argv0, *slash;
	size_t bl;

	while ((slash = memchr(base, '/', len - (size_t)(base - argv0))) != NULL)
		base = slash + 1;
	bl = len - (size_t)(base - argv0);
	return (bl > 12 && memcmp(base, "qemu-system-", 12) == 0) ||
	       (bl == 8 && memcmp(base, "qemu-kvm", 8) == 0) ||
	       (bl == 3 && memcmp(base, "kvm", 3) == 0);
}

static bool has_option(const char *s, size_t len, const char *opt)
{
	size_t ol = strlen(opt), i = 0;

	while (i + ol <= len) {
		if ((i == 0 || s[i - 1] == ',') && memcmp(s + i, opt, ol) == 0 &&
		    (i + ol == len || s[i + ol] == ','))
			return true;
		i++;
	}
	return false;
}

/* The options whose value the audit reads (QEMU also accepts them with two dashes). */
static bool takes_value(const char *arg, size_t len)
{
	static const char *const opts[] = {
	    "-machine", "-M",	     "-overcommit", "-realtime", "-device", "-name",
	    "-drive",	"-blockdev", "-hda",	    "-hdb",	 "-hdc",    "-hdd",
	    "-object",	"-mem-path", "-incoming",   "-global",	 NULL};
	size_t i;

	for (i = 0; opts[i]; i++)
		if (len == strlen(opts[i]) && memcmp(arg, opts[i], len) == 0)
			return true;
	return false;
}

/*
 * The value of key in a QEMU option: "key=value" of a comma-separated list
 * (",," a comma in a value), or "key": "value" / "key": literal of a JSON
 * object. 1 found, 0 not.
 */
static int opt_value(const char *s, size_t len, const char *key, char *val, size_t vlen)
{
	size_t kl = strlen(key), i = 0, n;

	val[0] = '\0';
	if (len > 0 && s[0] == '{') {
		for (i = 0; i + kl + 2 <= len; i++) {
			if (s[i] != '"' || memcmp(s + i + 1, key, kl) != 0 || s[i + 1 + kl] != '"')
				continue;
			i += kl + 2;
			while (i < len && (is_space(s[i]) || s[i] == ':'))
				i++;
			n = 0;
			if (i < len && s[i] == '"') {
				for (i++; i < len && s[i] != '"'; i++) {
					if (s[i] == '\\' && i + 1 < len)
						i++;
					if (n + 1 < vlen)
						val[n++] = s[i];
				}
			} else {
				for (; i < len && s[i] != ',' && s[i] != '}' && !is_space(s[i]);
				     i++)
					if (n + 1 < vlen)
						val[n++] = s[i];
			}
			val[n] = '\0';
			return 1;
		}
		return 0;
	}
	while (i < len) {
		size_t ks = i;

		while (i < len && s[i] != '=' && s[i] != ',')
			i++;
		if (i - ks == kl && memcmp(s + ks, key, kl) == 0 && i < len && s[i] == '=') {
			n = 0;
			for (i++; i < len; i++) {
				if (s[i] == ',' && i + 1 < len && s[i + 1] == ',') {
					i++;
				} else if (s[i] == ',') {
					break;
				}
				if (n + 1 < vlen)
					val[n++] = s[i];
			}
			val[n] = '\0';
			return 1;
		}
		/* Skip the rest of this item. */
		while (i < len && s[i] != ',')
			i++;
		while (i < len && s[i] == ',')
			i++;
	}
	return 0;
}

static bool on_word(const char *v)
{
	return strcmp(v, "on") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 ||
	       strcmp(v, "y") == 0 || strcmp(v, "1") == 0;
}

/* -object memory-backend-TYPE,id=...,mem-path=...,share=on (or its JSON form). */
static void parse_object(const char *arg, size_t al, struct audit_qemu *q)
{
	char type[64] = "", share[16] = "";
	struct audit_qemu_mem *m;
	size_t n;

	if (!opt_value(arg, al, "qom-type", type, sizeof(type)) && al > 0 && arg[0] != '{') {
		/* The implied first key: -object TYPE,... */
		for (n = 0; n < al && arg[n] != ',' && arg[n] != '='; n++)
			;
		if (n == al || arg[n] == ',')
			copy_span(type, sizeof(type), arg, n);
	}
	if (strncmp(type, "memory-backend-", 15) != 0 || q->nmems == AUDIT_QEMU_MEMS_MAX)
		return;
	m = &q->mems[q->nmems++];
	memset(m, 0, sizeof(*m));
	copy_span(m->kind, sizeof(m->kind), type + 15, strlen(type + 15));
	opt_value(arg, al, "id", m->id, sizeof(m->id));
	opt_value(arg, al, "mem-path", m->path, sizeof(m->path));
	opt_value(arg, al, "share", share, sizeof(share));
	m->share = on_word(share);
}

void audit_parse_qemu(const uint8_t *buf, size_t len, struct audit_qemu *q)
{
	const char *s = (const char *)buf, *args[2];
	struct qnode *nodes = NULL;
	size_t i = 0, n, alen[2], nnodes = 0, argc = 0;
	const char *arg;
	size_t al;

	memset(q, 0, sizeof(*q));
	nodes = calloc(QNODES_MAX, sizeof(*nodes));
	if (!nodes)
		return;
	args[0] = args[1] = NULL;
	alen[0] = alen[1] = 0;
	while (i < len) {
		arg = s + i;
		n = strnlen(arg, len - i);
		al = n;
		i += n + 1;
		if (argc > 0 && !args[0] && al > 2 && arg[0] == '-' && arg[1] == '-') {
			arg++;
			al--;
		}
		if (argc++ == 0) {
			q->is_qemu = is_qemu_binary(arg, al);
			if (!q->is_qemu)
				break;
			continue;
		}
		/* args[0] is the previous argument: an option that takes this one as value. */
		if (args[0]) {
			const char *opt = args[0];
			size_t ol = alen[0];
			struct qnode *node = NULL;

#define OPT(x) (ol == strlen(x) && memcmp(opt, x, ol) == 0)
			if (OPT("-machine") || OPT("-M")) {
				if (has_option(arg, al, "dump-guest-core=off"))
					q->dump_guest_core_off = true;
			} else if (OPT("-overcommit")) {
				if (has_option(arg, al, "mem-lock=on") ||
				    has_option(arg, al, "mem-lock=on-fault"))
					q->mem_lock = true;
			} else if (OPT("-realtime")) {
				if (has_option(arg, al, "mlock=on"))
					q->mem_lock = true;
			} else if (OPT("-device")) {
				char v[32];

				if ((al >= 14 && memcmp(arg, "virtio-balloon", 14) == 0) ||
				    memmem(arg, al, "\"virtio-balloon", 15))
					q->balloon = true;
				if ((al >= 13 && memcmp(arg, "vhost-user-fs", 13) == 0) ||
				    memmem(arg, al, "\"vhost-user-fs", 14)) {
					q->virtiofs = true;
					/* A DAX window (cache-size, out-of-tree QEMU). */
					if (opt_value(arg, al, "cache-size", v, sizeof(v)) &&
					    strcmp(v, "0") != 0)
						q->virtiofs_dax = true;
				}
			} else if (OPT("-object")) {
				parse_object(arg, al, q);
			} else if (OPT("-mem-path")) {
				if (q->nmems < AUDIT_QEMU_MEMS_MAX) {
					struct audit_qemu_mem *m = &q->mems[q->nmems++];

					memset(m, 0, sizeof(*m));
					snprintf(m->id, sizeof(m->id), "-mem-path");
					snprintf(m->kind, sizeof(m->kind), "file");
					copy_span(m->path, sizeof(m->path), arg, al);
				}
			} else if (OPT("-incoming")) {
				copy_span(q->incoming, sizeof(q->incoming), arg, al);
			} else if (OPT("-global")) {
				if (arg && al > 10 && memcmp(arg, "migration.", 10) == 0) {
					if (memmem(arg, al, "background-snapshot=on", 22))
						q->background_snapshot = true;
					if (memmem(arg, al, "postcopy-ram=on", 15))
						q->postcopy = true;
				}
			} else if (OPT("-name")) {
				const char *g = memmem(arg, al, "guest=", 6);
				const char *start = g ? g + 6 : arg;
				const char *comma = memchr(start, ',', al - (size_t)(start - arg));

				copy_span(q->name, sizeof(q->name), start,
					  comma ? (size_t)(comma - start)
						: al - (size_t)(start - arg));
			} else if ((OPT("-drive") || OPT("-blockdev")) && nnodes < QNODES_MAX) {
				node = &nodes[nnodes++];
				node->drive = OPT("-drive");
				if (al > 0 && arg[0] == '{')
					parse_json_option(arg, al, node);
				else
					parse_kv_option(arg, al, node);
			} else if ((OPT("-hda") || OPT("-hdb") || OPT("-hdc") || OPT("-hdd")) &&
				   nnodes < QNODES_MAX) {
				node = &nodes[nnodes++];
				copy_span(node->filename, sizeof(node->filename), arg, al);
			}
#undef OPT
			args[0] = NULL;
			continue;
		}
		if (takes_value(arg, al)) {
			args[0] = arg;
			alen[0] = al;
		}
	}
	if (q->is_qemu)
		resolve_nodes(nodes, nnodes, q);
	free(nodes);
}
