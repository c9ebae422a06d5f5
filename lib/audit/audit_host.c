/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host checks: swap, zswap, hibernation, core and crash dumps, freed-memory wiping, KSM. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit_internal.h"

/* Whether the kernel command line has parameter name; its value into val. */
static bool cmdline(struct audit_ctx *c, const char *name, char *val, size_t vlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	bool found;

	if (audit_read(c, "/proc/cmdline", AUDIT_FILE_MAX, &buf, &len) < 0)
		return false;
	found = audit_cmdline_get(buf, len, name, val, vlen);
	free(buf);
	return found;
}

/* ---- swap ---- */

enum swap_kind {
	SWAP_PLAIN,
	SWAP_RAM,	       /* zram: compressed RAM, nothing reaches a disk */
	SWAP_CRYPT_RANDOM,     /* dm-crypt with a key made at boot and lost at power-off */
	SWAP_CRYPT_PERSISTENT, /* dm-crypt (LUKS or a key file): the key outlives the boot */
	SWAP_UNKNOWN,
};

/* Order from worst to best, to combine the layers of a stacked device. */
static int swap_rank(enum swap_kind k)
{
	switch (k) {
	case SWAP_PLAIN:
		return 0;
	case SWAP_UNKNOWN:
		return 1;
	case SWAP_CRYPT_PERSISTENT:
		return 2;
	case SWAP_CRYPT_RANDOM:
		return 3;
	default:
		return 4;
	}
}

/* The crypttab entry named name, if any. */
static int crypttab_entry(struct audit_ctx *c, const char *name, struct audit_crypttab *e)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	if (audit_read(c, "/etc/crypttab", AUDIT_FILE_MAX, &buf, &len) < 0)
		return 0;
	r = audit_parse_crypttab(buf, len, name, false, e);
	free(buf);
	return r;
}

static bool random_key(const char *key)
{
	return strcmp(key, "/dev/urandom") == 0 || strcmp(key, "/dev/random") == 0 ||
	       strcmp(key, "/dev/hw_random") == 0;
}

