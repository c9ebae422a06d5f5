/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvirt checks: host settings, save and snapshot files, and each domain's definition. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"

#define QEMU_CONF  "/etc/libvirt/qemu.conf"
#define SAVE_DIR   "/var/lib/libvirt/qemu/save"
#define SNAP_DIR   "/var/lib/libvirt/qemu/snapshot"
#define DUMP_DIR   "/var/lib/libvirt/qemu/dump"
#define HEAD_BYTES (64u * 1024)
#define PARTS_MAX  16

static bool libvirt_present(struct audit_ctx *c)
{
	return audit_exists(c, "/etc/libvirt") || audit_exists(c, "/var/lib/libvirt");
}

enum audit_image_kind audit_classify_image(struct audit_ctx *c, const char *path)
{
	uint64_t starts[PARTS_MAX];
	uint8_t *head = NULL, magic[6];
	enum audit_image_kind k = AUDIT_IMAGE_UNREADABLE;
	size_t n, i;
	int r;

	head = malloc(HEAD_BYTES);
	if (!head)
		return k;
	r = audit_read_at(c, path, head, HEAD_BYTES, 0);
	if (r < 0)
		goto out;
	k = audit_classify_head(head, (size_t)r);
	if (k != AUDIT_IMAGE_PLAIN)
		goto out;
	/* A raw disk whose guest encrypts a partition (the usual installer layout). */
	n = audit_parse_partitions(head, (size_t)r, starts, PARTS_MAX);
	for (i = 0; i < n; i++) {
		if (audit_read_at(c, path, magic, sizeof(magic), starts[i]) == (int)sizeof(magic) &&
		    memcmp(magic, "LUKS\xba\xbe", 6) == 0) {
			k = AUDIT_IMAGE_LUKS_PART;
			break;
		}
	}
out:
	free(head);
	return k;
}

enum vmc_audit_status audit_image_status(enum audit_image_kind k, const char **ret_why)
{
	switch (k) {
	case AUDIT_IMAGE_LUKS:
		*ret_why = "a LUKS image: encrypted at rest (unlocked inside the guest or by QEMU)";
		return VMC_AUDIT_PASS;
	case AUDIT_IMAGE_LUKS_PART:
		*ret_why = "the disk holds a LUKS partition: the guest encrypts its data";
		return VMC_AUDIT_PASS;
	case AUDIT_IMAGE_QCOW2_CRYPT:
		*ret_why = "a qcow2 image with its own encryption";
		return VMC_AUDIT_PASS;
	case AUDIT_IMAGE_QCOW2:
		*ret_why = "a qcow2 image without encryption: cannot tell whether the guest "
			   "encrypts what it stores";
		return VMC_AUDIT_WARN;
	case AUDIT_IMAGE_OTHER_FORMAT:
		*ret_why = "a VMDK, VHDX or VDI image: cannot tell whether the guest encrypts what "
			   "it stores";
		return VMC_AUDIT_WARN;
	case AUDIT_IMAGE_UNREADABLE:
		*ret_why = "cannot read the image (run the audit as its owner or root)";
		return VMC_AUDIT_WARN;
	default:
		*ret_why = "a raw image with no LUKS header or LUKS partition: the guest's data "
			   "lies on the host disk in plaintext";
		return VMC_AUDIT_FAIL;
	}
}

/* ---- host settings ---- */

static const char *const guests_units[] = {
    "/usr/lib/systemd/system/libvirt-guests.service",
    "/lib/systemd/system/libvirt-guests.service",
    "/etc/systemd/system/libvirt-guests.service",
    "/etc/init.d/libvirt-guests",
    NULL,
};

