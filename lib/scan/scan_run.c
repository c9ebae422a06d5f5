/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc_scan_run(): the public entry of the key scanner, and its text and JSON reports. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/textbuf.h"
#include "crypto/backend.h"
#include "io/storage.h"
#include "scan/scan_internal.h"
#include "base/log.h"
#include "base/util.h"

#define SCAN_CHUNK (4u << 20)

struct run {
	const struct vmc_scan_params *p;
	const char *const *paths; /* the files given, then the VM states of their snapshots */
	size_t npaths;
	size_t nfiles; /* the files given */
	const struct scan_vmstates *vms;
	uint64_t *sizes;
	uint64_t scanned;
	struct scan_hits hits;
	struct scan_header_match hm;
	bool header_done;
};

static const char *part_text(unsigned part)
{
	switch (part) {
	case SCAN_PART_WHOLE:
		return "the volume key";
	case SCAN_PART_FIRST:
		return "the first half of the volume key (XTS data key)";
	case SCAN_PART_SECOND:
		return "the second half of the volume key (XTS tweak key)";
	default:
		return NULL;
	}
}

static const char *part_json(unsigned part)
{
	switch (part) {
	case SCAN_PART_WHOLE:
		return "volume-key";
	case SCAN_PART_FIRST:
		return "first-half";
	case SCAN_PART_SECOND:
		return "second-half";
	default:
		return NULL;
	}
}

static const char *what_json(unsigned what)
{
	switch (what) {
	case SCAN_WHAT_ENC_SCHEDULE:
		return "encryption-schedule";
	case SCAN_WHAT_DEC_SCHEDULE:
		return "decryption-schedule";
	default:
		return "key";
	}
}

static const char *layout_text(unsigned layout)
{
	return layout == SCAN_LAYOUT_WORDS ? "32-bit words byte-reversed, as OpenSSL's AES_KEY"
					   : "FIPS-197 byte order";
}

/* One line (without newline) describing h. */
static void describe(struct textbuf *b, const struct run *run, const struct scan_hit *h)
{
	const char *name = run->p->key_name;

	if (h->what == SCAN_WHAT_KEY) {
		tb_printf(b, "%s", part_text(h->part));
		if (h->part != SCAN_PART_WHOLE)
			tb_printf(b, ", %u bits", h->key_bits);
		else
			tb_printf(b, " (%u bits)", h->key_bits);
	} else {
		tb_printf(b, "AES-%u %s key schedule (%s)", h->key_bits,
			  h->what == SCAN_WHAT_ENC_SCHEDULE ? "encryption" : "decryption",
			  layout_text(h->layout));
		if (h->part != SCAN_PART_NONE)
			tb_printf(b, " of %s", part_text(h->part));
		else if (h->bit_errors)
			tb_printf(b, ", %u bit error%s", h->bit_errors,
				  h->bit_errors == 1 ? "" : "s");
		else
			tb_printf(b, ", exact");
	}
	if (h->part != SCAN_PART_NONE && name)
		tb_printf(b, " of %s", name);
}

/* Known-key verdict for one file: 2 the whole key recoverable, 1 one half, 0 nothing. */
static int file_verdict(const struct run *run, uint32_t file)
{
	bool whole = false, first = false, second = false;
	size_t i;

	for (i = 0; i < run->hits.n; i++) {
		const struct scan_hit *h = &run->hits.v[i];

		if (h->file != file)
			continue;
		whole |= h->part == SCAN_PART_WHOLE;
		first |= h->part == SCAN_PART_FIRST;
		second |= h->part == SCAN_PART_SECOND;
	}
	if (whole || (first && second))
		return 2;
	return first || second ? 1 : 0;
}

static size_t distinct_keys(const struct run *run)
{
	size_t i, j, n = 0;

	for (i = 0; i < run->hits.n; i++) {
		const struct scan_hit *h = &run->hits.v[i];

		for (j = 0; j < i; j++) {
			const struct scan_hit *g = &run->hits.v[j];

			if (g->key_bits == h->key_bits &&
			    crypto_memeq(g->key, h->key, h->key_bits / 8))
				break;
		}
		n += j == i;
	}
	return n;
}

