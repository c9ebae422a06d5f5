/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit module: checks, their results, file access below --root, and the bounded parsers. */
#ifndef VMC_AUDIT_INTERNAL_H
#define VMC_AUDIT_INTERNAL_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmcrypt.h"

/* Caps on what the audit reads: files, directory entries, list lengths. */
#define AUDIT_FILE_MAX	(1u << 20) /* config and /proc files */
#define AUDIT_XML_MAX	(4u << 20) /* libvirt and VirtualBox XML */
#define AUDIT_DIR_MAX	4096	   /* entries looked at per directory */
#define AUDIT_PROC_MAX	65536	   /* processes looked at */
#define AUDIT_SWAPS_MAX 32
#define AUDIT_DISKS_MAX 32
#define AUDIT_VALUE_MAX 256
#define AUDIT_PATH_MAX	1024

struct audit_result {
	const char *check; /* check id, e.g. "swap" (static) */
	enum vmc_audit_status status;
	char subject[AUDIT_PATH_MAX]; /* what the result is about (device, domain, file), or "" */
	char why[768];
	char fix[512];
};

/* Facts one check learns and later checks use. */
struct audit_facts {
	bool swap_known;
	bool disk_swap;	 /* active swap on a disk or file */
	bool plain_swap; /* ... at least one without encryption */
	bool ksm_running;
	bool init_on_free;			 /* freed pages are wiped */
	int libvirt_dump_core;			 /* qemu.conf dump_guest_core: 0, 1, -1 not set */
	char memory_backing_dir[AUDIT_PATH_MAX]; /* qemu.conf, or libvirt's default */
	char auto_dump_path[AUDIT_PATH_MAX];
};

struct audit_ctx {
	const char *root; /* as given, for messages; "/" for the host */
	int rootfd;	  /* directory fd of root */
	bool host;	  /* root is "/": this machine */
	const char *const *domain_xml;
	const char *const *images; /* --image files (on this machine) */
	struct audit_result *res;
	size_t n, cap;
	bool oom;
	struct audit_facts facts;
};

/* Adds a result; why is formatted. Sets ctx->oom on allocation failure. */
void audit_add(struct audit_ctx *c, const char *check, enum vmc_audit_status status,
	       const char *subject, const char *fix, const char *why_fmt, ...)
    __attribute__((format(printf, 6, 7)));

/*
 * Reads at most cap bytes of path (absolute, as on the audited host) below the
 * root; symbolic links resolve inside the root. *ret_buf is malloc()ed and
 * NUL-terminated (not counted in *ret_len). -ENOENT, -EACCES, -EFBIG (longer
 * than cap), -ENOMEM.
 */
int audit_read(struct audit_ctx *c, const char *path, size_t cap, uint8_t **ret_buf,
	       size_t *ret_len);
/*
 * Reads len bytes at off of path (a regular file or block device) into buf;
 * returns the count read (short at EOF) or < 0.
 */
int audit_read_at(struct audit_ctx *c, const char *path, void *buf, size_t len, uint64_t off);
/* True when path exists below the root (not following a final symlink when nofollow). */
bool audit_exists(struct audit_ctx *c, const char *path);
/* The target of a symbolic link below the root; -EINVAL when path is not one. */
int audit_readlink(struct audit_ctx *c, const char *path, char *buf, size_t len);
/* Opens a directory below the root for readdir(); closedir() it. */
int audit_opendir(struct audit_ctx *c, const char *path, DIR **ret_dir);
/* Reads a one-line sysfs/procfs value (trailing whitespace removed) into val. */
int audit_read_value(struct audit_ctx *c, const char *path, char *val, size_t len);

/*
 * Parsers. Each takes the bytes of a file (buf, len; not necessarily
 * NUL-terminated), stays inside them, and caps what it collects.
 */

struct audit_swap {
	char path[AUDIT_PATH_MAX];
	bool is_file;
};

/* /proc/swaps: the active swap areas, at most max. Returns the count. */
size_t audit_parse_swaps(const uint8_t *buf, size_t len, struct audit_swap *out, size_t max);

struct audit_crypttab {
	char name[AUDIT_VALUE_MAX];
	char device[AUDIT_PATH_MAX];
	char key[AUDIT_PATH_MAX];
	char options[AUDIT_VALUE_MAX];
};

/*
 * /etc/crypttab: the entry whose name (or, when by_device, device) is key.
 * 1 found, 0 not.
 */
int audit_parse_crypttab(const uint8_t *buf, size_t len, const char *key, bool by_device,
			 struct audit_crypttab *ret);

/*
 * Kernel command line: whether parameter name is present; its value (after
 * '=', unquoted; "" for a bare flag) into val. The last occurrence wins.
 */
bool audit_cmdline_get(const uint8_t *buf, size_t len, const char *name, char *val, size_t vlen);