static void check_libvirt_guests(struct audit_ctx *c)
{
	static const char fix[] = "set ON_SHUTDOWN=shutdown (and SHUTDOWN_TIMEOUT=300) in "
				  "/etc/default/libvirt-guests";
	char val[AUDIT_VALUE_MAX] = "suspend", conf[64] = "";
	uint8_t *buf = NULL;
	size_t len = 0, i;
	bool installed = false, enabled;

	for (i = 0; guests_units[i]; i++)
		installed |= audit_exists(c, guests_units[i]);
	if (audit_read(c, "/etc/default/libvirt-guests", AUDIT_FILE_MAX, &buf, &len) == 0)
		snprintf(conf, sizeof(conf), "/etc/default/libvirt-guests");
	else if (audit_read(c, "/etc/sysconfig/libvirt-guests", AUDIT_FILE_MAX, &buf, &len) == 0)
		snprintf(conf, sizeof(conf), "/etc/sysconfig/libvirt-guests");
	if (buf) {
		installed = true;
		audit_conf_get(buf, len, NULL, "ON_SHUTDOWN", val, sizeof(val));
		free(buf);
	}
	if (!installed) {
		audit_add(c, "libvirt-guests", VMC_AUDIT_SKIP, NULL, NULL,
			  "libvirt-guests is not installed");
		return;
	}
	enabled = audit_exists(c, "/etc/systemd/system/multi-user.target.wants/"
				  "libvirt-guests.service") ||
		  audit_exists(c, "/etc/rc2.d/S01libvirt-guests");
	if (strcmp(val, "suspend") != 0)
		audit_add(c, "libvirt-guests", VMC_AUDIT_PASS, conf[0] ? conf : NULL, NULL,
			  "at host shutdown libvirt-guests shuts running guests down "
			  "(ON_SHUTDOWN=%s) instead of saving their RAM",
			  val);
	else if (enabled)
		audit_add(
		    c, "libvirt-guests", VMC_AUDIT_FAIL, conf[0] ? conf : NULL, fix,
		    "at host shutdown running guests are managed-saved (ON_SHUTDOWN=suspend%s): "
		    "their RAM, disk keys included, is written unencrypted to " SAVE_DIR,
		    conf[0] ? "" : ", the default");
	else
		audit_add(c, "libvirt-guests", VMC_AUDIT_WARN, conf[0] ? conf : NULL, fix,
			  "libvirt-guests would managed-save running guests at shutdown "
			  "(ON_SHUTDOWN=suspend%s), writing their RAM unencrypted; the service is "
			  "not enabled now",
			  conf[0] ? "" : ", the default");
}

void audit_check_libvirt_host(struct audit_ctx *c)
{
	char dump[16] = "", fmt[64] = "", path[AUDIT_PATH_MAX] = DUMP_DIR;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (!libvirt_present(c)) {
		audit_add(c, "libvirt", VMC_AUDIT_SKIP, NULL, NULL, "libvirt is not installed");
		return;
	}
	check_libvirt_guests(c);
	if (audit_read(c, QEMU_CONF, AUDIT_FILE_MAX, &buf, &len) == 0) {
		audit_conf_get(buf, len, NULL, "dump_guest_core", dump, sizeof(dump));
		audit_conf_get(buf, len, NULL, "save_image_format", fmt, sizeof(fmt));
		audit_conf_get(buf, len, NULL, "auto_dump_path", path, sizeof(path));
		audit_conf_get(buf, len, NULL, "memory_backing_dir", c->facts.memory_backing_dir,
			       sizeof(c->facts.memory_backing_dir));
		free(buf);
	}
	snprintf(c->facts.auto_dump_path, sizeof(c->facts.auto_dump_path), "%s", path);
	c->facts.libvirt_dump_core = strcmp(dump, "1") == 0 ? 1 : 0;
	if (c->facts.libvirt_dump_core)
		audit_add(c, "libvirt-dump-guest-core", VMC_AUDIT_FAIL, QEMU_CONF,
			  "set dump_guest_core = 0 in " QEMU_CONF,
			  "dump_guest_core = 1: QEMU core dumps of every domain without "
			  "dumpCore='off' include guest RAM and the keys in it");
	else
		audit_add(c, "libvirt-dump-guest-core", VMC_AUDIT_PASS, QEMU_CONF, NULL,
			  "dump_guest_core is off (%s): QEMU core dumps leave guest RAM out unless "
			  "a domain asks for it",
			  dump[0] ? "set" : "the default");
	audit_add(c, "libvirt-save-format", VMC_AUDIT_WARN, QEMU_CONF,
		  "never save, suspend or snapshot-with-memory a guest whose key matters: shut "
		  "it down",
		  "virsh save, managed save and memory snapshots write guest RAM (disk keys "
		  "included) in format '%s', which is never encrypted",
		  fmt[0] ? fmt : "raw");
}