static void report_text(struct textbuf *b, const struct run *run)
{
	const struct vmc_scan_params *p = run->p;
	const char *name = p->key_name ? p->key_name : "the image";
	size_t i;
	uint32_t f;

	for (i = 0; i < run->hits.n; i++) {
		const struct scan_hit *h = &run->hits.v[i];

		tb_printf(b, "%s: offset %" PRIu64 " (0x%" PRIx64 "): ", run->paths[h->file],
			  h->offset, h->offset);
		describe(b, run, h);
		tb_printf(b, "\n");
	}
	if (run->hits.dropped)
		tb_printf(b, "(%" PRIu64 " more findings not listed)\n", run->hits.dropped);
	tb_printf(b, "Scanned %zu file%s", run->nfiles, run->nfiles == 1 ? "" : "s");
	if (run->vms->n)
		tb_printf(b, " and %zu VM state%s of qcow2 snapshots", run->vms->n,
			  run->vms->n == 1 ? "" : "s");
	tb_printf(b, ", %" PRIu64 " bytes: %zu finding%s.\n", run->scanned, run->hits.n,
		  run->hits.n == 1 ? "" : "s");
	for (i = 0; i < run->vms->n; i++)
		if (run->vms->v[i].compressed_bytes)
			tb_printf(b, "%s: %" PRIu64 " bytes in compressed clusters not scanned.\n",
				  run->vms->v[i].name, run->vms->v[i].compressed_bytes);
	if (p->volume_key) {
		for (f = 0; f < run->npaths; f++) {
			int v = file_verdict(run, f);

			if (v == 2)
				tb_printf(b, "The volume key of %s is in %s.\n", name,
					  run->paths[f]);
			else if (v == 1)
				tb_printf(b,
					  "Half of the volume key of %s is in %s (the other "
					  "half was not found).\n",
					  name, run->paths[f]);
			else
				tb_printf(b, "No trace of the volume key of %s in %s.\n", name,
					  run->paths[f]);
		}
		return;
	}
	tb_printf(b, "%zu distinct AES key%s.\n", distinct_keys(run),
		  distinct_keys(run) == 1 ? "" : "s");
	if (!run->header_done)
		return;
	if (run->hm.matched) {
		const struct scan_hit *a = &run->hits.v[run->hm.hit_a];
		const struct scan_hit *c = &run->hits.v[run->hm.hit_b];

		if (run->hm.hit_a == run->hm.hit_b)
			tb_printf(b,
				  "%s: the volume key (%s, %zu bits) is in %s at offset %" PRIu64
				  ".\n",
				  p->header, run->hm.cipher, run->hm.key_len * 8,
				  run->paths[a->file], a->offset);
		else
			tb_printf(b,
				  "%s: the volume key (%s, %zu bits) is in the scanned data: data "
				  "key at %s offset %" PRIu64 ", tweak key at %s offset %" PRIu64
				  ".\n",
				  p->header, run->hm.cipher, run->hm.key_len * 8,
				  run->paths[a->file], a->offset, run->paths[c->file], c->offset);
	} else {
		tb_printf(b,
			  "%s: none of the keys found is its volume key (%s, %zu bits; %u "
			  "candidate%s tested%s).\n",
			  p->header, run->hm.cipher, run->hm.key_len * 8, run->hm.tested,
			  run->hm.tested == 1 ? "" : "s", run->hm.skipped ? ", some skipped" : "");
	}
}

static void json_hit(struct textbuf *b, const struct run *run, const struct scan_hit *h)
{
	tb_printf(b, "{\"path\":");
	tb_json_str(b, run->paths[h->file]);
	tb_printf(b, ",\"offset\":%" PRIu64 ",\"length\":%u,\"what\":\"%s\",\"key_bits\":%u,",
		  h->offset, h->len, what_json(h->what), h->key_bits);
	tb_printf(b, "\"layout\":");
	tb_json_str(b, h->what == SCAN_WHAT_KEY
			   ? NULL
			   : (h->layout == SCAN_LAYOUT_WORDS ? "words" : "bytes"));
	tb_printf(b, ",\"part\":");
	tb_json_str(b, part_json(h->part));
	tb_printf(b, ",\"bit_errors\":%u}", h->bit_errors);
}

