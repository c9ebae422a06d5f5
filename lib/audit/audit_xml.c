/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit's XML parsers (libxml2 stays in this file): libvirt domains and snapshots, VirtualBox.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "audit/audit_internal.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
	xmlInitParser();
}

/*
 * Parses without network access, without substituting entities or loading a
 * DTD, and without libxml2's own error printing (the library never prints).
 */
static xmlDocPtr parse(const uint8_t *buf, size_t len)
{
	pthread_once(&xml_once, xml_init);
	if (len == 0 || len > AUDIT_XML_MAX || len > INT_MAX)
		return NULL;
	return xmlReadMemory((const char *)buf, (int)len, NULL, NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				 XML_PARSE_NOCDATA);
}

static bool is(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST name) == 0;
}

static xmlNodePtr child(const xmlNode *n, const char *name)
{
	xmlNodePtr c;

	for (c = n ? n->children : NULL; c; c = c->next)
		if (is(c, name))
			return c;
	return NULL;
}

/* Copies attribute name of n into val ("" when absent). */
static void attr(xmlNodePtr n, const char *name, char *val, size_t vlen)
{
	xmlChar *v = n ? xmlGetProp(n, BAD_CAST name) : NULL;

	snprintf(val, vlen, "%s", v ? (const char *)v : "");
	xmlFree(v);
}

static void text(xmlNodePtr n, char *val, size_t vlen)
{
	xmlChar *v = n ? xmlNodeGetContent(n) : NULL;
	const char *s = v ? (const char *)v : "";
	size_t len;

	while (*s == ' ' || *s == '\n' || *s == '\t')
		s++;
	snprintf(val, vlen, "%s", s);
	len = strlen(val);
	while (len > 0 && (val[len - 1] == ' ' || val[len - 1] == '\n' || val[len - 1] == '\t'))
		val[--len] = '\0';
	xmlFree(v);
}

static void parse_disk(xmlNodePtr disk, struct audit_disk *d)
{
	xmlNodePtr src = child(disk, "source"), enc;
	char name[AUDIT_PATH_MAX - 32];

	memset(d, 0, sizeof(*d));
	attr(disk, "type", d->type, sizeof(d->type));
	attr(child(disk, "target"), "dev", d->target, sizeof(d->target));
	attr(child(disk, "driver"), "type", d->driver, sizeof(d->driver));
	if (src) {
		attr(src, "file", d->source, sizeof(d->source));
		if (!d->source[0])
			attr(src, "dev", d->source, sizeof(d->source));
		attr(src, "protocol", d->protocol, sizeof(d->protocol));
		if (!d->source[0]) {
			attr(src, "name", name, sizeof(name));
			if (!name[0])
				attr(src, "volume", name, sizeof(name));
			snprintf(d->source, sizeof(d->source), "%s%s%s", d->protocol,
				 d->protocol[0] ? ":" : "", name);
		}
	}
	/* <encryption> sits in <disk> (older libvirt) or in <source>. */
	enc = child(disk, "encryption");
	if (!enc)
		enc = child(src, "encryption");
	if (enc) {
		d->encrypted = true;
		attr(enc, "format", d->encryption, sizeof(d->encryption));
	}
}