/* ---- save, snapshot and dump files ---- */

/* Adds a FAIL per regular file in dir whose name ends in suffix (NULL: any); returns the count. */
static unsigned fail_per_file(struct audit_ctx *c, const char *check, const char *dir,
			      const char *suffix, const char *fix, const char *why)
{
	char path[AUDIT_PATH_MAX], hs[32];
	struct dirent *de;
	unsigned found = 0, n = 0;
	size_t l, sl = suffix ? strlen(suffix) : 0;
	uint64_t size = 0;
	DIR *d;

	if (audit_opendir(c, dir, &d) < 0)
		return 0;
	while ((de = readdir(d)) != NULL && n++ < AUDIT_DIR_MAX) {
		l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < sl || (sl && strcmp(de->d_name + l - sl, suffix)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (audit_file_size(c, path, &size) == 0) {
			audit_human_size(size, hs, sizeof(hs));
			audit_add(c, check, VMC_AUDIT_FAIL, path, fix, "%s (%s)", why, hs);
		} else {
			audit_add(c, check, VMC_AUDIT_FAIL, path, fix, "%s", why);
		}
		found++;
	}
	closedir(d);
	return found;
}

/* " (12.0 MiB)" or " (not found)" for an external memory snapshot file. */
static void memfile_note(struct audit_ctx *c, const char *memfile, char *note, size_t len)
{
	char hs[32];
	uint64_t size = 0;

	note[0] = '\0';
	if (!memfile[0])
		return;
	if (audit_file_size(c, memfile, &size) == 0) {
		audit_human_size(size, hs, sizeof(hs));
		snprintf(note, len, " (%s)", hs);
	} else {
		snprintf(note, len, " (not found)");
	}
}

static void check_snapshots(struct audit_ctx *c)
{
	char dir[AUDIT_PATH_MAX], path[AUDIT_PATH_MAX], memfile[AUDIT_PATH_MAX], note[64];
	struct dirent *de, *se;
	unsigned found = 0, n = 0, m;
	uint8_t *buf = NULL;
	size_t len = 0;
	DIR *d, *sd;

	if (audit_opendir(c, SNAP_DIR, &d) < 0) {
		audit_add(c, "libvirt-snapshot-memory", VMC_AUDIT_PASS, NULL, NULL,
			  "no libvirt snapshots (" SNAP_DIR " is absent)");
		return;
	}
	while ((de = readdir(d)) != NULL && n++ < AUDIT_DIR_MAX) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), SNAP_DIR "/%s", de->d_name);
		if (audit_opendir(c, dir, &sd) < 0)
			continue;
		m = 0;
		while ((se = readdir(sd)) != NULL && m++ < AUDIT_DIR_MAX) {
			size_t l = strlen(se->d_name);

			if (l < 5 || strcmp(se->d_name + l - 4, ".xml") != 0)
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", dir, se->d_name) >=
				(int)sizeof(path) ||
			    audit_read(c, path, AUDIT_XML_MAX, &buf, &len) < 0)
				continue;
			if (audit_parse_snapshot(buf, len, memfile, sizeof(memfile)) == 1) {
				memfile_note(c, memfile, note, sizeof(note));
				audit_add(
				    c, "libvirt-snapshot-memory", VMC_AUDIT_FAIL, path,
				    "virsh snapshot-delete it (take disk-only snapshots: "
				    "--disk-only, or <memory snapshot='no'/>), and delete an "
				    "external memory file it leaves",
				    "snapshot of domain %s with guest memory%s%s%s: guest RAM and "
				    "disk keys, unencrypted",
				    de->d_name,
				    memfile[0] ? " in the external file "
					       : " (internal, in the image)",
				    memfile, note);
				found++;
			}
			free(buf);
			buf = NULL;
		}
		closedir(sd);
	}
	closedir(d);
	if (!found)
		audit_add(c, "libvirt-snapshot-memory", VMC_AUDIT_PASS, SNAP_DIR, NULL,
			  "no libvirt snapshot holds guest memory");
}