/* /proc/PID/limits: soft and hard limit of the named row (UINT64_MAX = unlimited). */
int audit_parse_limit(const uint8_t *buf, size_t len, const char *row, uint64_t *ret_soft,
		      uint64_t *ret_hard);

/*
 * Configuration files of the KEY=VALUE family: shell (libvirt-guests),
 * libvirt's qemu.conf and xl.conf (key = "value"), and systemd's INI style
 * (section given: only keys of [section]). Comments start with # or ;. Quotes
 * are removed. The last assignment wins. 1 found, 0 not.
 */
int audit_conf_get(const uint8_t *buf, size_t len, const char *section, const char *key, char *val,
		   size_t vlen);

/* A sysfs choice list "a [b] c": the selected word into val; plain values are copied. */
void audit_sysfs_selected(const char *value, char *val, size_t vlen);

/* A libvirt domain: what the checks look at. */
struct audit_disk {
	char target[64];
	char source[AUDIT_PATH_MAX]; /* file or dev, or protocol:name for network disks */
	char type[16];		     /* file, block, network, volume */
	char protocol[16];	     /* network disks */
	char driver[16];	     /* raw, qcow2, ... */
	bool encrypted;		     /* <encryption> on the disk or its source */
	char encryption[16];	     /* its format */
};

/* A guest memory device backed by a file (<memory model='nvdimm|virtio-pmem'>). */
struct audit_memdev {
	char model[16];
	char path[AUDIT_PATH_MAX];
	bool shared; /* access='shared' */
};

#define AUDIT_MEMDEVS_MAX 8

struct audit_domain {
	char name[AUDIT_VALUE_MAX];
	char mem_source[16]; /* <memoryBacking><source type=...>: file, anonymous, memfd, or "" */
	bool hugepages;	     /* <memoryBacking><hugepages/> */
	bool mem_shared;     /* <access mode='shared'/>, or a NUMA cell with memAccess='shared' */
	bool virtiofs;	     /* a <filesystem> with <driver type='virtiofs'/> */
	struct audit_memdev memdevs[AUDIT_MEMDEVS_MAX];
	size_t nmemdevs;
	bool has_balloon;
	char balloon_model[32]; /* "" when the element is absent (libvirt adds virtio) */
	bool locked, nosharepages;
	char dump_core[8]; /* "on", "off" or "" */
	char on_crash[32];
	struct audit_disk disks[AUDIT_DISKS_MAX];
	size_t ndisks;
};

/*
 * A libvirt domain XML document (<domain>, or the <domstatus> of a running
 * domain). 0, -EBADMSG (not XML or no <domain>), -ENOMEM.
 */
int audit_parse_domain(const uint8_t *buf, size_t len, struct audit_domain *ret);

/*
 * A libvirt snapshot XML (<domainsnapshot>): whether it holds guest memory
 * (<memory snapshot='internal|external'>, or a running state without a
 * <memory> element, as older libvirt wrote). 1 yes, 0 no, < 0 not parsable.
 */
int audit_parse_snapshot(const uint8_t *buf, size_t len, char *memfile, size_t mlen);

/* VirtualBox.xml: folders holding VMs (MachineEntry src dirs, defaultMachineFolder). */
size_t audit_parse_vbox_global(const uint8_t *buf, size_t len, char (*dirs)[AUDIT_PATH_MAX],
			       size_t max);

/* A QEMU process's command line (NUL-separated argv). */
struct audit_qemu_disk {
	char file[AUDIT_PATH_MAX];
	bool encrypted; /* luks driver or qcow2 encryption on this disk */
	bool network;	/* nbd:, nbd driver, or another network protocol */
};

/* A QEMU memory backend (-object memory-backend-*), or the legacy -mem-path. */
struct audit_qemu_mem {
	char id[64];
	char kind[16];		   /* "file", "memfd", "ram", "epc" ... (after memory-backend-) */
	char path[AUDIT_PATH_MAX]; /* mem-path of a file backend or -mem-path */
	bool share;		   /* share=on: a shared mapping, written back to the file */
};

#define AUDIT_QEMU_MEMS_MAX 8

struct audit_qemu {
	bool is_qemu;
	struct audit_qemu_mem mems[AUDIT_QEMU_MEMS_MAX];
	size_t nmems;
	char incoming[AUDIT_PATH_MAX]; /* -incoming URI, or "" */
	bool background_snapshot;      /* -global migration.x-background-snapshot=on */
	bool postcopy;		       /* -global migration.x-postcopy-ram=on */
	bool virtiofs;		       /* a vhost-user-fs device */
	bool virtiofs_dax;	       /* ... with a DAX window (cache-size=) */
	char name[AUDIT_VALUE_MAX];
	bool dump_guest_core_off;
	bool mem_lock;
	bool balloon;
	struct audit_qemu_disk disks[AUDIT_DISKS_MAX];
	size_t ndisks;
};

void audit_parse_qemu(const uint8_t *buf, size_t len, struct audit_qemu *ret);

