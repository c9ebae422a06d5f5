/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt dump: a header described like `cryptsetup luksDump`, or as JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/describe.h"
#include "format/luks2_json.h"
#include "base/util.h"
#include "vmcrypt.h"

struct text {
	FILE *f;
	char *buf;
	size_t len;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(t->f, fmt, ap);
	va_end(ap);
}

/* Bytes as space-separated hex, 16 per line, continuation lines indented like cryptsetup. */
static void put_hex(struct text *t, const uint8_t *p, size_t len, const char *indent)
{
	for (size_t i = 0; i < len; i++) {
		if (i && i % 16 == 0)
			put(t, "\n%s", indent);
		put(t, "%02x%s", p[i], (i + 1) % 16 && i + 1 < len ? " " : "");
	}
	put(t, "\n");
}

static void describe_luks1(struct text *t, const struct luks_meta *m)
{
	const struct luks_digest *d = &m->digests[0];
	char cipher[LUKS_CIPHER_MAX] = "", mode[LUKS_CIPHER_MAX] = "";

	cipher_spec_split(m->cipher, cipher, sizeof(cipher), mode, sizeof(mode));
	put(t, "LUKS header information\n\n");
	put(t, "Version:       \t1\n");
	put(t, "Cipher name:   \t%s\n", cipher);
	put(t, "Cipher mode:   \t%s\n", mode);
	put(t, "Hash spec:     \t%s\n", m->hash);
	put(t, "Payload offset:\t%u\n", m->payload_offset);
	put(t, "MK bits:       \t%zu\n", m->key_size * 8);
	put(t, "MK digest:     \t");
	put_hex(t, d->value, d->value_len, "               \t");
	put(t, "MK salt:       \t");
	put_hex(t, d->salt, d->salt_len, "               \t");
	put(t, "MK iterations: \t%u\n", d->iterations);
	put(t, "UUID:          \t%s\n\n", m->uuid);
	for (int i = 0; i < 8; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		if (k->kind != LUKS_KEYSLOT_LUKS2) {
			put(t, "Key Slot %d: DISABLED\n", i);
			continue;
		}
		put(t, "Key Slot %d: ENABLED\n", i);
		put(t, "\tIterations:         \t%u\n", k->kdf.iterations);
		put(t, "\tSalt:               \t");
		put_hex(t, k->salt, k->salt_len, "\t                      \t");
		put(t, "\tKey material offset:\t%" PRIu64 "\n", k->area_offset / LUKS_SECTOR);
		put(t, "\tAF stripes:            \t%u\n", k->stripes);
	}
}

static const char *priority_name(int p)
{
	return p == 0 ? "ignored" : p == 2 ? "preferred" : "normal";
}