void audit_check_libvirt_files(struct audit_ctx *c)
{
	const char *dumps = c->facts.auto_dump_path[0] ? c->facts.auto_dump_path : DUMP_DIR;

	if (!libvirt_present(c))
		return;
	if (!fail_per_file(c, "libvirt-managed-save", SAVE_DIR, ".save",
			   "virsh managedsave-remove DOMAIN (or start and shut down the guest)",
			   "managed-save image: the guest's RAM, disk keys included, unencrypted"))
		audit_add(c, "libvirt-managed-save", VMC_AUDIT_PASS, SAVE_DIR, NULL,
			  "no managed-save images");
	check_snapshots(c);
	if (!fail_per_file(c, "libvirt-dumps", dumps, NULL,
			   "delete it after use; do not use on_crash coredump-* or virsh dump",
			   "guest memory dump (on_crash coredump or virsh dump): guest RAM and "
			   "disk keys, unencrypted"))
		audit_add(c, "libvirt-dumps", VMC_AUDIT_PASS, dumps, NULL,
			  "no guest memory dumps in %s", dumps);
}

/* ---- domains ---- */

static void check_domain_disk(struct audit_ctx *c, const struct audit_domain *dom,
			      const struct audit_disk *d)
{
	static const char fix[] = "convert it (vmcrypt encrypt SRC DST --type luks1) and add "
				  "<encryption format='luks'> with a libvirt secret, or serve it "
				  "with vmcrypt serve";
	char subject[AUDIT_PATH_MAX];
	enum vmc_audit_status st;
	enum audit_image_kind kind;
	const char *why = NULL;

	snprintf(subject, sizeof(subject), "domain %s disk %s (%s)", dom->name,
		 d->target[0] ? d->target : "?", d->source[0] ? d->source : "no source");
	if (d->encrypted) {
		audit_add(c, "domain-disk", VMC_AUDIT_PASS, subject, NULL,
			  "QEMU encrypts this disk (<encryption format='%s'>)",
			  d->encryption[0] ? d->encryption : "?");
		return;
	}
	if (strcmp(d->type, "network") == 0) {
		audit_add(c, "domain-disk", VMC_AUDIT_WARN, subject,
			  "nothing to do if the server encrypts it (vmcrypt serve does)",
			  "network disk (%s): whether it is encrypted at rest is up to the server",
			  d->protocol[0] ? d->protocol : "?");
		return;
	}
	if (strcmp(d->type, "volume") == 0 || !d->source[0]) {
		audit_add(
		    c, "domain-disk", VMC_AUDIT_WARN, subject,
		    "check the storage pool's encryption",
		    "storage pool volume or empty source: cannot tell whether it is encrypted");
		return;
	}
	kind = audit_classify_image(c, d->source);
	st = audit_image_status(kind, &why);
	audit_add(c, "domain-disk", st, subject, fix, "%s", why);
	if (kind == AUDIT_IMAGE_QCOW2 || kind == AUDIT_IMAGE_QCOW2_CRYPT)
		audit_image_snapshots(c, c, "domain-disk-snapshots", subject, d->source);
}

#define FIX_MEM_FILE                                                                            \
	"use <memoryBacking><source type='memfd'/> (shared memory without a file, what "        \
	"virtiofs and vhost-user need) or hugepages; or point memory_backing_dir in " QEMU_CONF \
	" at a tmpfs or hugetlbfs mount"

