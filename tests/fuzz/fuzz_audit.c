/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzzes the audit's file parsers (lib/audit): the first input byte picks the
 * parser, the rest is the file. /proc/swaps, /etc/crypttab, the kernel command
 * line, /proc/PID/limits, KEY=VALUE and INI configuration, sysfs choice lists,
 * libvirt domain and snapshot XML, VirtualBox.xml, a QEMU argv, and the first
 * bytes of a disk image (format and partition table).
 */
#include <stdlib.h>
#include <string.h>

#include "audit/audit_internal.h"
#include "tests/fuzz/fuzz.h"

/* The selector byte (make-corpus.sh writes seeds in this order). */
enum {
	P_SWAPS,
	P_CRYPTTAB,
	P_CMDLINE,
	P_LIMIT,
	P_CONF,
	P_INI,
	P_SYSFS,
	P_DOMAIN,
	P_SNAPSHOT,
	P_VBOX,
	P_QEMU,
	P_HEAD,
	P_PARTITIONS,
	P_COUNT
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char dirs[8][AUDIT_PATH_MAX];
	char val[AUDIT_VALUE_MAX], *text;
	const uint8_t *buf = data + 1;
	size_t len = size ? size - 1 : 0;
	uint64_t soft, hard, starts[16];

	if (size == 0)
		return 0;
	switch (data[0] % P_COUNT) {
	case P_SWAPS: {
		struct audit_swap sw[AUDIT_SWAPS_MAX];
		(void)audit_parse_swaps(buf, len, sw, AUDIT_SWAPS_MAX);
		break;
	}
	case P_CRYPTTAB: {
		struct audit_crypttab ct;
		(void)audit_parse_crypttab(buf, len, "cryptswap", false, &ct);
		(void)audit_parse_crypttab(buf, len, "/dev/sda2", true, &ct);
		break;
	}
	case P_CMDLINE:
		(void)audit_cmdline_get(buf, len, "resume", val, sizeof(val));
		(void)audit_cmdline_get(buf, len, "init_on_free", val, sizeof(val));
		break;
	case P_LIMIT:
		(void)audit_parse_limit(buf, len, "Max core file size", &soft, &hard);
		(void)audit_parse_limit(buf, len, "Max locked memory", &soft, &hard);
		break;
	case P_CONF:
		(void)audit_conf_get(buf, len, NULL, "dump_core", val, sizeof(val));
		(void)audit_conf_get(buf, len, NULL, "ON_SHUTDOWN", val, sizeof(val));
		break;
	case P_INI:
		(void)audit_conf_get(buf, len, "Coredump", "Storage", val, sizeof(val));
		(void)audit_conf_get(buf, len, "Sleep", "AllowHibernation", val, sizeof(val));
		break;
	case P_SYSFS:
		/* This one takes a C string (a sysfs value read and terminated by the caller). */
		text = malloc(len + 1);
		if (!text)
			return 0;
		memcpy(text, buf, len);
		text[len] = '\0';
		audit_sysfs_selected(text, val, sizeof(val));
		free(text);
		break;
	case P_DOMAIN: {
		struct audit_domain *d = malloc(sizeof(*d));
		if (d)
			(void)audit_parse_domain(buf, len, d);
		free(d);
		break;
	}
	case P_SNAPSHOT:
		(void)audit_parse_snapshot(buf, len, val, sizeof(val));
		break;
	case P_VBOX:
		(void)audit_parse_vbox_global(buf, len, dirs, 8);
		break;
	case P_QEMU: {
		struct audit_qemu *q = malloc(sizeof(*q));
		if (q)
			audit_parse_qemu(buf, len, q);
		free(q);
		break;
	}
	case P_HEAD:
		(void)audit_classify_head(buf, len);
		break;
	case P_PARTITIONS:
		(void)audit_parse_partitions(buf, len, starts, 16);
		break;
	}
	return 0;
}
