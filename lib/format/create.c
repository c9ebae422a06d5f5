/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* New LUKS1/LUKS2 headers: defaults like cryptsetup's, layout, first keyslot, commit. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <uuid/uuid.h>

#include "format/create.h"
#include "format/keyslot.h"
#include "format/luks1.h"
#include "format/luks2_hdr.h"
#include "format/luks2_json.h"
#include "base/log.h"
#include "base/util.h"

#define DEFAULT_CIPHER	   "aes-xts-plain64"
#define DEFAULT_HASH	   "sha256"
#define DEFAULT_ITER_TIME  2000
#define DEFAULT_MEMORY_KIB (1024u * 1024)
#define DEFAULT_STRIPES	   4000
#define SALT_LEN	   32
#define MIB		   (1024u * 1024)

/* The fully resolved parameters of a new image. */
struct format_plan {
	int version;
	char cipher[LUKS_CIPHER_MAX];
	size_t key_len;
	char hash[LUKS_HASH_MAX];
	struct kdf_params kdf;
	uint32_t digest_iterations;
	uint32_t sector_size;
	uint64_t hdr_size;
	uint64_t keyslots_size;
	uint64_t data_offset;
	int keyslot;
};

int luks_kdf_plan(int version, const char *pbkdf, const char *hash, uint32_t iter_time_ms,
		  uint32_t force_iterations, uint32_t memory_kib, uint32_t parallel, size_t key_len,
		  struct kdf_params *ret_kdf, uint32_t *ret_digest_iterations)
{
	const char *name = pbkdf ? pbkdf : version == 1 ? "pbkdf2" : "argon2id";
	uint32_t iter_time = iter_time_ms ? iter_time_ms : DEFAULT_ITER_TIME;
	unsigned cpus = cpu_count();
	struct kdf_params kdf = {0};
	int r;

	r = kdf_type_from_name(name, &kdf.type);
	if (r < 0) {
		log_err("unsupported PBKDF '%s' (use pbkdf2, argon2i or argon2id)", name);
		return VMC_ENOTSUP;
	}
	if (version == 1 && kdf.type != KDF_PBKDF2) {
		log_err("LUKS1 supports only the pbkdf2 PBKDF");
		return -EINVAL;
	}
	snprintf(kdf.hash, sizeof(kdf.hash), "%s", hash);
	kdf.memory_kib = memory_kib ? memory_kib : DEFAULT_MEMORY_KIB;
	kdf.parallel = parallel ? parallel : (cpus < 4 ? cpus : 4);
	if (kdf.memory_kib > KDF_MAX_MEMORY_KIB || kdf.parallel > KDF_MAX_PARALLEL ||
	    kdf.memory_kib < 8 * kdf.parallel) {
		log_err(
		    "PBKDF memory must be between %u and %u KiB and parallel threads at most %u",
		    8 * kdf.parallel, KDF_MAX_MEMORY_KIB, KDF_MAX_PARALLEL);
		return -EINVAL;
	}
	if (force_iterations) {
		if (kdf.type == KDF_PBKDF2 && force_iterations < 1000) {
			log_err("PBKDF2 needs at least 1000 iterations");
			return -EINVAL;
		}
		if (kdf.type == KDF_PBKDF2)
			kdf.iterations = force_iterations;
		else
			kdf.time = force_iterations;
		/* Forced costs mean "no benchmark": the digest takes the minimum too. */
		if (ret_digest_iterations)
			*ret_digest_iterations = 1000;
		*ret_kdf = kdf;
		return 0;
	}
	r = kdf_benchmark(&kdf, key_len, iter_time);
	if (r < 0) {
		log_err("PBKDF benchmark failed");
		return r;
	}
	if (ret_digest_iterations) {
		/* The volume key digest: PBKDF2 for an eighth of the unlock time, as cryptsetup. */
		struct kdf_params d = {.type = KDF_PBKDF2};
		snprintf(d.hash, sizeof(d.hash), "%s", hash);
		r = kdf_benchmark(&d, key_len, iter_time / 8 ? iter_time / 8 : 1);
		if (r < 0)
			return r;
		*ret_digest_iterations = d.iterations < 1000 ? 1000 : d.iterations;
	}
	*ret_kdf = kdf;
	return 0;
}

static int plan_kdf(const struct vmc_format_params *p, struct format_plan *plan)
{
	return luks_kdf_plan(plan->version, p->pbkdf, plan->hash, p->iter_time_ms,
			     p->force_iterations, p->pbkdf_memory_kib, p->pbkdf_parallel,
			     plan->key_len, &plan->kdf, &plan->digest_iterations);
}