/* Where the guest's RAM lives: anonymous memory, memfd, huge pages, or a file (on which FS). */
static void check_domain_memory(struct audit_ctx *c, const struct audit_domain *dom,
				const char *subject)
{
	const char *dir = c->facts.memory_backing_dir;
	char fstype[64];
	enum audit_fs_kind k;
	size_t i;

	if (strcmp(dom->mem_source, "file") == 0 && !dom->hugepages) {
		k = audit_fs_of(c, dir, fstype, sizeof(fstype));
		if (k == AUDIT_FS_RAM)
			audit_add(c, "domain-memory-backing", VMC_AUDIT_PASS, subject, NULL,
				  "guest RAM is a file in %s, on %s: memory, not a disk", dir,
				  fstype);
		else if (k == AUDIT_FS_DISK && dom->mem_shared)
			audit_add(c, "domain-memory-backing", VMC_AUDIT_FAIL, subject, FIX_MEM_FILE,
				  "guest RAM is a shared mapping of a file in %s, on %s (a disk): "
				  "the kernel writes the guest's pages, keys included, back to "
				  "that file (experiments/saved-state)",
				  dir, fstype);
		else if (k == AUDIT_FS_DISK)
			audit_add(c, "domain-memory-backing", VMC_AUDIT_WARN, subject, FIX_MEM_FILE,
				  "guest RAM is a private mapping of a file in %s, on %s (a disk): "
				  "guest writes stay in memory (copy on write), but a shared "
				  "mapping (virtiofs, vhost-user) would write RAM to the file",
				  dir, fstype);
		else
			audit_add(c, "domain-memory-backing", VMC_AUDIT_WARN, subject, FIX_MEM_FILE,
				  "guest RAM is a file in %s; cannot tell which file system holds "
				  "it (a disk would receive guest RAM)",
				  dir);
	} else if (dom->hugepages) {
		audit_add(c, "domain-memory-backing", VMC_AUDIT_PASS, subject, NULL,
			  "guest RAM is backed by huge pages (hugetlbfs): memory, never a file "
			  "on disk, never swapped");
	} else {
		audit_add(c, "domain-memory-backing", VMC_AUDIT_PASS, subject, NULL,
			  "guest RAM is %s memory%s: not a file on disk",
			  strcmp(dom->mem_source, "memfd") == 0 ? "memfd" : "anonymous",
			  dom->mem_shared ? " (shared)" : "");
	}
	for (i = 0; i < dom->nmemdevs; i++) {
		const struct audit_memdev *m = &dom->memdevs[i];
		char who[AUDIT_PATH_MAX + 64];

		snprintf(who, sizeof(who), "%s %s %s", subject, m->model, m->path);
		k = audit_fs_of(c, m->path, fstype, sizeof(fstype));
		if (k == AUDIT_FS_RAM)
			audit_add(c, "domain-memory-device", VMC_AUDIT_PASS, who, NULL,
				  "the guest memory device is a file on %s: memory, not a disk",
				  fstype);
		else
			audit_add(c, "domain-memory-device",
				  m->shared ? VMC_AUDIT_FAIL : VMC_AUDIT_WARN, who,
				  "back it with a file on tmpfs, or keep only encrypted data in it",
				  "a %s memory device mapped %s from a file on %s: %s", m->model,
				  m->shared ? "shared" : "privately", fstype,
				  m->shared ? "what the guest keeps in it (RAM, a DAX file system) "
					      "is written to that file, unencrypted"
					    : "the file's contents lie on disk unencrypted");
	}
	if (!dom->virtiofs)
		return;
	if (strcmp(dom->mem_source, "file") == 0 && !dom->hugepages &&
	    audit_fs_of(c, dir, fstype, sizeof(fstype)) != AUDIT_FS_RAM)
		audit_add(c, "domain-virtiofs", VMC_AUDIT_FAIL, subject, FIX_MEM_FILE,
			  "virtiofs shares guest RAM with virtiofsd through a file in %s (%s): "
			  "a shared file mapping, written back to disk with the guest's pages",
			  dir, fstype);
	else
		audit_add(c, "domain-virtiofs", VMC_AUDIT_PASS, subject, NULL,
			  "virtiofs shares guest RAM with virtiofsd through %s, not a file on "
			  "disk",
			  dom->hugepages ? "huge pages" : "memfd or anonymous memory");
}

