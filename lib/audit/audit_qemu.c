/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checks of running QEMU processes, from their command lines in /proc. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

static void check_disk(struct audit_ctx *c, const char *pid, const char *subject,
		       const struct audit_qemu_disk *d)
{
	char path[AUDIT_PATH_MAX * 2], cwd[AUDIT_PATH_MAX], who[AUDIT_PATH_MAX * 2];
	enum vmc_audit_status st;
	const char *why = NULL;

	snprintf(who, sizeof(who), "%s disk %s", subject, d->file);
	if (d->encrypted) {
		audit_add(c, "qemu-disk", VMC_AUDIT_PASS, who, NULL,
			  "QEMU decrypts this disk itself (luks driver or qcow2 encryption)");
		return;
	}
	if (d->network) {
		audit_add(c, "qemu-disk", VMC_AUDIT_WARN, who,
			  "nothing to do if the server encrypts it (vmcrypt serve does)",
			  "network disk: whether it is encrypted at rest is up to the server");
		return;
	}
	/* A relative path is relative to QEMU's working directory. */
	snprintf(path, sizeof(path), "%s", d->file);
	if (d->file[0] != '/') {
		char link[64];

		snprintf(link, sizeof(link), "/proc/%s/cwd", pid);
		if (audit_readlink(c, link, cwd, sizeof(cwd)) == 0)
			snprintf(path, sizeof(path), "%s/%s", cwd, d->file);
	}
	st = audit_image_status(audit_classify_image(c, path), &why);
	audit_add(c, "qemu-disk", st, who,
		  "use an encrypted image: QEMU's luks driver, or vmcrypt serve", "%s", why);
}

static void check_process(struct audit_ctx *c, const char *pid, const struct audit_qemu *q)
{
	char subject[AUDIT_PATH_MAX];
	size_t i;

	snprintf(subject, sizeof(subject), "pid %s (%s)", pid, q->name[0] ? q->name : "qemu");
	if (q->dump_guest_core_off)
		audit_add(c, "qemu-dump-guest-core", VMC_AUDIT_PASS, subject, NULL,
			  "-machine dump-guest-core=off: guest RAM stays out of QEMU core dumps");
	else
		audit_add(c, "qemu-dump-guest-core", VMC_AUDIT_FAIL, subject,
			  "start QEMU with -machine dump-guest-core=off",
			  "no dump-guest-core=off (QEMU's default is on): a core dump of this QEMU "
			  "holds all of guest RAM");
	if (q->mem_lock)
		audit_add(c, "qemu-mem-lock", VMC_AUDIT_PASS, subject, NULL,
			  "-overcommit mem-lock=on: guest RAM is never swapped out");
	else
		audit_add(c, "qemu-mem-lock",
			  c->facts.plain_swap  ? VMC_AUDIT_FAIL
			  : c->facts.disk_swap ? VMC_AUDIT_WARN
					       : VMC_AUDIT_PASS,
			  subject, "start QEMU with -overcommit mem-lock=on",
			  "guest RAM is not locked%s",
			  c->facts.plain_swap  ? " and the host has unencrypted swap: guest pages "
						 "and keys can land on disk"
			  : c->facts.disk_swap ? ": it can be swapped out (to encrypted swap)"
					       : ", but the host has no disk swap");
	if (q->balloon)
		audit_add(c, "qemu-balloon", VMC_AUDIT_WARN, subject,
			  "drop the virtio-balloon device",
			  "a virtio-balloon device lets the host take pages back from the guest; "
			  "freed pages are not wiped on the host%s",
			  c->facts.init_on_free ? " (init_on_free is on here)" : "");
	else
		audit_add(c, "qemu-balloon", VMC_AUDIT_PASS, subject, NULL, "no balloon device");
	for (i = 0; i < q->ndisks; i++)
		check_disk(c, pid, subject, &q->disks[i]);
}

void audit_check_qemu(struct audit_ctx *c)
{
	char path[64];
	struct audit_qemu *q = NULL;
	struct dirent *de;
	unsigned n = 0, found = 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	DIR *d;

	if (audit_opendir(c, "/proc", &d) < 0) {
		audit_add(c, "qemu", VMC_AUDIT_SKIP, NULL, NULL, "cannot read /proc");
		return;
	}
	q = malloc(sizeof(*q));
	if (!q) {
		c->oom = true;
		goto out;
	}
	while ((de = readdir(d)) != NULL && n++ < AUDIT_PROC_MAX) {
		if (!all_digits(de->d_name) || strlen(de->d_name) > 20)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		if (audit_read(c, path, AUDIT_FILE_MAX, &buf, &len) < 0)
			continue;
		audit_parse_qemu(buf, len, q);
		free(buf);
		buf = NULL;
		if (!q->is_qemu)
			continue;
		found++;
		check_process(c, de->d_name, q);
	}
	if (!found)
		audit_add(c, "qemu", VMC_AUDIT_SKIP, NULL, NULL, "no QEMU process is running");
out:
	free(q);
	closedir(d);
}