int audit_parse_domain(const uint8_t *buf, size_t len, struct audit_domain *ret)
{
	xmlDocPtr doc = parse(buf, len);
	xmlNodePtr root, dom, devs, n, mb;
	char device[32];
	int r = -EBADMSG;

	memset(ret, 0, sizeof(*ret));
	if (!doc)
		return -EBADMSG;
	root = xmlDocGetRootElement(doc);
	dom = is(root, "domain") ? root : is(root, "domstatus") ? child(root, "domain") : NULL;
	if (!dom)
		goto out;
	text(child(dom, "name"), ret->name, sizeof(ret->name));
	text(child(dom, "on_crash"), ret->on_crash, sizeof(ret->on_crash));
	attr(child(dom, "memory"), "dumpCore", ret->dump_core, sizeof(ret->dump_core));
	mb = child(dom, "memoryBacking");
	ret->locked = child(mb, "locked") != NULL;
	ret->nosharepages = child(mb, "nosharepages") != NULL;
	ret->hugepages = child(mb, "hugepages") != NULL;
	attr(child(mb, "source"), "type", ret->mem_source, sizeof(ret->mem_source));
	attr(child(mb, "access"), "mode", device, sizeof(device));
	ret->mem_shared = strcmp(device, "shared") == 0;
	/* NUMA cells may share their memory one by one (what virtiofs usually asks for). */
	for (n = child(child(child(dom, "cpu"), "numa"), "cell"); n; n = n->next) {
		if (!is(n, "cell"))
			continue;
		attr(n, "memAccess", device, sizeof(device));
		ret->mem_shared |= strcmp(device, "shared") == 0;
	}
	devs = child(dom, "devices");
	for (n = devs ? devs->children : NULL; n; n = n->next) {
		if (is(n, "filesystem")) {
			attr(child(n, "driver"), "type", device, sizeof(device));
			ret->virtiofs |= strcmp(device, "virtiofs") == 0;
			continue;
		}
		if (is(n, "memory") && ret->nmemdevs < AUDIT_MEMDEVS_MAX) {
			struct audit_memdev *m = &ret->memdevs[ret->nmemdevs];

			attr(n, "model", m->model, sizeof(m->model));
			text(child(child(n, "source"), "path"), m->path, sizeof(m->path));
			attr(n, "access", device, sizeof(device));
			m->shared = strcmp(device, "shared") == 0;
			if (m->path[0])
				ret->nmemdevs++;
			continue;
		}
		if (is(n, "memballoon")) {
			ret->has_balloon = true;
			attr(n, "model", ret->balloon_model, sizeof(ret->balloon_model));
		} else if (is(n, "disk") && ret->ndisks < AUDIT_DISKS_MAX) {
			attr(n, "device", device, sizeof(device));
			/* cdrom and floppy media are not the VM's own disks. */
			if (device[0] && strcmp(device, "disk") != 0 && strcmp(device, "lun") != 0)
				continue;
			parse_disk(n, &ret->disks[ret->ndisks++]);
		}
	}
	r = 0;
out:
	xmlFreeDoc(doc);
	return r;
}

int audit_parse_snapshot(const uint8_t *buf, size_t len, char *memfile, size_t mlen)
{
	xmlDocPtr doc = parse(buf, len);
	xmlNodePtr root, mem;
	char mode[32], state[32];
	int r = -EBADMSG;

	if (mlen)
		memfile[0] = '\0';
	if (!doc)
		return -EBADMSG;
	root = xmlDocGetRootElement(doc);
	if (!is(root, "domainsnapshot"))
		goto out;
	mem = child(root, "memory");
	if (mem) {
		attr(mem, "snapshot", mode, sizeof(mode));
		attr(mem, "file", memfile, mlen);
		r = mode[0] && strcmp(mode, "no") != 0;
	} else {
		/* Before <memory>, a snapshot of a running guest kept its RAM (internal). */
		text(child(root, "state"), state, sizeof(state));
		r = strcmp(state, "running") == 0 || strcmp(state, "paused") == 0 ||
		    strcmp(state, "blocked") == 0;
	}
out:
	xmlFreeDoc(doc);
	return r;
}

/* dirname of path into dir. */
static void dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, len, ".");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

static size_t walk_vbox(xmlNodePtr n, char (*dirs)[AUDIT_PATH_MAX], size_t max, size_t count,
			unsigned depth)
{
	char v[AUDIT_PATH_MAX];

	for (; n && count < max && depth < 16; n = n->next) {
		if (is(n, "MachineEntry")) {
			attr(n, "src", v, sizeof(v));
			if (v[0])
				dir_of(v, dirs[count++], AUDIT_PATH_MAX);
		} else if (is(n, "SystemProperties")) {
			attr(n, "defaultMachineFolder", v, sizeof(v));
			if (v[0])
				snprintf(dirs[count++], AUDIT_PATH_MAX, "%s", v);
		}
		if (n->type == XML_ELEMENT_NODE)
			count = walk_vbox(n->children, dirs, max, count, depth + 1);
	}
	return count;
}

size_t audit_parse_vbox_global(const uint8_t *buf, size_t len, char (*dirs)[AUDIT_PATH_MAX],
			       size_t max)
{
	xmlDocPtr doc = parse(buf, len);
	size_t n;

	if (!doc)
		return 0;
	n = walk_vbox(xmlDocGetRootElement(doc), dirs, max, 0, 0);
	xmlFreeDoc(doc);
	return n;
}