static void describe_luks2(struct text *t, const struct luks_meta *m)
{
	int ids[LUKS_MAX_KEYSLOTS];
	const char *types[LUKS_MAX_KEYSLOTS];
	char flags[256];
	int ntok;

	luks2_json_config_flags(m->json, flags, sizeof(flags));
	put(t, "LUKS header information\n");
	/* A public-key image is not encrypted in any useful sense yet: say so first. */
	if (luks_meta_is_public(m))
		put(t,
		    "WARNING: PUBLIC KEY: the passphrase is the documented public one \"%s\";\n"
		    "         anyone can decrypt this image until it is re-keyed\n"
		    "         (vmcrypt rekey IMAGE --public-key).\n",
		    VMC_PUBLIC_PASSPHRASE);
	put(t, "Version:       \t2\n");
	put(t, "Epoch:         \t%" PRIu64 "\n", m->seqid);
	put(t, "Metadata area: \t%" PRIu64 " [bytes]\n", m->hdr_size);
	put(t, "Keyslots area: \t%" PRIu64 " [bytes]\n", m->keyslots_size);
	put(t, "UUID:          \t%s\n", m->uuid);
	put(t, "Label:         \t%s\n", m->label[0] ? m->label : "(no label)");
	put(t, "Subsystem:     \t%s\n", m->subsystem[0] ? m->subsystem : "(no subsystem)");
	put(t, "Flags:       \t%s\n", flags[0] ? flags : "(no flags)");
	if (m->reencrypt || m->requirement[0])
		put(t, "Requirements:\t%s\n",
		    m->requirement[0] ? m->requirement : "online-reencrypt-v2");
	put(t, "\nData segments:\n");
	for (int i = 0; i < LUKS_MAX_SEGMENTS; i++) {
		const struct luks_segment *s = &m->segments[i];
		if (s->kind == LUKS_SEGMENT_UNUSED)
			continue;
		put(t, "  %d: %s\n", i, s->kind == LUKS_SEGMENT_CRYPT ? "crypt" : "linear");
		put(t, "\toffset: %" PRIu64 " [bytes]\n", s->offset);
		if (s->dynamic)
			put(t, "\tlength: (whole device)\n");
		else
			put(t, "\tlength: %" PRIu64 " [bytes]\n", s->size);
		if (s->kind == LUKS_SEGMENT_CRYPT) {
			put(t, "\tcipher: %s\n", s->cipher);
			put(t, "\tsector: %u [bytes]\n", s->sector_size);
			if (s->iv_tweak)
				put(t, "\tIV tweak: %" PRIu64 "\n", s->iv_tweak);
		}
		if (s->flag[0])
			put(t, "\tflags : %s\n", s->flag);
	}
	put(t, "\nKeyslots:\n");
	for (int i = 0; i < LUKS_MAX_KEYSLOTS; i++) {
		const struct luks_keyslot *k = &m->keyslots[i];
		if (k->kind == LUKS_KEYSLOT_UNUSED)
			continue;
		if (k->kind != LUKS_KEYSLOT_LUKS2) {
			put(t, "  %d: %s\n", i,
			    k->kind == LUKS_KEYSLOT_REENCRYPT ? "reencrypt" : "(unknown type)");
			if (k->area_size) {
				put(t, "\tArea offset:%" PRIu64 " [bytes]\n", k->area_offset);
				put(t, "\tArea length:%" PRIu64 " [bytes]\n", k->area_size);
			}
			continue;
		}
		put(t, "  %d: luks2\n", i);
		put(t, "\tKey:        %zu bits\n", k->key_size * 8);
		put(t, "\tPriority:   %s\n", priority_name(k->priority));
		put(t, "\tCipher:     %s\n", k->area_cipher);
		put(t, "\tCipher key: %zu bits\n", k->area_key_size * 8);
		put(t, "\tPBKDF:      %s\n", kdf_type_name(k->kdf.type));
		if (k->kdf.type == KDF_PBKDF2) {
			put(t, "\tHash:       %s\n", k->kdf.hash);
			put(t, "\tIterations: %u\n", k->kdf.iterations);
		} else {
			put(t, "\tTime cost:  %u\n", k->kdf.time);
			put(t, "\tMemory:     %u\n", k->kdf.memory_kib);
			put(t, "\tThreads:    %u\n", k->kdf.parallel);
		}
		put(t, "\tSalt:       ");
		put_hex(t, k->salt, k->salt_len, "\t            ");
		put(t, "\tAF stripes: %u\n", k->stripes);
		put(t, "\tAF hash:    %s\n", k->af_hash);
		put(t, "\tArea offset:%" PRIu64 " [bytes]\n", k->area_offset);
		put(t, "\tArea length:%" PRIu64 " [bytes]\n", k->area_size);
		put(t, "\tDigest ID:  %d\n", k->digest);
	}
	put(t, "Tokens:\n");
	ntok = luks2_json_tokens(m->json, ids, types, LUKS_MAX_KEYSLOTS);
	for (int i = 0; i < ntok; i++)
		put(t, "  %d: %s\n", ids[i], types[i] ? types[i] : "(unknown)");
	put(t, "Digests:\n");
	for (int i = 0; i < LUKS_MAX_DIGESTS; i++) {
		const struct luks_digest *d = &m->digests[i];
		if (!d->used)
			continue;
		put(t, "  %d: pbkdf2\n", i);
		put(t, "\tHash:       %s\n", d->hash);
		put(t, "\tIterations: %u\n", d->iterations);
		put(t, "\tSalt:       ");
		put_hex(t, d->salt, d->salt_len, "\t            ");
		put(t, "\tDigest:     ");
		put_hex(t, d->value, d->value_len, "\t            ");
	}
}

int luks_describe(const struct luks_meta *m, uint64_t data_size, bool json, char **ret_text)
{
	struct text t = {0};

	if (json) {
		char *s = luks_json_describe(m, data_size);
		if (!s)
			return -ENOMEM;
		*ret_text = s;
		return 0;
	}
	t.f = open_memstream(&t.buf, &t.len);
	if (!t.f)
		return -ENOMEM;
	if (m->version == 1)
		describe_luks1(&t, m);
	else
		describe_luks2(&t, m);
	if (fclose(t.f) != 0) {
		free(t.buf);
		return -ENOMEM;
	}
	*ret_text = t.buf;
	return 0;
}