static int plan_format(const struct vmc_format_params *p, const struct format_hook *hook,
		       struct format_plan *plan)
{
	bool xts;
	int r;

	memset(plan, 0, sizeof(*plan));
	plan->version = p->luks_version ? p->luks_version : 2;
	if (plan->version != 1 && plan->version != 2) {
		log_err("unknown LUKS version %d", p->luks_version);
		return -EINVAL;
	}
	snprintf(plan->cipher, sizeof(plan->cipher), "%s", p->cipher ? p->cipher : DEFAULT_CIPHER);
	xts = strstr(plan->cipher, "-xts-") != NULL;
	plan->key_len = p->key_bits ? p->key_bits / 8 : (xts ? 64 : 32);
	if ((p->key_bits % 8) || !sector_cipher_supported(plan->cipher, plan->key_len)) {
		log_err("cipher %s with a %zu-bit key is not supported%s", plan->cipher,
			plan->key_len * 8, sector_cipher_why(plan->cipher));
		return VMC_ENOTSUP;
	}
	if (p->volume_key && p->volume_key_len != plan->key_len) {
		log_err("the volume key has %zu bits, the cipher needs %zu", p->volume_key_len * 8,
			plan->key_len * 8);
		return -EINVAL;
	}
	snprintf(plan->hash, sizeof(plan->hash), "%s", p->hash ? p->hash : DEFAULT_HASH);
	if (crypto_hash_len(plan->hash) < 0) {
		log_err("hash '%s' is not supported", plan->hash);
		return VMC_ENOTSUP;
	}

	if (plan->version == 1) {
		if (p->sector_size && p->sector_size != LUKS_SECTOR) {
			log_err("LUKS1 supports only 512-byte sectors");
			return -EINVAL;
		}
		if (p->label || p->subsystem || p->metadata_size || p->keyslots_size) {
			log_err("labels, subsystems and metadata sizes need LUKS2");
			return -EINVAL;
		}
		plan->sector_size = LUKS_SECTOR;
		plan->keyslot = p->keyslot > 0 ? p->keyslot : 0;
		if (plan->keyslot >= 8) {
			log_err("LUKS1 has keyslots 0 to 7");
			return -EINVAL;
		}
		plan->data_offset =
		    p->header ? 0
			      : (uint64_t)luks1_layout(plan->key_len, DEFAULT_STRIPES, NULL) *
				    LUKS_SECTOR;
	} else {
		plan->sector_size = p->sector_size
					? p->sector_size
					: (p->data_size % 4096 == 0 ? 4096 : LUKS_SECTOR);
		if (plan->sector_size < 512 || plan->sector_size > 4096 ||
		    !is_power_of_2(plan->sector_size)) {
			log_err("sector size must be 512, 1024, 2048 or 4096");
			return -EINVAL;
		}
		plan->hdr_size = p->metadata_size ? p->metadata_size : LUKS2_HDR_MIN;
		if (!is_power_of_2(plan->hdr_size) || plan->hdr_size < LUKS2_HDR_MIN ||
		    plan->hdr_size > LUKS2_HDR_MAX) {
			log_err("metadata size must be a power of two from 16 KiB to 4 MiB");
			return -EINVAL;
		}
		plan->keyslots_size = p->keyslots_size ? p->keyslots_size
				      : hook && hook->data_offset > 2 * plan->hdr_size
					  ? (hook->data_offset - 2 * plan->hdr_size) / 4096 * 4096
					  : LUKS2_DATA_OFFSET_DEFAULT - 2 * plan->hdr_size;
		if (plan->keyslots_size % 4096 || plan->keyslots_size > (128ull << 20) ||
		    plan->keyslots_size < round_up_u64(plan->key_len * DEFAULT_STRIPES, 4096)) {
			log_err("keyslots area size must be a multiple of 4 KiB, large enough for "
				"one keyslot and at most 128 MiB");
			return -EINVAL;
		}
		plan->data_offset =
		    p->header ? 0 : round_up_u64(2 * plan->hdr_size + plan->keyslots_size, MIB);
		if (hook && hook->data_offset && !p->header) {
			if (hook->data_offset < 2 * plan->hdr_size + plan->keyslots_size) {
				log_err(
				    "the header needs %llu bytes before the data",
				    (unsigned long long)(2 * plan->hdr_size + plan->keyslots_size));
				return -ENOSPC;
			}
			plan->data_offset = hook->data_offset;
		}
		plan->keyslot = p->keyslot > 0 ? p->keyslot : 0;
		if (plan->keyslot >= LUKS_MAX_KEYSLOTS) {
			log_err("LUKS2 has keyslots 0 to 31");
			return -EINVAL;
		}
		if ((p->label && strlen(p->label) > 47) ||
		    (p->subsystem && strlen(p->subsystem) > 47)) {
			log_err("label and subsystem are at most 47 bytes");
			return -EINVAL;
		}
	}
	if (p->data_size == 0 || p->data_size % plan->sector_size) {
		log_err("data size must be a non-zero multiple of the %u-byte sector size",
			plan->sector_size);
		return -EINVAL;
	}
	if (p->uuid) {
		uuid_t u;
		if (uuid_parse(p->uuid, u) < 0) {
			log_err("'%s' is not a valid UUID", p->uuid);
			return -EINVAL;
		}
	}
	r = plan_kdf(p, plan);
	return r;
}

