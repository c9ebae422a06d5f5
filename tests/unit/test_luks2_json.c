/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* LUKS2 JSON: round trips keep unknown tokens and flags byte-for-byte; schema errors are caught. */
#include <stdlib.h>

#include "check.h"
#include "format/luks2_json.h"
#include "format/meta.h"
#include "vmcrypt.h"

/*
 * Headers written by cryptsetup (and by us) are in json-c's plain serialisation, which is a
 * fixed point of parse + serialise: that is the form in which objects must survive unchanged.
 */
static const char base[] =
    "{\"keyslots\":{\"0\":{\"type\":\"luks2\",\"key_size\":64,\"af\":{\"type\":\"luks1\","
    "\"stripes\":4000,\"hash\":\"sha256\"},\"area\":{\"type\":\"raw\",\"offset\":\"32768\","
    "\"size\":\"258048\",\"encryption\":\"aes-xts-plain64\",\"key_size\":64},\"kdf\":{"
    "\"type\":\"argon2id\",\"time\":4,\"memory\":32,\"cpus\":1,\"salt\":"
    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}}},"
    "\"tokens\":{\"3\":{\"type\":\"vendor-x\",\"keyslots\":[\"0\"],\"blob\":{\"n\":1.50,"
    "\"list\":[true,null,\"\xc3\xa9\"],\"big\":12345678901234567890}}},"
    "\"segments\":{\"0\":{\"type\":\"crypt\",\"offset\":\"16777216\",\"size\":\"dynamic\","
    "\"iv_tweak\":\"0\",\"encryption\":\"aes-xts-plain64\",\"sector_size\":4096}},"
    "\"digests\":{\"0\":{\"type\":\"pbkdf2\",\"keyslots\":[\"0\"],\"segments\":[\"0\"],"
    "\"hash\":\"sha256\",\"iterations\":1000,\"salt\":"
    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"digest\":"
    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}},"
    "\"config\":{\"json_size\":\"12288\",\"keyslots_size\":\"16744448\","
    "\"flags\":[\"allow-discards\",\"some-future-flag\"]}}";

static char *substr_of(const char *text, const char *start_marker)
{
	const char *s = strstr(text, start_marker);
	CHECK(s);
	return strndup(s, strlen(start_marker) + 120);
}

static int parse_meta(const char *text, struct luks_meta *m)
{
	struct luks2_json *j = NULL;
	int r = luks2_json_parse(text, strlen(text), &j);

	memset(m, 0, sizeof(*m));
	if (r < 0)
		return r;
	r = luks2_json_to_meta(j, 16384, m);
	luks2_json_free(j);
	return r;
}

/* base with one precise edit, parsed into m. */
static int edited(const char *from, const char *to, struct luks_meta *m)
{
	char *text = malloc(sizeof(base) + 400), *p;
	int r;

	p = strstr(base, from);
	CHECK(p);
	memcpy(text, base, (size_t)(p - base));
	strcpy(text + (p - base), to);
	strcat(text, p + strlen(from));
	r = parse_meta(text, m);
	free(text);
	return r;
}

/* One precise corruption of base, which must be rejected. */
static void reject(const char *from, const char *to)
{
	struct luks_meta m;

	if (edited(from, to, &m) == 0) {
		fprintf(stderr, "accepted: %s -> %s\n", from, to);
		exit(1);
	}
}

/*
 * One edit that leaves a valid header (as cryptsetup sees it) whose keyslot 0
 * or digest 0 cannot be used: the defect is recorded for the unlock to report.
 */
static void defect(const char *from, const char *to, int code)
{
	struct luks_meta m;

	if (edited(from, to, &m) != 0 ||
	    (m.keyslots[0].defect != code && m.digests[0].defect != code)) {
		fprintf(stderr, "no defect %d recorded: %s -> %s\n", code, from, to);
		exit(1);
	}
}

