/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* VirtualBox saved states and Xen ballooning. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"

#define VBOX_DIRS_MAX 64
#define HOMES_MAX     256

/* Adds a FAIL per *.sav file below dir (at most depth levels down); returns the count. */
static unsigned find_sav(struct audit_ctx *c, const char *dir, unsigned depth)
{
	char path[AUDIT_PATH_MAX];
	struct dirent *de;
	unsigned found = 0, n = 0;
	DIR *d;

	if (depth > 3 || audit_opendir(c, dir, &d) < 0)
		return 0;
	while ((de = readdir(d)) != NULL && n++ < AUDIT_DIR_MAX) {
		size_t l = strlen(de->d_name);

		if (de->d_name[0] == '.' && (l == 1 || (l == 2 && de->d_name[1] == '.')))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
			continue;
		if (l > 4 && strcmp(de->d_name + l - 4, ".sav") == 0) {
			audit_add(c, "virtualbox", VMC_AUDIT_FAIL, path,
				  "discard the saved state (VBoxManage discardstate VM, or delete "
				  "the snapshot); power VMs off instead of saving them",
				  "VirtualBox saved state: the VM's RAM, disk keys included, "
				  "unencrypted (unless the VM itself is encrypted by VirtualBox)");
			found++;
		} else if (de->d_type == DT_DIR || de->d_type == DT_UNKNOWN) {
			found += find_sav(c, path, depth + 1);
		}
	}
	closedir(d);
	return found;
}

/* The VM folders of one home directory: defaults plus what VirtualBox.xml registers. */
static size_t vbox_dirs(struct audit_ctx *c, const char *home, char (*dirs)[AUDIT_PATH_MAX],
			size_t max, bool *ret_present)
{
	static const char *const configs[] = {"/.config/VirtualBox/VirtualBox.xml",
					      "/.VirtualBox/VirtualBox.xml"};
	char path[AUDIT_PATH_MAX];
	uint8_t *buf = NULL;
	size_t len = 0, n = 0, i;

	snprintf(dirs[n++], AUDIT_PATH_MAX, "%s/VirtualBox VMs", home);
	snprintf(dirs[n++], AUDIT_PATH_MAX, "%s/.VirtualBox", home);
	*ret_present = audit_exists(c, dirs[0]) || audit_exists(c, dirs[1]);
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s%s", home, configs[i]);
		if (audit_read(c, path, AUDIT_XML_MAX, &buf, &len) < 0)
			continue;
		*ret_present = true;
		n += audit_parse_vbox_global(buf, len, dirs + n, max - n);
		free(buf);
	}
	return n;
}

static unsigned scan_home(struct audit_ctx *c, const char *home, bool *present)
{
	char(*dirs)[AUDIT_PATH_MAX] = calloc(VBOX_DIRS_MAX, AUDIT_PATH_MAX);
	unsigned found = 0;
	size_t n, i, j;
	bool here = false;

	if (!dirs) {
		c->oom = true;
		return 0;
	}
	n = vbox_dirs(c, home, dirs, VBOX_DIRS_MAX, &here);
	*present |= here;
	for (i = 0; i < n; i++) {
		/* Machines registered inside the default folder would be counted twice. */
		for (j = 0; j < i; j++)
			if (strncmp(dirs[i], dirs[j], strlen(dirs[j])) == 0 &&
			    (dirs[i][strlen(dirs[j])] == '/' || dirs[i][strlen(dirs[j])] == '\0'))
				break;
		if (j == i)
			found += find_sav(c, dirs[i], 0);
	}
	free(dirs);
	return found;
}