static void report_json(struct textbuf *b, const struct run *run)
{
	const struct vmc_scan_params *p = run->p;
	static const char *const verdicts[] = {"none", "partial", "complete"};
	size_t i;

	tb_printf(b, "{\"mode\":\"%s\",\"max_bit_errors\":%u,\"files\":[",
		  p->volume_key ? "known-key" : "any-schedule",
		  p->volume_key ? 0 : p->max_bit_errors);
	for (i = 0; i < run->npaths; i++) {
		tb_printf(b, "%s{\"path\":", i ? "," : "");
		tb_json_str(b, run->paths[i]);
		tb_printf(b, ",\"size\":%" PRIu64, run->sizes[i]);
		if (i >= run->nfiles) {
			const struct scan_vmstate *v = &run->vms->v[i - run->nfiles];

			tb_printf(b, ",\"qcow2_snapshot\":{\"image\":");
			tb_json_str(b, run->paths[v->of]);
			tb_printf(b, ",\"name\":");
			tb_json_str(b, v->snapshot);
			tb_printf(b, ",\"compressed_bytes_not_scanned\":%" PRIu64 "}",
				  v->compressed_bytes);
		}
		if (p->volume_key)
			tb_printf(b, ",\"volume_key\":\"%s\"",
				  verdicts[file_verdict(run, (uint32_t)i)]);
		tb_printf(b, "}");
	}
	tb_printf(b, "],\"bytes_scanned\":%" PRIu64 ",\"findings\":[", run->scanned);
	for (i = 0; i < run->hits.n; i++) {
		if (i)
			tb_printf(b, ",");
		json_hit(b, run, &run->hits.v[i]);
	}
	tb_printf(b, "],\"findings_not_listed\":%" PRIu64, run->hits.dropped);
	if (p->volume_key) {
		tb_printf(b, ",\"key_name\":");
		tb_json_str(b, p->key_name);
	} else {
		tb_printf(b, ",\"distinct_keys\":%zu", distinct_keys(run));
	}
	if (run->header_done) {
		tb_printf(b, ",\"header\":{\"path\":");
		tb_json_str(b, p->header);
		tb_printf(b, ",\"cipher\":");
		tb_json_str(b, run->hm.cipher);
		tb_printf(b, ",\"key_bits\":%zu,\"tested\":%u,\"skipped\":%u,\"matched\":%s",
			  run->hm.key_len * 8, run->hm.tested, run->hm.skipped,
			  run->hm.matched ? "true" : "false");
		if (run->hm.matched) {
			tb_printf(b, ",\"keys\":[");
			json_hit(b, run, &run->hits.v[run->hm.hit_a]);
			if (run->hm.hit_b != run->hm.hit_a) {
				tb_printf(b, ",");
				json_hit(b, run, &run->hits.v[run->hm.hit_b]);
			}
			tb_printf(b, "]");
		}
		tb_printf(b, "}");
	}
	tb_printf(b, "}\n");
}

static int check_params(const struct vmc_scan_params *p, const char *const *paths, size_t npaths)
{
	size_t i;

	if (!p || !paths || npaths == 0 || npaths > UINT32_MAX)
		return -EINVAL;
	for (i = 0; i < npaths; i++)
		if (!paths[i])
			return -EINVAL;
	if (p->volume_key && (p->volume_key_len < 16 || p->volume_key_len > 64)) {
		log_err("volume key of %zu bytes: the scanner handles 16 to 64", p->volume_key_len);
		return -EINVAL;
	}
	if (p->volume_key && p->header) {
		log_err("a LUKS header to match is only used without a known volume key");
		return -EINVAL;
	}
	if (p->max_bit_errors > SCAN_MAX_BIT_ERRORS) {
		log_err("at most %d bit errors can be tolerated", SCAN_MAX_BIT_ERRORS);
		return -EINVAL;
	}
	return 0;
}

