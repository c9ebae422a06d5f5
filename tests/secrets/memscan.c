/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Own-memory search for masked secrets, with the VmFlags of each mapping hit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aes_schedule.h"
#include "tests/secrets/memscan.h"

void memscan_add(struct memscan *s, const char *name, const uint8_t *secret, size_t len)
{
	struct memscan_pattern *p;
	FILE *rnd;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 32;
		s->p = realloc(s->p, s->cap * sizeof(*s->p));
		if (!s->p)
			abort();
	}
	p = &s->p[s->n++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->len = len;
	p->masked = malloc(len);
	p->mask = malloc(len);
	rnd = fopen("/dev/urandom", "rb");
	if (!p->masked || !p->mask || !rnd || fread(p->mask, 1, len, rnd) != len)
		abort();
	fclose(rnd);
	for (size_t i = 0; i < len; i++) {
		/* A zero mask byte would leave that secret byte in the clear. */
		if (p->mask[i] == 0)
			p->mask[i] = 0x5a;
		p->masked[i] = secret[i] ^ p->mask[i];
	}
}

/* Both schedules of one AES key, in both layouts. */
static void add_schedules(struct memscan *s, const char *name, const uint8_t *k, size_t klen)
{
	uint8_t sched[AES_SCHEDULE_MAX], swapped[AES_SCHEDULE_MAX];
	size_t slen = aes_schedule_len(klen);
	char n[96];

	if (!slen)
		return;
	for (int dec = 0; dec < 2; dec++) {
		if ((dec ? aes_schedule_decrypt : aes_schedule_encrypt)(k, klen, sched) != 0)
			abort();
		aes_schedule_swap_words(sched, swapped, slen);
		snprintf(n, sizeof(n), "%s %s schedule", name, dec ? "decryption" : "encryption");
		memscan_add(s, n, sched, slen);
		snprintf(n, sizeof(n), "%s %s schedule (words swapped)", name,
			 dec ? "decryption" : "encryption");
		memscan_add(s, n, swapped, slen);
	}
	explicit_bzero(sched, sizeof(sched));
	explicit_bzero(swapped, sizeof(swapped));
}

void memscan_add_key(struct memscan *s, const char *name, const uint8_t *key, size_t len)
{
	char n[96];

	memscan_add(s, name, key, len);
	add_schedules(s, name, key, len); /* CBC: the key is one AES key */
	if (len == 32 || len == 64) {
		/* XTS: two AES keys, data and tweak. */
		for (int h = 0; h < 2; h++) {
			snprintf(n, sizeof(n), "%s half %d", name, h + 1);
			memscan_add(s, n, key + h * (len / 2), len / 2);
			add_schedules(s, n, key + h * (len / 2), len / 2);
		}
	}
}

struct mapping {
	uintptr_t start, end;
	char perms[8];
	char name[256];
	char flags[128];
};

/* The mappings of this process with their VmFlags, from /proc/self/smaps. */
static struct mapping *read_mappings(size_t *ret_n)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	struct mapping *m = NULL;
	size_t n = 0, cap = 0;
	char line[512];

	if (!f)
		abort();
	while (fgets(line, sizeof(line), f)) {
		uintptr_t a, b;
		char perms[8];
		int off = 0;

		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s %*s %*s %*s%n", &a, &b, perms,
			   &off) == 3) {
			if (n == cap) {
				cap = cap ? 2 * cap : 128;
				m = realloc(m, cap * sizeof(*m));
				if (!m)
					abort();
			}
			memset(&m[n], 0, sizeof(m[n]));
			m[n].start = a;
			m[n].end = b;
			snprintf(m[n].perms, sizeof(m[n].perms), "%s", perms);
			line[strcspn(line, "\n")] = '\0';
			snprintf(m[n].name, sizeof(m[n].name), "%.255s",
				 line + off + strspn(line + off, " "));
			n++;
		} else if (n && strncmp(line, "VmFlags:", 8) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(m[n - 1].flags, sizeof(m[n - 1].flags), "%.127s", line + 8);
		}
	}
	fclose(f);
	*ret_n = n;
	return m;
}

static bool has_flag(const char *flags, const char *flag)
{
	char padded[132];

	snprintf(padded, sizeof(padded), " %s ", flags);
	for (const char *p = padded; (p = strstr(p, flag)); p++)
		if (p[-1] == ' ' && p[strlen(flag)] == ' ')
			return true;
	return false;
}

static bool masked_equal(const uint8_t *mem, const struct memscan_pattern *p)
{
	uint8_t diff = 0;

	for (size_t i = 0; i < p->len; i++)
		diff |= (uint8_t)((mem[i] ^ p->mask[i]) ^ p->masked[i]);
	return diff == 0;
}

unsigned memscan_run(struct memscan *s, bool verbose)
{
	struct mapping *m;
	size_t nm;
	unsigned bad = 0;

	for (size_t i = 0; i < s->n; i++)
		s->p[i].hits = s->p[i].hits_ok = 0;
	m = read_mappings(&nm);
	for (size_t i = 0; i < nm; i++) {
		const uint8_t *base = (const uint8_t *)m[i].start;
		size_t len = m[i].end - m[i].start;
		bool ok = has_flag(m[i].flags, "lo") && has_flag(m[i].flags, "dd");

		if (m[i].perms[0] != 'r' || strstr(m[i].name, "[vvar") ||
		    strstr(m[i].name, "[vsyscall]") || strstr(m[i].name, "[vdso]"))
			continue;
		for (size_t k = 0; k < s->n; k++) {
			struct memscan_pattern *p = &s->p[k];
			/* The first two bytes, unmasked, as a cheap filter (two bytes reveal
			 * nothing). */
			uint8_t b0, b1;

			if (p->len < 2)
				continue; /* disabled */
			b0 = p->masked[0] ^ p->mask[0];
			b1 = p->masked[1] ^ p->mask[1];
			for (size_t off = 0; off + p->len <= len; off++) {
				const uint8_t *q = memchr(base + off, b0, len - p->len + 1 - off);
				if (!q)
					break;
				off = (size_t)(q - base);
				if (q[1] != b1 || !masked_equal(q, p))
					continue;
				p->hits++;
				if (ok)
					p->hits_ok++;
				else
					bad++;
				if (verbose)
					printf("  %s at %p: %s in %" PRIxPTR "-%" PRIxPTR " %s %s "
					       "[VmFlags:%s]\n",
					       ok ? "found" : "LEAK", (const void *)q, p->name,
					       m[i].start, m[i].end, m[i].perms,
					       m[i].name[0] ? m[i].name : "(anonymous)",
					       m[i].flags);
			}
		}
	}
	free(m);
	return bad;
}

void memscan_free(struct memscan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		explicit_bzero(s->p[i].masked, s->p[i].len);
		explicit_bzero(s->p[i].mask, s->p[i].len);
		free(s->p[i].masked);
		free(s->p[i].mask);
	}
	free(s->p);
	memset(s, 0, sizeof(*s));
}