/* The dm-N kernel name of the device-mapper device called name, from /sys/block. */
static bool dm_kernel_name(struct audit_ctx *c, const char *name, char *kname, size_t klen)
{
	char path[AUDIT_PATH_MAX], val[AUDIT_VALUE_MAX];
	struct dirent *de;
	DIR *d = NULL;
	unsigned n = 0;
	bool found = false;

	if (audit_opendir(c, "/sys/block", &d) < 0)
		return false;
	while (!found && (de = readdir(d)) != NULL && n++ < AUDIT_DIR_MAX) {
		if (strncmp(de->d_name, "dm-", 3) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/block/%s/dm/name", de->d_name);
		if (audit_read_value(c, path, val, sizeof(val)) == 0 && strcmp(val, name) == 0) {
			snprintf(kname, klen, "%s", de->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

/*
 * Classifies block device kname (sda3, dm-2) by its device-mapper stack: a
 * dm-crypt layer anywhere below makes it encrypted; the crypttab entry of that
 * layer says whether its key is random per boot.
 */
static enum swap_kind classify_kname(struct audit_ctx *c, const char *kname, unsigned depth)
{
	char path[AUDIT_PATH_MAX], uuid[AUDIT_VALUE_MAX], name[AUDIT_VALUE_MAX];
	enum swap_kind k, sk;
	struct audit_crypttab e;
	struct dirent *de;
	DIR *d = NULL;
	unsigned n = 0;

	if (strncmp(kname, "zram", 4) == 0)
		return SWAP_RAM;
	if (strncmp(kname, "dm-", 3) != 0 || depth > 8)
		return SWAP_PLAIN;
	snprintf(path, sizeof(path), "/sys/block/%s/dm/uuid", kname);
	if (audit_read_value(c, path, uuid, sizeof(uuid)) < 0)
		return SWAP_UNKNOWN;
	if (strncmp(uuid, "CRYPT-", 6) == 0) {
		snprintf(path, sizeof(path), "/sys/block/%s/dm/name", kname);
		if (audit_read_value(c, path, name, sizeof(name)) == 0 &&
		    crypttab_entry(c, name, &e) && random_key(e.key))
			return SWAP_CRYPT_RANDOM;
		return SWAP_CRYPT_PERSISTENT;
	}
	/* LVM and other mappings: the weakest device they sit on decides. */
	snprintf(path, sizeof(path), "/sys/block/%s/slaves", kname);
	if (audit_opendir(c, path, &d) < 0)
		return SWAP_UNKNOWN;
	k = SWAP_RAM;
	while ((de = readdir(d)) != NULL && n++ < AUDIT_DIR_MAX) {
		if (de->d_name[0] == '.')
			continue;
		sk = classify_kname(c, de->d_name, depth + 1);
		if (swap_rank(sk) < swap_rank(k))
			k = sk;
	}
	closedir(d);
	return k == SWAP_RAM ? SWAP_UNKNOWN : k;
}

/* Classifies a /dev path (as /proc/swaps or /proc/mounts show it). */
static enum swap_kind classify_device(struct audit_ctx *c, const char *dev)
{
	char kname[AUDIT_VALUE_MAX];
	struct audit_crypttab e;
	const char *base = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;

	if (strncmp(dev, "/dev/mapper/", 12) == 0) {
		if (dm_kernel_name(c, dev + 12, kname, sizeof(kname)))
			return classify_kname(c, kname, 0);
		/* No /sys (a copied tree): crypttab alone. */
		if (crypttab_entry(c, dev + 12, &e))
			return random_key(e.key) ? SWAP_CRYPT_RANDOM : SWAP_CRYPT_PERSISTENT;
		return SWAP_UNKNOWN;
	}
	if (strncmp(base, "dm-", 3) == 0 || strncmp(base, "zram", 4) == 0)
		return classify_kname(c, base, 0);
	return SWAP_PLAIN;
}

/* The device holding the file system of path, from /proc/mounts (longest mount point). */
static bool mount_source(struct audit_ctx *c, const char *path, char *dev, size_t dlen)
{
	return audit_mount_of(c, path, dev, dlen, NULL, 0);
}

#define FIX_SWAP                                                                                \
	"swapoff it and drop it from /etc/fstab, or encrypt it with a random key per boot "     \
	"(/etc/crypttab: NAME DEVICE /dev/urandom swap,cipher=aes-xts-plain64,size=512); then " \
	"overwrite the old swap area"

void audit_check_swap(struct audit_ctx *c)
{
	struct audit_swap *sw = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, n, i;
	char dev[AUDIT_PATH_MAX];
	enum swap_kind k;
	int r;

	r = audit_read(c, "/proc/swaps", AUDIT_FILE_MAX, &buf, &len);
	if (r < 0) {
		audit_add(c, "swap", VMC_AUDIT_SKIP, NULL, NULL, "cannot read /proc/swaps: %s",
			  strerror(-r));
		goto out;
	}
	sw = calloc(AUDIT_SWAPS_MAX, sizeof(*sw));
	if (!sw) {
		c->oom = true;
		goto out;
	}
	n = audit_parse_swaps(buf, len, sw, AUDIT_SWAPS_MAX);
	c->facts.swap_known = true;
	if (n == 0)
		audit_add(c, "swap", VMC_AUDIT_PASS, NULL, NULL,
			  "no swap is active: guest RAM and the keys in it cannot be paged out "
			  "to disk");
	for (i = 0; i < n; i++) {
		const char *what = sw[i].is_file ? "swap file" : "swap device";

		if (sw[i].is_file)
			k = mount_source(c, sw[i].path, dev, sizeof(dev)) ? classify_device(c, dev)
									  : SWAP_UNKNOWN;
		else
			k = classify_device(c, sw[i].path);
		if (k != SWAP_RAM)
			c->facts.disk_swap = true;
		switch (k) {
		case SWAP_RAM:
			audit_add(c, "swap", VMC_AUDIT_PASS, sw[i].path, NULL,
				  "swap in compressed RAM (zram): pages never reach a disk");
			break;
		case SWAP_CRYPT_RANDOM:
			audit_add(c, "swap", VMC_AUDIT_PASS, sw[i].path, NULL,
				  "%s on dm-crypt with a random key per boot: what is paged out "
				  "is unreadable once the host is off",
				  what);
			break;
		case SWAP_CRYPT_PERSISTENT:
			audit_add(c, "swap", VMC_AUDIT_WARN, sw[i].path,
				  "use a random key per boot for swap (/etc/crypttab key "
				  "/dev/urandom with the swap option) so its contents die with the "
				  "power; or swapoff",
				  "%s is encrypted with a key that outlives the boot: guest RAM "
				  "paged out to it (VM keys included) stays readable to whoever "
				  "unlocks it later",
				  what);
			break;
		case SWAP_UNKNOWN:
			c->facts.plain_swap = true;
			audit_add(c, "swap", VMC_AUDIT_WARN, sw[i].path, FIX_SWAP,
				  "cannot tell whether this %s is encrypted (no /sys/block or "
				  "/etc/crypttab entry for it)",
				  what);
			break;
		default:
			c->facts.plain_swap = true;
			audit_add(c, "swap", VMC_AUDIT_FAIL, sw[i].path, FIX_SWAP,
				  "%s without encryption: guest RAM, including the keys of "
				  "encrypted disks, can be paged out and stays on disk after "
				  "power-off",
				  what);
			break;
		}
	}
out:
	free(sw);
	free(buf);
}

void audit_check_zswap(struct audit_ctx *c)
{
	char val[32];

	if (audit_read_value(c, "/sys/module/zswap/parameters/enabled", val, sizeof(val)) < 0) {
		audit_add(c, "zswap", VMC_AUDIT_SKIP, NULL, NULL, "zswap is not in this kernel");
		return;
	}
	if (val[0] != 'Y' && val[0] != '1')
		audit_add(c, "zswap", VMC_AUDIT_PASS, NULL, NULL, "zswap is disabled");
	else if (!c->facts.disk_swap)
		audit_add(c, "zswap", VMC_AUDIT_PASS, NULL, NULL,
			  "zswap is enabled but there is no swap device for it to write back to");
	else
		audit_add(c, "zswap", VMC_AUDIT_WARN, NULL,
			  "treat swap as the risk it is (see the swap check); zswap does not "
			  "remove it",
			  "zswap is enabled: it delays swapping, but writes pages (guest RAM "
			  "included) back to the swap device, uncompressed, when its pool fills");
}

/* ---- hibernation ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* systemd's sleep.conf, then its drop-ins in order: the last setting wins. */
static bool sleep_allowed(struct audit_ctx *c, const char *key)
{
	static const char *const dirs[] = {"/usr/lib/systemd/sleep.conf.d",
					   "/etc/systemd/sleep.conf.d"};
	char val[AUDIT_VALUE_MAX] = "yes", path[AUDIT_PATH_MAX];
	char names[64][256];
	uint8_t *buf = NULL;
	size_t len = 0, n, i, j;
	struct dirent *de;
	DIR *d;

	if (audit_read(c, "/etc/systemd/sleep.conf", AUDIT_FILE_MAX, &buf, &len) == 0) {
		audit_conf_get(buf, len, "Sleep", key, val, sizeof(val));
		free(buf);
	}
	for (i = 0; i < 2; i++) {
		if (audit_opendir(c, dirs[i], &d) < 0)
			continue;
		n = 0;
		while ((de = readdir(d)) != NULL && n < 64) {
			size_t l = strlen(de->d_name);

			if (l > 5 && strcmp(de->d_name + l - 5, ".conf") == 0)
				snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
		}
		closedir(d);
		qsort(names, n, sizeof(names[0]), name_cmp);
		for (j = 0; j < n; j++) {
			if (snprintf(path, sizeof(path), "%s/%s", dirs[i], names[j]) >=
			    (int)sizeof(path))
				continue;
			if (audit_read(c, path, AUDIT_FILE_MAX, &buf, &len) == 0) {
				audit_conf_get(buf, len, "Sleep", key, val, sizeof(val));
				free(buf);
			}
		}
	}
	return !(strcmp(val, "no") == 0 || strcmp(val, "0") == 0 || strcmp(val, "false") == 0 ||
		 strcmp(val, "off") == 0);
}

/* A systemd unit linked to /dev/null in /etc/systemd/system is masked. */
static bool unit_masked(struct audit_ctx *c, const char *unit)
{
	char path[AUDIT_PATH_MAX], target[AUDIT_PATH_MAX];

	snprintf(path, sizeof(path), "/etc/systemd/system/%s", unit);
	return audit_readlink(c, path, target, sizeof(target)) == 0 &&
	       strcmp(target, "/dev/null") == 0;
}

#define FIX_HIBERNATE                                                              \
	"add nohibernate to the kernel command line, or set AllowHibernation=no, " \
	"AllowHybridSleep=no and AllowSuspendThenHibernate=no in "                 \
	"/etc/systemd/sleep.conf.d/; shut VMs down before suspending the host"

void audit_check_hibernation(struct audit_ctx *c)
{
	char state[AUDIT_VALUE_MAX], disk[AUDIT_VALUE_MAX] = "", mode[64] = "",
				     resume[AUDIT_PATH_MAX], hib[32];
	bool allowed;

	if (audit_read_value(c, "/sys/power/state", state, sizeof(state)) < 0) {
		audit_add(c, "hibernation", VMC_AUDIT_SKIP, NULL, NULL,
			  "cannot read /sys/power/state");
		return;
	}
	if (audit_read_value(c, "/sys/power/disk", disk, sizeof(disk)) == 0)
		audit_sysfs_selected(disk, mode, sizeof(mode));
	if (!strstr(state, "disk") || cmdline(c, "nohibernate", NULL, 0) ||
	    (cmdline(c, "hibernate", hib, sizeof(hib)) && strcmp(hib, "no") == 0)) {
		audit_add(c, "hibernation", VMC_AUDIT_PASS, NULL, NULL,
			  "the kernel cannot hibernate (no 'disk' in /sys/power/state, or "
			  "nohibernate): host RAM is never written to disk by suspend");
		return;
	}
	allowed =
	    (sleep_allowed(c, "AllowHibernation") && !unit_masked(c, "hibernate.target")) ||
	    (sleep_allowed(c, "AllowHybridSleep") && !unit_masked(c, "hybrid-sleep.target")) ||
	    (sleep_allowed(c, "AllowSuspendThenHibernate") &&
	     !unit_masked(c, "suspend-then-hibernate.target"));
	if (!allowed) {
		audit_add(c, "hibernation", VMC_AUDIT_PASS, NULL, NULL,
			  "the kernel could hibernate, but systemd's sleep configuration forbids "
			  "hibernation, hybrid sleep and suspend-then-hibernate");
		return;
	}
	if (cmdline(c, "resume", resume, sizeof(resume)) && resume[0])
		audit_add(c, "hibernation", VMC_AUDIT_FAIL, NULL, FIX_HIBERNATE,
			  "hibernation is set up (resume=%s, mode %s): hibernating the host "
			  "writes all of its RAM, the keys of running VMs included, to that device",
			  resume, mode[0] ? mode : "?");
	else if (c->facts.disk_swap)
		audit_add(c, "hibernation", VMC_AUDIT_FAIL, NULL, FIX_HIBERNATE,
			  "the host can hibernate into its swap (mode %s): that writes all of its "
			  "RAM, the keys of running VMs included, to disk",
			  mode[0] ? mode : "?");
	else
		audit_add(c, "hibernation", VMC_AUDIT_WARN, NULL, FIX_HIBERNATE,
			  "the kernel and systemd allow hibernation; only the lack of a swap "
			  "device stops it from writing host RAM (VM keys included) to disk");
}

/* ---- core dumps and crash dumps ---- */

/* The core size soft limit of processes started like the user's (see audit_check_core_limit). */
static int core_limit(struct audit_ctx *c, uint64_t *soft, uint64_t *hard, char *from, size_t flen)
{
	char path[64];
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	/*
	 * vmcrypt disables its own core dumps before anything else, so its
	 * /proc/self/limits says nothing: on this host look at the parent (the
	 * shell that ran it, whose limits VMs started from it inherit). A copied
	 * tree has no such process: there proc/self/limits stands for it.
	 */
	if (c->host)
		snprintf(path, sizeof(path), "/proc/%d/limits", (int)getppid());
	else
		snprintf(path, sizeof(path), "/proc/self/limits");
	snprintf(from, flen, "%s", path);
	r = audit_read(c, path, AUDIT_FILE_MAX, &buf, &len);
	if (r < 0)
		return r;
	r = audit_parse_limit(buf, len, "Max core file size", soft, hard);
	free(buf);
	return r;
}

/* systemd-coredump's Storage= and ProcessSizeMax= (coredump.conf and its drop-ins). */
static void coredump_conf(struct audit_ctx *c, char *storage, size_t slen, char *maxsize,
			  size_t mlen)
{
	char path[AUDIT_PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	struct dirent *de;
	DIR *d;
	unsigned n = 0;

	snprintf(storage, slen, "external");
	snprintf(maxsize, mlen, "%s", "");
	if (audit_read(c, "/etc/systemd/coredump.conf", AUDIT_FILE_MAX, &buf, &len) == 0) {
		audit_conf_get(buf, len, "Coredump", "Storage", storage, slen);
		audit_conf_get(buf, len, "Coredump", "ProcessSizeMax", maxsize, mlen);
		free(buf);
	}
	if (audit_opendir(c, "/etc/systemd/coredump.conf.d", &d) < 0)
		return;
	while ((de = readdir(d)) != NULL && n++ < AUDIT_DIR_MAX) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/etc/systemd/coredump.conf.d/%s", de->d_name);
		if (audit_read(c, path, AUDIT_FILE_MAX, &buf, &len) == 0) {
			audit_conf_get(buf, len, "Coredump", "Storage", storage, slen);
			audit_conf_get(buf, len, "Coredump", "ProcessSizeMax", maxsize, mlen);
			free(buf);
		}
	}
	closedir(d);
}

#define FIX_CORE                                                                    \
	"set Storage=none in /etc/systemd/coredump.conf.d/ (systemd-coredump), or " \
	"kernel.core_pattern=|/bin/false in /etc/sysctl.d/; run VMs with "          \
	"-machine dump-guest-core=off"

void audit_check_core_pattern(struct audit_ctx *c)
{
	char pattern[AUDIT_PATH_MAX], storage[64], maxsize[64], val[64], prog[AUDIT_PATH_MAX],
	    from[64];
	uint64_t soft = 0, hard = 0;
	const char *base;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (audit_read_value(c, "/proc/sys/kernel/core_pattern", pattern, sizeof(pattern)) < 0) {
		audit_add(c, "core-pattern", VMC_AUDIT_SKIP, NULL, NULL,
			  "cannot read /proc/sys/kernel/core_pattern");
		return;
	}
	if (pattern[0] != '|') {
		if (core_limit(c, &soft, &hard, from, sizeof(from)) == 0 && soft == 0)
			audit_add(
			    c, "core-pattern", VMC_AUDIT_WARN, pattern,
			    "kernel.core_pattern=|/bin/false in /etc/sysctl.d/, and keep "
			    "ulimit -c 0",
			    "core files are written as '%s' whenever a process raises its core "
			    "size limit (now 0 here): a QEMU core holds the keys of its disks",
			    pattern);
		else
			audit_add(
			    c, "core-pattern", VMC_AUDIT_FAIL, pattern, FIX_CORE,
			    "a crashing process writes a core file '%s' (core size limit is not "
			    "0): a QEMU core holds the keys of its disks and, unless "
			    "dump-guest-core=off, guest RAM",
			    pattern);
		return;
	}
	sscanf(pattern + 1, "%1023s", prog);
	base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
	if (strcmp(base, "systemd-coredump") == 0) {
		coredump_conf(c, storage, sizeof(storage), maxsize, sizeof(maxsize));
		if (strcmp(storage, "none") == 0 || strcmp(maxsize, "0") == 0)
			audit_add(
			    c, "core-pattern", VMC_AUDIT_PASS, "systemd-coredump", NULL,
			    "crashes go to systemd-coredump, which keeps no core (Storage=%s%s%s)",
			    storage, maxsize[0] ? ", ProcessSizeMax=" : "", maxsize);
		else
			audit_add(
			    c, "core-pattern", VMC_AUDIT_FAIL, "systemd-coredump", FIX_CORE,
			    "systemd-coredump stores the cores of crashed processes (Storage=%s, "
			    "in %s): a QEMU core holds the keys of its disks and, unless "
			    "dump-guest-core=off, guest RAM",
			    storage,
			    strcmp(storage, "journal") == 0 ? "the journal"
							    : "/var/lib/systemd/coredump");
		return;
	}
	/* Handlers that read nothing and exit: the kernel stores no core. */
	if (strcmp(base, "false") == 0 || strcmp(base, "true") == 0) {
		audit_add(c, "core-pattern", VMC_AUDIT_PASS, prog, NULL,
			  "crashes are piped to %s, which discards them: no core file is written",
			  prog);
		return;
	}
	if (strcmp(base, "apport") == 0) {
		snprintf(val, sizeof(val), "1");
		if (audit_read(c, "/etc/default/apport", AUDIT_FILE_MAX, &buf, &len) == 0) {
			audit_conf_get(buf, len, NULL, "enabled", val, sizeof(val));
			free(buf);
		}
		if (strcmp(val, "0") == 0)
			audit_add(c, "core-pattern", VMC_AUDIT_PASS, "apport", NULL,
				  "crashes go to apport, which is disabled (enabled=0)");
		else
			audit_add(
			    c, "core-pattern", VMC_AUDIT_FAIL, "apport",
			    "set enabled=0 in /etc/default/apport (or remove apport)",
			    "apport writes crash reports with core dumps to /var/crash: a QEMU "
			    "core holds the keys of its disks");
		return;
	}
	audit_add(
	    c, "core-pattern", VMC_AUDIT_WARN, prog,
	    "find out where this handler stores cores, or use kernel.core_pattern=|/bin/false",
	    "cores of crashing processes are piped to %s: a QEMU core holds the keys of its "
	    "disks",
	    prog);
}

void audit_check_suid_dumpable(struct audit_ctx *c)
{
	char val[16];

	if (audit_read_value(c, "/proc/sys/fs/suid_dumpable", val, sizeof(val)) < 0) {
		audit_add(c, "suid-dumpable", VMC_AUDIT_SKIP, NULL, NULL,
			  "cannot read /proc/sys/fs/suid_dumpable");
		return;
	}
	if (strcmp(val, "0") == 0)
		audit_add(c, "suid-dumpable", VMC_AUDIT_PASS, NULL, NULL,
			  "fs.suid_dumpable=0: processes that changed credentials (QEMU started "
			  "by libvirtd) never dump core");
	else if (strcmp(val, "2") == 0)
		audit_add(c, "suid-dumpable", VMC_AUDIT_WARN, NULL, "sysctl fs.suid_dumpable=0",
			  "fs.suid_dumpable=2: processes that changed credentials (QEMU started "
			  "by libvirtd) dump core for root to read");
	else
		audit_add(c, "suid-dumpable", VMC_AUDIT_FAIL, NULL, "sysctl fs.suid_dumpable=0",
			  "fs.suid_dumpable=%s: processes that changed credentials dump core "
			  "like any other",
			  val);
}

void audit_check_core_limit(struct audit_ctx *c)
{
	uint64_t soft = 0, hard = 0;
	char from[64], lim[32];
	int r;

	r = core_limit(c, &soft, &hard, from, sizeof(from));
	if (r < 0) {
		audit_add(c, "core-limit", VMC_AUDIT_SKIP, NULL, NULL, "cannot read %s", from);
		return;
	}
	if (soft == UINT64_MAX)
		snprintf(lim, sizeof(lim), "unlimited");
	else
		snprintf(lim, sizeof(lim), "%" PRIu64 " bytes", soft);
	if (soft == 0)
		audit_add(c, "core-limit", VMC_AUDIT_PASS, NULL, NULL,
			  "processes started from this session have a core size limit of 0 (%s)",
			  from);
	else
		audit_add(c, "core-limit", VMC_AUDIT_WARN, NULL,
			  "ulimit -c 0 in the shell profile, or a 'hard core 0' line in "
			  "/etc/security/limits.conf",
			  "processes started from this session may dump core (size limit: %s; %s)",
			  lim, from);
}

void audit_check_kdump(struct audit_ctx *c)
{
	char val[16] = "", ck[AUDIT_VALUE_MAX];

	audit_read_value(c, "/sys/kernel/kexec_crash_loaded", val, sizeof(val));
	if (strcmp(val, "1") == 0)
		audit_add(c, "kdump", VMC_AUDIT_FAIL, NULL,
			  "disable kdump (systemctl disable kdump-tools; USE_KDUMP=0 in "
			  "/etc/default/kdump-tools) and drop crashkernel= from the command line",
			  "a crash kernel is loaded (kdump): when the host kernel crashes, all of "
			  "RAM, VM keys included, is saved as a vmcore (usually in /var/crash)");
	else if (cmdline(c, "crashkernel", ck, sizeof(ck)))
		audit_add(c, "kdump", VMC_AUDIT_WARN, NULL,
			  "drop crashkernel= from the kernel command line if kdump is not wanted",
			  "memory is reserved for a crash kernel (crashkernel=%s); loading one "
			  "would save all of RAM on a kernel crash",
			  ck);
	else
		audit_add(c, "kdump", VMC_AUDIT_PASS, NULL, NULL,
			  "no crash kernel is loaded: a kernel crash does not save RAM to disk");
}

void audit_check_pstore(struct audit_ctx *c)
{
	char backend[64] = "";
	struct dirent *de;
	unsigned records = 0, n = 0;
	DIR *d;

	audit_read_value(c, "/sys/module/pstore/parameters/backend", backend, sizeof(backend));
	if (audit_opendir(c, "/sys/fs/pstore", &d) == 0) {
		while ((de = readdir(d)) != NULL && n++ < AUDIT_DIR_MAX)
			if (de->d_name[0] != '.')
				records++;
		closedir(d);
	}
	if (records)
		audit_add(c, "pstore", VMC_AUDIT_WARN, "/sys/fs/pstore",
			  "read and delete the records in /sys/fs/pstore",
			  "%u crash record%s kept by pstore%s%s%s: kernel log excerpts, not RAM, "
			  "but they survive reboots",
			  records, records == 1 ? "" : "s", backend[0] ? " (" : "", backend,
			  backend[0] ? ")" : "");
	else if (backend[0] && strcmp(backend, "(null)") != 0)
		audit_add(c, "pstore", VMC_AUDIT_PASS, NULL, NULL,
			  "pstore (%s) keeps only kernel log excerpts of crashes, not RAM; no "
			  "records now",
			  backend);
	else
		audit_add(c, "pstore", VMC_AUDIT_PASS, NULL, NULL,
			  "no pstore back end and no records");
}

/* ---- freed memory ---- */

/* CONFIG_X=y in the running kernel's config (/boot/config-RELEASE). */
static bool kconfig_y(struct audit_ctx *c, const char *option)
{
	char release[AUDIT_VALUE_MAX], path[AUDIT_PATH_MAX], val[16] = "";
	uint8_t *buf = NULL;
	size_t len = 0;

	if (audit_read_value(c, "/proc/sys/kernel/osrelease", release, sizeof(release)) < 0)
		return false;
	snprintf(path, sizeof(path), "/boot/config-%s", release);
	if (audit_read(c, path, 16u << 20, &buf, &len) < 0)
		return false;
	audit_conf_get(buf, len, NULL, option, val, sizeof(val));
	free(buf);
	return strcmp(val, "y") == 0;
}

static bool on_value(const char *v)
{
	return strcmp(v, "1") == 0 || strcmp(v, "on") == 0 || strcmp(v, "y") == 0;
}

#define FIX_INIT_ON_FREE                                                        \
	"add init_on_free=1 to the kernel command line (GRUB_CMDLINE_LINUX in " \
	"/etc/default/grub, then update-grub); it costs a few percent of speed"

void audit_check_init_on_free(struct audit_ctx *c)
{
	char v[16];
	bool free_on, alloc_on, poison;

	if (!audit_exists(c, "/proc/cmdline")) {
		audit_add(c, "init-on-free", VMC_AUDIT_SKIP, NULL, NULL,
			  "cannot read /proc/cmdline");
		return;
	}
	free_on = kconfig_y(c, "CONFIG_INIT_ON_FREE_DEFAULT_ON");
	if (cmdline(c, "init_on_free", v, sizeof(v)))
		free_on = on_value(v);
	alloc_on = kconfig_y(c, "CONFIG_INIT_ON_ALLOC_DEFAULT_ON");
	if (cmdline(c, "init_on_alloc", v, sizeof(v)))
		alloc_on = on_value(v);
	poison = cmdline(c, "page_poison", v, sizeof(v)) && on_value(v);
	c->facts.init_on_free = free_on || poison;
	if (free_on)
		audit_add(c, "init-on-free", VMC_AUDIT_PASS, NULL, NULL,
			  "init_on_free is on: pages are zeroed when freed, so a stopped VM's RAM "
			  "and keys do not linger in free memory");
	else if (poison)
		audit_add(c, "init-on-free", VMC_AUDIT_PASS, NULL, NULL,
			  "page_poison=1: freed pages are overwritten with a pattern (when the "
			  "kernel has CONFIG_PAGE_POISONING)");
	else if (alloc_on)
		audit_add(c, "init-on-free", VMC_AUDIT_WARN, NULL, FIX_INIT_ON_FREE,
			  "only init_on_alloc is on: freed pages are zeroed when handed out again, "
			  "until then a stopped VM's RAM and keys stay in free memory");
	else
		audit_add(c, "init-on-free", VMC_AUDIT_FAIL, NULL, FIX_INIT_ON_FREE,
			  "neither init_on_free nor init_on_alloc: freed memory keeps its "
			  "contents, a stopped VM's RAM and keys included, until it is reused");
}

void audit_check_ksm(struct audit_ctx *c)
{
	char run[16], shared[32] = "0", thp[AUDIT_VALUE_MAX] = "", sel[32] = "";
	char thp_note[64] = "";

	if (audit_read_value(c, "/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp)) ==
	    0) {
		audit_sysfs_selected(thp, sel, sizeof(sel));
		snprintf(thp_note, sizeof(thp_note), "; transparent huge pages: %s", sel);
	}
	if (audit_read_value(c, "/sys/kernel/mm/ksm/run", run, sizeof(run)) < 0) {
		audit_add(c, "ksm", VMC_AUDIT_SKIP, NULL, NULL, "KSM is not in this kernel%s",
			  thp_note);
		return;
	}
	audit_read_value(c, "/sys/kernel/mm/ksm/pages_shared", shared, sizeof(shared));
	if (strcmp(run, "1") != 0) {
		audit_add(c, "ksm", VMC_AUDIT_PASS, NULL, NULL,
			  "KSM is not merging pages (run=%s)%s", run, thp_note);
		return;
	}
	c->facts.ksm_running = true;
	if (strcmp(shared, "0") != 0)
		audit_add(c, "ksm", VMC_AUDIT_FAIL, NULL,
			  "echo 2 > /sys/kernel/mm/ksm/run (unmerge) and disable ksmtuned, or give "
			  "each domain <memoryBacking><nosharepages/>",
			  "KSM shares %s pages between processes: identical pages of different VMs "
			  "are merged, which opens cross-VM side channels on guest memory%s",
			  shared, thp_note);
	else
		audit_add(c, "ksm", VMC_AUDIT_WARN, NULL,
			  "echo 0 > /sys/kernel/mm/ksm/run and disable ksmtuned",
			  "KSM is running (no pages merged yet): identical pages of different VMs "
			  "would be merged%s",
			  thp_note);
}