/* What the first bytes of a disk image say about its encryption. */
enum audit_image_kind {
	AUDIT_IMAGE_UNREADABLE,
	AUDIT_IMAGE_LUKS,	  /* LUKS header at offset 0 */
	AUDIT_IMAGE_LUKS_PART,	  /* a partition (MBR/GPT) starts with a LUKS header */
	AUDIT_IMAGE_QCOW2_CRYPT,  /* qcow2 with its own encryption */
	AUDIT_IMAGE_QCOW2,	  /* qcow2 without encryption: contents unknown */
	AUDIT_IMAGE_OTHER_FORMAT, /* vmdk, vdi, vhdx: contents unknown */
	AUDIT_IMAGE_PLAIN,	  /* raw, no LUKS anywhere we looked */
};

/* Classifies a disk image below the root by its header (and its partitions' first bytes). */
enum audit_image_kind audit_classify_image(struct audit_ctx *c, const char *path);
/* The format an image's first bytes show (LUKS, qcow2, other formats, else plain). */
enum audit_image_kind audit_classify_head(const uint8_t *buf, size_t len);
/*
 * Byte offsets where the partitions of an MBR or GPT disk start, from the
 * first len bytes of the disk (GPT entries beyond them are not looked at).
 */
size_t audit_parse_partitions(const uint8_t *buf, size_t len, uint64_t *starts, size_t max);
/*
 * Checks the internal snapshots of the qcow2 image at path (read through c: below
 * its root, or this machine's file for a context made with audit_ctx_here()):
 * a result of check for subject, FAIL when a snapshot keeps VM state (guest
 * RAM). Adds nothing when path is not a qcow2 image.
 */
void audit_image_snapshots(struct audit_ctx *c, struct audit_ctx *rc, const char *check,
			   const char *subject, const char *path);

/* Where a file's bytes live, from the file system holding path. */
enum audit_fs_kind {
	AUDIT_FS_UNKNOWN,
	AUDIT_FS_RAM,  /* tmpfs, hugetlbfs, ramfs: memory, never a disk (tmpfs may swap) */
	AUDIT_FS_DISK, /* anything else: a disk, or a network or FUSE file system */
};

/*
 * The file system of path (or of its nearest existing parent): statfs() on
 * this host, else the longest mount point in ROOT/proc/mounts. Its type name
 * into fstype ("?" when unknown).
 */
enum audit_fs_kind audit_fs_of(struct audit_ctx *c, const char *path, char *fstype, size_t flen);
/* The device and type of the mount holding path, from /proc/mounts (longest mount point). */
bool audit_mount_of(struct audit_ctx *c, const char *path, char *dev, size_t dlen, char *fstype,
		    size_t flen);
/* Size of a regular file below the root; < 0 when it cannot be read. */
int audit_file_size(struct audit_ctx *c, const char *path, uint64_t *ret_size);
/* "12.3 MiB" style size into buf. */
void audit_human_size(uint64_t bytes, char *buf, size_t len);

/* One line on what an image kind means for its encryption, and its status. */
enum vmc_audit_status audit_image_status(enum audit_image_kind k, const char **ret_why);

/* The check groups (audit_host.c, audit_libvirt.c, audit_qemu.c, audit_other.c). */
void audit_check_swap(struct audit_ctx *c);
void audit_check_zswap(struct audit_ctx *c);
void audit_check_hibernation(struct audit_ctx *c);
void audit_check_core_pattern(struct audit_ctx *c);
void audit_check_suid_dumpable(struct audit_ctx *c);
void audit_check_core_limit(struct audit_ctx *c);
void audit_check_kdump(struct audit_ctx *c);
void audit_check_pstore(struct audit_ctx *c);
void audit_check_init_on_free(struct audit_ctx *c);
void audit_check_ksm(struct audit_ctx *c);
void audit_check_libvirt_host(struct audit_ctx *c);
void audit_check_libvirt_domains(struct audit_ctx *c);
void audit_check_libvirt_files(struct audit_ctx *c);
void audit_check_qemu(struct audit_ctx *c);
void audit_check_virtualbox(struct audit_ctx *c);
void audit_check_xen(struct audit_ctx *c);
void audit_check_images(struct audit_ctx *c);

/*
 * Runs every check against the tree at root (NULL: "/") into *c (results
 * owned by c, freed with audit_ctx_clear()). For tests and vmc_audit_run().
 */
int audit_run_checks(const char *root, const char *const *domain_xml, struct audit_ctx *c);
/* The same with --image files (NULL-terminated, may be NULL). */
int audit_run_checks_images(const char *root, const char *const *domain_xml,
			    const char *const *images, struct audit_ctx *c);
void audit_ctx_clear(struct audit_ctx *c);
/* Status names: "PASS", "WARN", "FAIL", "SKIP". */
const char *audit_status_name(enum vmc_audit_status s);

#endif