static void check_domain(struct audit_ctx *c, const struct audit_domain *dom, const char *file)
{
	char subject[AUDIT_PATH_MAX];
	size_t i;

	snprintf(subject, sizeof(subject), "domain %s (%s)", dom->name[0] ? dom->name : "?", file);
	if (dom->has_balloon && strcmp(dom->balloon_model, "none") == 0)
		audit_add(c, "domain-balloon", VMC_AUDIT_PASS, subject, NULL,
			  "memory balloon disabled (<memballoon model='none'/>)");
	else
		audit_add(
		    c, "domain-balloon", VMC_AUDIT_WARN, subject,
		    "add <memballoon model='none'/> to <devices> (virsh edit)",
		    "memory balloon %s%s: the host can take pages back from the guest while "
		    "it runs%s",
		    dom->has_balloon ? "model " : "(libvirt's default virtio)",
		    dom->has_balloon ? dom->balloon_model : "",
		    c->facts.init_on_free
			? "; init_on_free is on here, so the host wipes those pages when it "
			  "frees them, but the balloon stays a channel between guest and host "
			  "memory"
			: ", and the pages it frees are not wiped on the host");
	if (dom->locked)
		audit_add(c, "domain-memory-locked", VMC_AUDIT_PASS, subject, NULL,
			  "guest RAM is locked (<memoryBacking><locked/>): never swapped out");
	else if (c->facts.plain_swap)
		audit_add(
		    c, "domain-memory-locked", VMC_AUDIT_FAIL, subject,
		    "add <memoryBacking><locked/></memoryBacking> (with a <memtune> hard_limit)",
		    "guest RAM is not locked and the host has unencrypted swap: guest pages "
		    "and keys can land on disk");
	else if (c->facts.disk_swap)
		audit_add(
		    c, "domain-memory-locked", VMC_AUDIT_WARN, subject,
		    "add <memoryBacking><locked/></memoryBacking> (with a <memtune> hard_limit)",
		    "guest RAM is not locked: it can be swapped out (the host's swap is "
		    "encrypted)");
	else
		audit_add(c, "domain-memory-locked", VMC_AUDIT_PASS, subject, NULL,
			  "guest RAM is not locked, but the host has no disk swap%s",
			  c->facts.swap_known ? "" : " (not checked)");
	if (dom->nosharepages)
		audit_add(c, "domain-nosharepages", VMC_AUDIT_PASS, subject, NULL,
			  "KSM may not merge this guest's pages (<nosharepages/>)");
	else if (c->facts.ksm_running)
		audit_add(c, "domain-nosharepages", VMC_AUDIT_WARN, subject,
			  "add <memoryBacking><nosharepages/></memoryBacking>",
			  "KSM is running and may merge this guest's pages with other processes'");
	else
		audit_add(c, "domain-nosharepages", VMC_AUDIT_PASS, subject, NULL,
			  "no <nosharepages/>, but KSM is not running");
	if (strcmp(dom->dump_core, "on") == 0 ||
	    (!dom->dump_core[0] && c->facts.libvirt_dump_core == 1))
		audit_add(c, "domain-dump-core", VMC_AUDIT_FAIL, subject,
			  "set <memory dumpCore='off'> in the domain XML",
			  "guest RAM goes into QEMU core dumps (%s)",
			  dom->dump_core[0] ? "dumpCore='on'" : "qemu.conf dump_guest_core = 1");
	else
		audit_add(c, "domain-dump-core", VMC_AUDIT_PASS, subject, NULL,
			  "guest RAM is left out of QEMU core dumps (%s)",
			  dom->dump_core[0] ? "dumpCore='off'" : "qemu.conf's dump_guest_core = 0");
	if (strncmp(dom->on_crash, "coredump-", 9) == 0)
		audit_add(c, "domain-on-crash", VMC_AUDIT_FAIL, subject,
			  "use <on_crash>destroy</on_crash> (or restart)",
			  "on_crash %s: a guest crash writes the guest's RAM, disk keys included, "
			  "to %s",
			  dom->on_crash,
			  c->facts.auto_dump_path[0] ? c->facts.auto_dump_path : DUMP_DIR);
	else
		audit_add(c, "domain-on-crash", VMC_AUDIT_PASS, subject, NULL,
			  "a guest crash does not dump its memory (on_crash %s)",
			  dom->on_crash[0] ? dom->on_crash : "destroy, the default");
	check_domain_memory(c, dom, subject);
	for (i = 0; i < dom->ndisks; i++)
		check_domain_disk(c, dom, &dom->disks[i]);
}