VMC_API int vmc_scan_run(const struct vmc_scan_params *p, const char *const *paths, size_t npaths,
			 char **ret_report, unsigned *ret_found)
{
	struct scan_vmstates vms = {0};
	struct run run = {.p = p, .nfiles = npaths, .vms = &vms};
	const char **names = NULL;
	struct scan_known *known = NULL;
	struct scan_any *any = NULL;
	struct scan_file_job job;
	struct textbuf b = {0};
	uint64_t total = 0, done = 0, size;
	char *text = NULL;
	size_t i;
	int r;

	r = check_params(p, paths, npaths);
	if (r < 0)
		return r;
	/* A qcow2 image's snapshots keep VM states (guest RAM) that its file holds scattered. */
	for (i = 0; i < npaths; i++) {
		r = scan_vmstates_add(&vms, paths[i], (uint32_t)i);
		if (r < 0)
			goto out;
	}
	run.npaths = npaths + vms.n;
	names = calloc(run.npaths, sizeof(*names));
	run.sizes = calloc(run.npaths, sizeof(*run.sizes));
	if (!names || !run.sizes) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < run.npaths; i++)
		names[i] = i < npaths ? paths[i] : vms.v[i - npaths].name;
	run.paths = names;
	if (p->volume_key)
		r = scan_known_new(p->volume_key, p->volume_key_len, &known);
	else
		r = scan_any_new(p->max_bit_errors, &any);
	if (r < 0)
		goto out;
	for (i = 0; i < npaths; i++) {
		r = scan_file_size(paths[i], &run.sizes[i]);
		if (r < 0)
			goto out;
		total += run.sizes[i];
	}
	for (i = 0; i < vms.n; i++) {
		r = storage_size(vms.v[i].st, &run.sizes[npaths + i]);
		if (r < 0)
			goto out;
		total += run.sizes[npaths + i];
	}
	job = (struct scan_file_job){
	    .known = known,
	    .any = any,
	    .threads = p->threads ? p->threads : cpu_count(),
	    .chunk = SCAN_CHUNK,
	    .hits = &run.hits,
	    .progress = p->progress,
	    .userdata = p->userdata,
	    .total = total,
	};
	if (job.threads > 256)
		job.threads = 256;
	for (i = 0; i < npaths; i++) {
		job.file = (uint32_t)i;
		job.done_before = done;
		r = scan_file(paths[i], &job, &size);
		if (r < 0)
			goto out;
		done += size;
		log_debug("%s: %" PRIu64 " bytes scanned", paths[i], size);
	}
	for (i = 0; i < vms.n; i++) {
		job.file = (uint32_t)(npaths + i);
		job.done_before = done;
		r = scan_storage(vms.v[i].st, &job, &size);
		if (r < 0)
			goto out;
		done += size;
		log_debug("%s: %" PRIu64 " bytes scanned", vms.v[i].name, size);
	}
	run.scanned = done;
	if (p->progress && !p->progress(done, total, p->userdata)) {
		r = -ECANCELED;
		goto out;
	}
	scan_hits_normalize(&run.hits);
	if (p->header) {
		r = scan_header_match(p->header, &run.hits, &run.hm);
		if (r < 0)
			goto out;
		run.header_done = true;
	}
	if (p->json)
		report_json(&b, &run);
	else
		report_text(&b, &run);
	r = tb_steal(&b, &text);
	if (r < 0)
		goto out;
	*ret_report = text;
	*ret_found = run.hits.n + run.hits.dropped > UINT32_MAX
			 ? UINT32_MAX
			 : (unsigned)(run.hits.n + run.hits.dropped);
out:
	tb_clear(&b);
	scan_hits_clear(&run.hits);
	scan_known_free(known);
	scan_any_free(any);
	free(run.sizes);
	free(names);
	scan_vmstates_clear(&vms);
	return r;
}