static void make_uuid(const struct vmc_format_params *p, char *out)
{
	uuid_t u;

	if (p->uuid)
		uuid_parse(p->uuid, u);
	else
		uuid_generate_random(u);
	uuid_unparse_lower(u, out);
}

/* The first keyslot's description (its material is written by luks_keyslot_store). */
static void plan_keyslot(const struct format_plan *plan, uint64_t area_offset,
			 struct luks_keyslot *k)
{
	memset(k, 0, sizeof(*k));
	k->kind = LUKS_KEYSLOT_LUKS2;
	k->priority = 1;
	k->key_size = plan->key_len;
	k->kdf = plan->kdf;
	snprintf(k->af_hash, sizeof(k->af_hash), "%s", plan->hash);
	k->stripes = DEFAULT_STRIPES;
	k->area_offset = area_offset;
	k->area_size = plan->version == 1 ? af_split_sectors_bytes(plan->key_len, DEFAULT_STRIPES)
					  : round_up_u64(plan->key_len * DEFAULT_STRIPES, 4096);
	snprintf(k->area_cipher, sizeof(k->area_cipher), "%s", plan->cipher);
	k->area_key_size = plan->key_len;
	k->digest = 0;
}

static int format_luks1(const struct format_plan *plan, const struct vmc_format_params *p,
			struct storage *hdr, const uint8_t *vk, const void *pass, size_t pass_len,
			struct luks_meta *m)
{
	uint8_t buf[LUKS1_HDR_LEN];
	uint32_t slot_sectors;
	struct luks_keyslot *k;
	int r;

	m->version = 1;
	snprintf(m->cipher, sizeof(m->cipher), "%s", plan->cipher);
	snprintf(m->hash, sizeof(m->hash), "%s", plan->hash);
	m->key_size = plan->key_len;
	m->payload_offset = (uint32_t)(plan->data_offset / LUKS_SECTOR);
	make_uuid(p, m->uuid);
	r = luks_digest_make(&m->digests[0], plan->hash, plan->digest_iterations, SALT_LEN,
			     LUKS1_DIGEST_LEN, vk, plan->key_len);
	if (r < 0)
		return r;
	m->digests[0].segments = 1;
	m->segments[0].kind = LUKS_SEGMENT_CRYPT;
	m->segments[0].offset = plan->data_offset;
	m->segments[0].dynamic = true;
	m->segments[0].sector_size = LUKS_SECTOR;
	snprintf(m->segments[0].cipher, sizeof(m->segments[0].cipher), "%s", plan->cipher);

	luks1_layout(plan->key_len, DEFAULT_STRIPES, &slot_sectors);
	for (int i = 0; i < 8; i++)
		m->keyslots[i].area_offset = (8 + (uint64_t)i * slot_sectors) * LUKS_SECTOR;
	k = &m->keyslots[plan->keyslot];
	plan_keyslot(plan, k->area_offset, k);
	r = luks_keyslot_store(hdr, k, SALT_LEN, pass, pass_len, vk);
	if (r < 0)
		return r;
	m->digests[0].keyslots = 1ull << plan->keyslot;
	r = luks1_serialize(m, buf);
	if (r < 0)
		return r;
	/* Commit point: the header names the keyslot whose material is already on disk. */
	r = storage_write(hdr, buf, sizeof(buf), 0);
	if (r == 0)
		r = storage_sync(hdr);
	if (r == 0) {
		memcpy(m->raw1, buf, sizeof(buf));
		m->have_raw1 = true;
	}
	return r;
}