#define SEEN_MAX 256

struct seen {
	char names[SEEN_MAX][AUDIT_VALUE_MAX];
	size_t n;
};

static bool seen_add(struct seen *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return false;
	if (s->n < SEEN_MAX)
		snprintf(s->names[s->n++], AUDIT_VALUE_MAX, "%s", name);
	return true;
}

/* Parses one XML file (read through rc) and checks the domain in it unless already seen. */
static void domain_file(struct audit_ctx *c, struct audit_ctx *rc, const char *path,
			struct seen *seen, struct audit_domain *dom)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	r = audit_read(rc, path, AUDIT_XML_MAX, &buf, &len);
	if (r < 0) {
		audit_add(c, "domain", VMC_AUDIT_WARN, path, "run the audit as root",
			  "cannot read this domain definition: %s", strerror(-r));
		return;
	}
	r = audit_parse_domain(buf, len, dom);
	free(buf);
	if (r < 0) {
		audit_add(c, "domain", VMC_AUDIT_WARN, path, "check the file",
			  "not a libvirt domain XML document");
		return;
	}
	if (seen_add(seen, dom->name))
		check_domain(c, dom, path);
}

static void domain_dir(struct audit_ctx *c, const char *dir, struct seen *seen,
		       struct audit_domain *dom)
{
	char path[AUDIT_PATH_MAX];
	struct dirent *de;
	unsigned n = 0;
	DIR *d;

	if (audit_opendir(c, dir, &d) < 0)
		return;
	while ((de = readdir(d)) != NULL && n++ < AUDIT_DIR_MAX) {
		size_t l = strlen(de->d_name);

		if (l < 5 || strcmp(de->d_name + l - 4, ".xml") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		domain_file(c, c, path, seen, dom);
	}
	closedir(d);
}

void audit_check_libvirt_domains(struct audit_ctx *c)
{
	/* --domain-xml files are paths on this machine, not below the audited root. */
	struct audit_ctx here = {.host = true, .rootfd = -1, .root = "/"};
	struct audit_domain *dom = NULL;
	struct seen *seen = NULL;
	size_t before = c->n, i;

	dom = malloc(sizeof(*dom));
	seen = calloc(1, sizeof(*seen));
	if (!dom || !seen) {
		c->oom = true;
		goto out;
	}
	for (i = 0; c->domain_xml && c->domain_xml[i]; i++)
		domain_file(c, &here, c->domain_xml[i], seen, dom);
	/* Running domains' live definitions first, then the persistent ones. */
	domain_dir(c, "/run/libvirt/qemu", seen, dom);
	domain_dir(c, "/etc/libvirt/qemu", seen, dom);
	if (c->n == before)
		audit_add(c, "domain", VMC_AUDIT_SKIP, NULL, NULL,
			  "no libvirt domain definitions (none given with --domain-xml, none in "
			  "/etc/libvirt/qemu or /run/libvirt/qemu)");
out:
	free(seen);
	free(dom);
}