int main(void)
{
	struct luks2_json *j = NULL;
	struct luks_meta m;
	struct luks_keyslot k;
	char *out = NULL, *tok_before, *tok_after, *flags_before, *flags_after;
	size_t len;

	memset(&m, 0, sizeof(m));
	CHECK_OK(luks2_json_parse(base, strlen(base), &j));
	CHECK_OK(luks2_json_to_meta(j, 16384, &m));
	CHECK_EQ(m.keyslots[0].kind, LUKS_KEYSLOT_LUKS2);
	CHECK_EQ(m.keyslots[0].kdf.type, KDF_ARGON2ID);
	CHECK_EQ(m.keyslots[0].digest, 0);
	CHECK_EQ(m.segments[0].sector_size, 4096);
	CHECK(m.segments[0].dynamic);
	CHECK_EQ(m.keyslots_size, 16744448);

	/* An edit elsewhere keeps the token and flags exactly as they were. */
	tok_before = substr_of(base, "\"tokens\"");
	flags_before = substr_of(base, "\"flags\"");
	k = m.keyslots[0];
	k.area_offset = 32768 + 258048;
	k.priority = 2;
	CHECK_OK(luks2_json_set_keyslot(j, 5, &k));
	/* A luks2 keyslot no digest lists is a draft, not a header. */
	CHECK_EQ(luks2_json_to_meta(j, 16384, &m), VMC_ECORRUPT);
	CHECK_OK(luks2_json_to_meta_draft(j, 16384, &m));
	CHECK_OK(luks2_json_digest_link(j, 0, 5, true));
	CHECK_OK(luks2_json_serialize(j, &out, &len));
	tok_after = strstr(out, "\"tokens\"");
	flags_after = strstr(out, "\"flags\"");
	CHECK(tok_after && flags_after);
	CHECK(strncmp(tok_before, tok_after, strlen(tok_before)) == 0);
	CHECK(strncmp(flags_before, flags_after,
		      strlen("\"flags\":[\"allow-discards\",\"some-future-flag\"]")) == 0);
	CHECK_OK(luks2_json_to_meta(j, 16384, &m));
	CHECK_EQ(m.keyslots[5].priority, 2);
	CHECK_OK(luks2_json_remove_keyslot(j, 5));
	CHECK_OK(luks2_json_to_meta(j, 16384, &m));
	CHECK_EQ(m.keyslots[5].kind, LUKS_KEYSLOT_UNUSED);
	free(out);
	free(tok_before);
	free(flags_before);
	luks2_json_free(j);

	/* Staged validation: each precise corruption is refused. */
	reject("\"key_size\":64,\"af\"", "\"key_size\":\"64\",\"af\"");
	reject("\"stripes\":4000", "\"stripes\":\"4000\"");
	reject("\"offset\":\"32768\"", "\"offset\":\"16384\"");
	reject("\"offset\":\"32768\"", "\"offset\":\"-1\"");
	reject("\"offset\":\"32768\"", "\"offset\":\"99999999999999999999999\"");
	reject("\"size\":\"258048\"", "\"size\":\"99999999\"");
	reject("\"size\":\"258048\"", "\"size\":\"0\"");
	reject("\"sector_size\":4096", "\"sector_size\":3000");
	reject("\"sector_size\":4096", "\"sector_size\":0");
	reject("\"json_size\":\"12288\"", "\"json_size\":\"12289\"");
	reject("\"keyslots_size\":\"16744448\"", "\"keyslots_size\":\"100\"");
	reject("\"memory\":32", "\"memory\":\"32\"");
	reject("\"segments\":[\"0\"]", "\"segments\":[\"7\"]");
	reject("\"segments\":[\"0\"]", "\"segments\":[]");
	reject("\"keyslots\":[\"0\"],\"segments\"", "\"keyslots\":[\"9\"],\"segments\"");
	reject("\"keyslots\":[\"0\"],\"segments\"", "\"keyslots\":[],\"segments\"");
	reject("\"offset\":\"16777216\"", "\"offset\":\"4096\"");
	reject("\"size\":\"dynamic\"", "\"size\":\"4095\"");
	reject("{\"keyslots\":{\"0\"", "{\"keyslots\":{\"32\"");
	reject("\"tokens\":{\"3\":{\"type\":\"vendor-x\"",
	       "\"tokens\":{\"3\":{\"typo\":\"vendor-x\"");
	reject("\"segments\":{\"0\":", "\"segments\":{\"1\":");
	reject("\"flags\":[\"allow-discards\"", "\"flags\":[1");
	reject("\"af\":{\"type\":\"luks1\"", "\"af\":{\"type\":\"luks2\"");
	/* Values cryptsetup checks only when it opens the keyslot. */
	defect("\"memory\":32", "\"memory\":99999999999", VMC_ECORRUPT);
	defect("\"cpus\":1", "\"cpus\":1000", VMC_ECORRUPT);
	defect("\"salt\":\"AAAA", "\"salt\":\"!AAA", VMC_ECORRUPT);
	defect("\"type\":\"argon2id\"", "\"type\":\"argon2\"", VMC_ENOTSUP);
	defect("\"iterations\":1000", "\"iterations\":0", VMC_ECORRUPT);
	defect("\"type\":\"pbkdf2\"", "\"type\":\"vendor-digest\"", VMC_ENOTSUP);
	/* 40 bytes fit no aes-xts (48 is AES-192-XTS, which QEMU writes). */
	defect("\"key_size\":64}", "\"key_size\":40}", VMC_ECORRUPT);
	/* What vmcrypt does not read but cryptsetup calls valid: kept, the data refused later. */
	CHECK_OK(edited("\"sector_size\":4096", "\"sector_size\":8192", &m));
	CHECK_OK(edited("\"type\":\"crypt\"", "\"type\":\"vendor-seg\"", &m));
	CHECK_EQ(m.segments[0].kind, LUKS_SEGMENT_UNKNOWN);
	CHECK_OK(edited("\"stripes\":4000", "\"stripes\":1", &m));
	CHECK_EQ(m.keyslots[0].stripes, LUKS_AF_STRIPES);
	/* A second digest listing keyslot 0: a keyslot is bound to one digest only. */
	reject("\"digests\":{\"0\":",
	       "\"digests\":{\"1\":{\"type\":\"pbkdf2\",\"keyslots\":[\"0\"],\"segments\":[\"0\"],"
	       "\"hash\":\"sha256\",\"iterations\":1000,\"salt\":\"AAAAAAAAAAAAAAAAAAAAAA==\","
	       "\"digest\":\"AAAAAAAAAAAAAAAAAAAAAA==\"},\"0\":");
	return 0;
}