static int format_luks2(const struct format_plan *plan, const struct vmc_format_params *p,
			const struct format_hook *hook, struct storage *hdr, const uint8_t *vk,
			const void *pass, size_t pass_len, struct luks_meta *m)
{
	struct luks_keyslot *k;
	struct luks_digest *d;
	struct luks_segment *s;
	int r;

	m->version = 2;
	m->hdr_size = plan->hdr_size;
	m->keyslots_size = plan->keyslots_size;
	snprintf(m->csum_alg, sizeof(m->csum_alg), "sha256");
	snprintf(m->label, sizeof(m->label), "%s", p->label ? p->label : "");
	snprintf(m->subsystem, sizeof(m->subsystem), "%s", p->subsystem ? p->subsystem : "");
	make_uuid(p, m->uuid);
	r = luks2_json_new(plan->hdr_size - LUKS2_HDR_BIN_LEN, plan->keyslots_size, &m->json);
	if (r < 0)
		return r;

	s = &m->segments[0];
	s->kind = LUKS_SEGMENT_CRYPT;
	s->offset = plan->data_offset;
	s->dynamic = true;
	s->sector_size = plan->sector_size;
	snprintf(s->cipher, sizeof(s->cipher), "%s", plan->cipher);

	k = &m->keyslots[plan->keyslot];
	plan_keyslot(plan, 2 * plan->hdr_size, k);
	r = luks_keyslot_store(hdr, k, SALT_LEN, pass, pass_len, vk);
	if (r < 0)
		return r;

	d = &m->digests[0];
	r = luks_digest_make(d, plan->hash, plan->digest_iterations, SALT_LEN,
			     (size_t)crypto_hash_len(plan->hash), vk, plan->key_len);
	if (r < 0)
		return r;
	d->keyslots = 1ull << plan->keyslot;
	d->segments = 1;

	if ((r = luks2_json_set_segment(m->json, 0, s)) < 0 ||
	    (r = luks2_json_set_keyslot(m->json, plan->keyslot, k)) < 0 ||
	    (r = luks2_json_set_digest(m->json, 0, d)) < 0)
		return r;
	/* Re-derive the model from the tree: what we write is exactly what we would read. */
	r = luks2_json_to_meta(m->json, m->hdr_size, m);
	if (r < 0)
		return r;
	if (hook && hook->prepare) {
		/* The first header write already carries what the caller adds (re-encryption). */
		if ((r = hook->prepare(m, vk, plan->key_len, hook->ctx)) < 0 ||
		    (r = luks2_json_to_meta(m->json, m->hdr_size, m)) < 0)
			return r;
	}
	return luks2_hdr_store(hdr, m);
}

int luks_format_size(const struct vmc_format_params *p, uint64_t *ret_size)
{
	struct format_plan plan;
	int r = plan_format(p, NULL, &plan);

	if (r < 0)
		return r;
	if (p->header) {
		*ret_size = p->data_size;
		return 0;
	}
	return add_u64(plan.data_offset, p->data_size, ret_size) ? 0 : -EFBIG;
}

int luks_format(struct storage *hdr, struct storage *data, const struct vmc_format_params *p,
		const struct format_hook *hook, const void *pass, size_t pass_len,
		struct luks_meta *m, uint8_t **ret_vk)
{
	struct format_plan plan;
	uint8_t *vk = NULL;
	uint64_t hdr_end, data_end;
	int r;

	memset(m, 0, sizeof(*m));
	r = plan_format(p, hook, &plan);
	if (r < 0)
		return r;
	vk = secmem_alloc(plan.key_len);
	if (!vk)
		return -ENOMEM;
	if (p->volume_key)
		memcpy(vk, p->volume_key, plan.key_len);
	else if ((r = crypto_random(vk, plan.key_len)) < 0)
		goto out;

	/* Sparse files: set the sizes first, so data that is never written costs no space. */
	hdr_end = plan.version == 1
		      ? (p->header ? (uint64_t)luks1_layout(plan.key_len, DEFAULT_STRIPES, NULL) *
					 LUKS_SECTOR
				   : plan.data_offset)
		      : 2 * plan.hdr_size + plan.keyslots_size;
	if (!add_u64(plan.data_offset, p->data_size, &data_end)) {
		r = -EFBIG;
		goto out;
	}
	if (p->header && (r = storage_truncate(hdr, hdr_end)) < 0)
		goto out;
	/* In-place encryption keeps the data file as it is. */
	if (!(hook && hook->keep_size) &&
	    (r = storage_truncate(data, p->header ? p->data_size : data_end)) < 0)
		goto out;
	if (hook && hook->prepare && plan.version != 2) {
		r = VMC_ENOTSUP;
		goto out;
	}
	r = plan.version == 1 ? format_luks1(&plan, p, hdr, vk, pass, pass_len, m)
			      : format_luks2(&plan, p, hook, hdr, vk, pass, pass_len, m);
	if (r < 0)
		goto out;
	*ret_vk = vk;
	vk = NULL;
out:
	if (r < 0)
		luks_meta_clear(m);
	secmem_free(vk);
	return r;
}
