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

static void qemu_path(struct audit_ctx *c, const char *pid, const char *file, char *path,
		      size_t len);

static void check_disk(struct audit_ctx *c, const char *pid, const char *subject,
		       const struct audit_qemu_disk *d)
{
	char path[AUDIT_PATH_MAX * 2], who[AUDIT_PATH_MAX * 2];
	enum audit_image_kind kind;
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
	qemu_path(c, pid, d->file, path, sizeof(path));
	kind = audit_classify_image(c, path);
	st = audit_image_status(kind, &why);
	audit_add(c, "qemu-disk", st, who,
		  "use an encrypted image: QEMU's luks driver, or vmcrypt serve", "%s", why);
	if (kind == AUDIT_IMAGE_QCOW2 || kind == AUDIT_IMAGE_QCOW2_CRYPT)
		audit_image_snapshots(c, c, "qemu-disk-snapshots", who, path);
}

/* A path of QEMU's command line as the audited host sees it (relative: to QEMU's cwd). */
static void qemu_path(struct audit_ctx *c, const char *pid, const char *file, char *path,
		      size_t len)
{
	char link[64], cwd[AUDIT_PATH_MAX];

	snprintf(path, len, "%s", file);
	if (file[0] == '/')
		return;
	snprintf(link, sizeof(link), "/proc/%s/cwd", pid);
	if (audit_readlink(c, link, cwd, sizeof(cwd)) == 0)
		snprintf(path, len, "%s/%s", cwd, file);
}

#define FIX_QEMU_MEM                                                                          \
	"use memory-backend-memfd (share=on works without a file) or a mem-path on tmpfs or " \
	"hugetlbfs (/dev/shm, /dev/hugepages)"

/* Guest RAM from memory backends: a file on a disk is where the kernel writes shared pages. */
static void check_memory(struct audit_ctx *c, const char *pid, const char *subject,
			 const struct audit_qemu *q)
{
	char path[AUDIT_PATH_MAX * 2], who[AUDIT_PATH_MAX * 4], fstype[64];
	enum audit_fs_kind k;
	unsigned files = 0;
	size_t i;

	for (i = 0; i < q->nmems; i++) {
		const struct audit_qemu_mem *m = &q->mems[i];

		if (strcmp(m->kind, "file") != 0 || !m->path[0])
			continue;
		files++;
		qemu_path(c, pid, m->path, path, sizeof(path));
		snprintf(who, sizeof(who), "%s %s (%s)", subject, m->id[0] ? m->id : "memory",
			 path);
		k = audit_fs_of(c, path, fstype, sizeof(fstype));
		if (k == AUDIT_FS_RAM)
			audit_add(c, "qemu-memory-backend", VMC_AUDIT_PASS, who, NULL,
				  "guest RAM is a file on %s: memory, not a disk", fstype);
		else if (k == AUDIT_FS_UNKNOWN)
			audit_add(c, "qemu-memory-backend", VMC_AUDIT_WARN, who, FIX_QEMU_MEM,
				  "guest RAM is a file (%s); cannot tell which file system holds "
				  "it (a disk would receive guest RAM)",
				  m->share ? "share=on" : "private");
		else if (m->share)
			audit_add(c, "qemu-memory-backend", VMC_AUDIT_FAIL, who, FIX_QEMU_MEM,
				  "guest RAM is a shared mapping (share=on) of a file on %s (a "
				  "disk): the kernel writes the guest's pages, keys included, back "
				  "to it (experiments/saved-state)",
				  fstype);
		else
			audit_add(
			    c, "qemu-memory-backend", VMC_AUDIT_WARN, who, FIX_QEMU_MEM,
			    "guest RAM is a private mapping of a file on %s (a disk): guest "
			    "writes stay in memory (copy on write, experiments/saved-state), "
			    "but share=on, which vhost-user and virtiofs need, would write RAM "
			    "to the file",
			    fstype);
	}
	if (!files)
		audit_add(c, "qemu-memory-backend", VMC_AUDIT_PASS, subject, NULL,
			  "guest RAM is anonymous or memfd memory (no memory-backend-file, no "
			  "-mem-path): not a file on disk");
}

/* Migration settings: restored from a state file, live RAM snapshots, virtiofs DAX. */
static void check_migration(struct audit_ctx *c, const char *subject, const struct audit_qemu *q)
{
	static const char fix_in[] = "delete (shred) the state file once the VM runs, and shut "
				     "VMs down instead of saving them";

	if (strncmp(q->incoming, "exec:", 5) == 0 || strncmp(q->incoming, "file:", 5) == 0)
		audit_add(c, "qemu-incoming", VMC_AUDIT_FAIL, subject, fix_in,
			  "the VM was started from a saved state (-incoming %s): that file holds "
			  "guest RAM, keys included, unencrypted",
			  q->incoming);
	else if (strncmp(q->incoming, "fd:", 3) == 0)
		audit_add(c, "qemu-incoming", VMC_AUDIT_WARN, subject, fix_in,
			  "the VM was started from a file descriptor (-incoming %s), the way virsh "
			  "restore and managed save resume a saved state: that file holds guest "
			  "RAM",
			  q->incoming);
	else if (q->incoming[0])
		audit_add(c, "qemu-incoming", VMC_AUDIT_PASS, subject, NULL,
			  "incoming migration (-incoming %s): guest RAM comes over a connection, "
			  "not from a file",
			  q->incoming);
	if (q->background_snapshot)
		audit_add(c, "qemu-migration", VMC_AUDIT_WARN, subject,
			  "drop -global migration.x-background-snapshot=on; shut the VM down "
			  "instead of snapshotting its RAM",
			  "background-snapshot is on: QEMU snapshots guest RAM while the VM runs "
			  "(pages write-protected with userfaultfd) into the migration target, "
			  "usually a file");
	else
		audit_add(c, "qemu-migration", VMC_AUDIT_PASS, subject, NULL,
			  "no migration setting on the command line writes guest RAM to a file "
			  "(background-snapshot)%s",
			  q->postcopy ? "; postcopy (userfaultfd) moves RAM over the network only"
				      : "");
	if (q->virtiofs_dax)
		audit_add(
		    c, "qemu-virtiofs", VMC_AUDIT_WARN, subject,
		    "drop cache-size from the vhost-user-fs device (no DAX window)",
		    "vhost-user-fs with a DAX window (cache-size): host files are mapped into "
		    "guest memory, and what the guest writes there lands in them at once");
	else if (q->virtiofs)
		audit_add(c, "qemu-virtiofs", VMC_AUDIT_PASS, subject, NULL,
			  "vhost-user-fs without a DAX window: guest memory maps no host files "
			  "(its shared RAM is checked under qemu-memory-backend)");
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
		audit_add(
		    c, "qemu-balloon", VMC_AUDIT_WARN, subject, "drop the virtio-balloon device",
		    "a virtio-balloon device lets the host take pages back from the guest "
		    "while it runs%s",
		    c->facts.init_on_free
			? "; init_on_free is on here, so the host wipes those pages when it "
			  "frees them, but the balloon stays a channel between guest and host "
			  "memory"
			: ", and the pages it frees are not wiped on the host");
	else
		audit_add(c, "qemu-balloon", VMC_AUDIT_PASS, subject, NULL, "no balloon device");
	check_memory(c, pid, subject, q);
	check_migration(c, subject, q);
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