void audit_check_virtualbox(struct audit_ctx *c)
{
	char home[AUDIT_PATH_MAX];
	const char *env;
	struct dirent *de;
	unsigned found = 0, n = 0;
	bool present = false;
	DIR *d;

	found += scan_home(c, "/root", &present);
	if (audit_opendir(c, "/home", &d) == 0) {
		while ((de = readdir(d)) != NULL && n++ < HOMES_MAX) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(home, sizeof(home), "/home/%s", de->d_name);
			found += scan_home(c, home, &present);
		}
		closedir(d);
	}
	/* On this machine, also the caller's own home when it is elsewhere. */
	env = c->host ? getenv("HOME") : NULL;
	if (env && env[0] == '/' && strncmp(env, "/home/", 6) != 0 && strcmp(env, "/root") != 0)
		found += scan_home(c, env, &present);
	if (found)
		return;
	if (present)
		audit_add(c, "virtualbox", VMC_AUDIT_PASS, NULL, NULL,
			  "no VirtualBox saved states (.sav) in the VM folders");
	else
		audit_add(c, "virtualbox", VMC_AUDIT_SKIP, NULL, NULL,
			  "no VirtualBox VM folders or configuration");
}

static unsigned long mem_value(const uint8_t *buf, size_t len, const char *key)
{
	char v[32] = "";

	audit_conf_get(buf, len, NULL, key, v, sizeof(v));
	return strtoul(v, NULL, 10);
}

/* Xen domain configurations whose maxmem exceeds memory balloon at run time. */
static void check_xen_domains(struct audit_ctx *c)
{
	char path[AUDIT_PATH_MAX];
	struct dirent *de;
	unsigned n = 0;
	unsigned long mem, maxmem;
	uint8_t *buf = NULL;
	size_t len = 0;
	DIR *d;

	if (audit_opendir(c, "/etc/xen", &d) < 0)
		return;
	while ((de = readdir(d)) != NULL && n++ < AUDIT_DIR_MAX) {
		size_t l = strlen(de->d_name);

		if (l < 5 || strcmp(de->d_name + l - 4, ".cfg") != 0)
			continue;
		snprintf(path, sizeof(path), "/etc/xen/%s", de->d_name);
		if (audit_read(c, path, AUDIT_FILE_MAX, &buf, &len) < 0)
			continue;
		mem = mem_value(buf, len, "memory");
		maxmem = mem_value(buf, len, "maxmem");
		free(buf);
		if (maxmem > mem)
			audit_add(
			    c, "xen-domain-balloon", VMC_AUDIT_FAIL, path,
			    "set maxmem equal to memory",
			    "maxmem (%lu MiB) above memory (%lu MiB): the guest balloons, and "
			    "Xen's ballooning is known to disclose memory contents",
			    maxmem, mem);
		else
			audit_add(c, "xen-domain-balloon", VMC_AUDIT_PASS, path, NULL,
				  "no ballooning (maxmem not above memory)");
	}
	closedir(d);
}

void audit_check_xen(struct audit_ctx *c)
{
	char val[32] = "auto";
	uint8_t *buf = NULL;
	size_t len = 0;

	if (audit_read(c, "/etc/xen/xl.conf", AUDIT_FILE_MAX, &buf, &len) < 0) {
		audit_add(c, "xen", VMC_AUDIT_SKIP, NULL, NULL,
			  "Xen is not installed (no xl.conf)");
		return;
	}
	audit_conf_get(buf, len, NULL, "autoballoon", val, sizeof(val));
	free(buf);
	if (strcmp(val, "off") == 0 || strcmp(val, "0") == 0)
		audit_add(c, "xen", VMC_AUDIT_PASS, "/etc/xen/xl.conf", NULL,
			  "autoballoon=%s: dom0 memory is not ballooned", val);
	else if (strcmp(val, "on") == 0 || strcmp(val, "1") == 0)
		audit_add(c, "xen", VMC_AUDIT_FAIL, "/etc/xen/xl.conf",
			  "set autoballoon=\"off\" in /etc/xen/xl.conf and dom0_mem= on Xen's "
			  "command line",
			  "autoballoon=%s: dom0 is ballooned to make room for guests; Xen's "
			  "ballooning is known to disclose memory contents between domains",
			  val);
	else
		audit_add(
		    c, "xen", VMC_AUDIT_WARN, "/etc/xen/xl.conf",
		    "set autoballoon=\"off\" in /etc/xen/xl.conf and dom0_mem= on Xen's "
		    "command line",
		    "autoballoon=%s: dom0 is ballooned unless Xen's command line has dom0_mem=",
		    val);
	check_xen_domains(c);
}
