/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt audit against the fixture trees (PASS, WARN and FAIL per check), plus the parsers' edge
 * cases. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "audit/audit_internal.h"
#include "check.h"

static int failures;

/* The --domain-xml files of a fixture: dir/domain-*.xml. */
static size_t domain_files(const char *dir, char **out, size_t max)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	CHECK(d != NULL);
	while ((de = readdir(d)) != NULL && n + 1 < max) {
		if (strncmp(de->d_name, "domain-", 7) != 0)
			continue;
		CHECK(asprintf(&out[n++], "%s/%s", dir, de->d_name) > 0);
	}
	closedir(d);
	out[n] = NULL;
	return n;
}

static bool matches(const struct audit_result *r, const char *check, const char *status,
		    const char *subject)
{
	return strcmp(r->check, check) == 0 && strcmp(audit_status_name(r->status), status) == 0 &&
	       (!subject[0] || strstr(r->subject, subject));
}

static void print_results(const struct audit_ctx *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		fprintf(stderr, "   got: %s %s %s\n", c->res[i].check,
			audit_status_name(c->res[i].status), c->res[i].subject);
}

static void run_fixture(const char *dir)
{
	char root[4200], path[4200], line[1024], check[64], status[16], subject[512];
	char *xml[16];
	struct audit_ctx c;
	size_t i, nx;
	FILE *f;
	bool listed[1024] = {false};
	int before = failures;

	snprintf(root, sizeof(root), "%s/root", dir);
	nx = domain_files(dir, xml, 16);
	CHECK_OK(audit_run_checks(root, (const char *const *)xml, &c));
	CHECK(c.n < 1024);
	snprintf(path, sizeof(path), "%s/expect", dir);
	f = fopen(path, "r");
	CHECK(f != NULL);
	/* Every expected line is met by a result... */
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || line[0] == '\n')
			continue;
		subject[0] = '\0';
		CHECK(sscanf(line, "%63s %15s %511[^\n]", check, status, subject) >= 2);
		for (i = 0; i < c.n && !matches(&c.res[i], check, status, subject); i++)
			;
		if (i == c.n) {
			fprintf(stderr, "%s: expected %s %s '%s', not found\n", dir, check, status,
				subject);
			failures++;
		}
		/* ...and every result of a listed check is expected. */
		for (i = 0; i < c.n; i++)
			if (strcmp(c.res[i].check, check) == 0 &&
			    matches(&c.res[i], check, status, subject))
				listed[i] = true;
	}
	fclose(f);
	f = fopen(path, "r");
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || sscanf(line, "%63s", check) != 1)
			continue;
		for (i = 0; i < c.n; i++) {
			if (strcmp(c.res[i].check, check) == 0 && !listed[i]) {
				fprintf(stderr, "%s: unexpected %s %s '%s': %s\n", dir, check,
					audit_status_name(c.res[i].status), c.res[i].subject,
					c.res[i].why);
				listed[i] = true;
				failures++;
			}
		}
	}
	fclose(f);
	/* Every result has a why, and a fix when it is not a PASS or SKIP. */
	for (i = 0; i < c.n; i++) {
		CHECK(c.res[i].why[0]);
		CHECK(c.res[i].status < VMC_AUDIT_WARN || c.res[i].fix[0]);
		CHECK(!strchr(c.res[i].why, '\n') && !strchr(c.res[i].fix, '\n'));
	}
	if (failures != before)
		print_results(&c);
	else
		printf("ok %s (%zu results)\n", dir, c.n);
	audit_ctx_clear(&c);
	for (i = 0; i < nx; i++)
		free(xml[i]);
}

/* No result of check in fixture dir says text (a message that does not hold there). */
static void never_says(const char *dir, const char *check, const char *text)
{
	char root[4200];
	struct audit_ctx c;
	size_t i, seen = 0;

	snprintf(root, sizeof(root), "%s/root", dir);
	CHECK_OK(audit_run_checks(root, NULL, &c));
	for (i = 0; i < c.n; i++) {
		if (strcmp(c.res[i].check, check) != 0)
			continue;
		seen++;
		if (strstr(c.res[i].why, text)) {
			fprintf(stderr, "%s: %s says '%s': %s\n", dir, check, text, c.res[i].why);
			failures++;
		}
	}
	CHECK(seen > 0);
	audit_ctx_clear(&c);
}

/* --image files: a qcow2 whose snapshot keeps VM state fails, one without passes. */
static void run_images(const char *dir)
{
	char a[4200], b[4200], root[4200];
	const char *images[] = {a, b, NULL};
	struct audit_ctx c;
	size_t i, fail = 0, pass = 0;

	snprintf(root, sizeof(root), "%s/ram-careful/root", dir);
	snprintf(a, sizeof(a), "%s/ram-leaky/root/var/lib/libvirt/images/state.qcow2", dir);
	snprintf(b, sizeof(b), "%s/ram-careful/root/var/lib/libvirt/images/snap.qcow2", dir);
	CHECK_OK(audit_run_checks_images(root, NULL, images, &c));
	for (i = 0; i < c.n; i++) {
		if (strcmp(c.res[i].check, "image-snapshots") != 0)
			continue;
		if (c.res[i].status == VMC_AUDIT_FAIL && strcmp(c.res[i].subject, a) == 0 &&
		    strstr(c.res[i].why, "'s1' (454.3 KiB)"))
			fail++;
		if (c.res[i].status == VMC_AUDIT_PASS && strcmp(c.res[i].subject, b) == 0)
			pass++;
	}
	CHECK_EQ(fail, 1);
	CHECK_EQ(pass, 1);
	audit_ctx_clear(&c);
	printf("ok --image\n");
}

/* The public entry: text and JSON reports, worst status, the JSON parses. */
static void run_public(const char *dir, int want_worst)
{
	char root[4200];
	struct vmc_audit_params p = {.root = root};
	struct json_object *j, *v;
	char *text = NULL;
	int worst = -1;

	snprintf(root, sizeof(root), "%s/root", dir);
	CHECK_OK(vmc_audit_run(&p, &text, &worst));
	CHECK_EQ(worst, want_worst);
	CHECK(strstr(text, "Summary: "));
	free(text);
	p.json = true;
	CHECK_OK(vmc_audit_run(&p, &text, &worst));
	j = json_tokener_parse(text);
	CHECK(j != NULL);
	CHECK(json_object_object_get_ex(j, "results", &v));
	CHECK(json_object_array_length(v) > 10);
	CHECK(json_object_object_get_ex(j, "worst", &v));
	CHECK(strcmp(json_object_get_string(v), audit_status_name(want_worst)) == 0);
	json_object_put(j);
	free(text);
}

static void test_parsers(void)
{
	static const char cmdline[] = "BOOT_IMAGE=/vmlinuz root=UUID=1 quiet "
				      "dyndbg=\"file a.c +p\" init-on-free=1\n";
	static const char conf[] =
	    "# c\n[Other]\nStorage=journal\n[Coredump]\n Storage = none # x\n"
	    "export ON_SHUTDOWN='shutdown'\nkey=\"unterminated\n";
	static const char qemu[] = "qemu-system-x86_64\0-nodefaults\0-machine\0"
				   "pc,dump-guest-core=off\0-blockdev\0"
				   "driver=file,filename=/a,,b.img,node-name=n1\0-blockdev\0"
				   "driver=luks,file=n1,key-secret=s0\0--device\0virtio-balloon\0";
	static const char swaps[] = "Filename Type\n/a\\040b file 1 0 -2\n/dev/x partition";
	struct audit_swap sw[2];
	struct audit_qemu q;
	char v[64];
	uint64_t s, h;

	CHECK(audit_cmdline_get((const uint8_t *)cmdline, sizeof(cmdline) - 1, "dyndbg", v,
				sizeof(v)));
	CHECK(strcmp(v, "file a.c +p") == 0);
	CHECK(audit_cmdline_get((const uint8_t *)cmdline, sizeof(cmdline) - 1, "init_on_free", v,
				sizeof(v)));
	CHECK(strcmp(v, "1") == 0);
	CHECK(audit_cmdline_get((const uint8_t *)cmdline, sizeof(cmdline) - 1, "quiet", v,
				sizeof(v)));
	CHECK(!audit_cmdline_get((const uint8_t *)cmdline, sizeof(cmdline) - 1, "resume", v,
				 sizeof(v)));
	/* Cut in the middle of a quoted value: stays inside the buffer. */
	CHECK(audit_cmdline_get((const uint8_t *)cmdline, 45, "dyndbg", v, sizeof(v)));

	CHECK_EQ(audit_conf_get((const uint8_t *)conf, sizeof(conf) - 1, "Coredump", "Storage", v,
				sizeof(v)),
		 1);
	CHECK(strcmp(v, "none") == 0);
	CHECK_EQ(audit_conf_get((const uint8_t *)conf, sizeof(conf) - 1, NULL, "ON_SHUTDOWN", v,
				sizeof(v)),
		 1);
	CHECK(strcmp(v, "shutdown") == 0);
	CHECK_EQ(audit_conf_get((const uint8_t *)conf, sizeof(conf) - 1, NULL, "key", v, sizeof(v)),
		 1);
	CHECK(strcmp(v, "unterminated") == 0);

	CHECK_EQ(audit_parse_swaps((const uint8_t *)swaps, sizeof(swaps) - 1, sw, 2), 2);
	CHECK(strcmp(sw[0].path, "/a b") == 0 && sw[0].is_file);
	CHECK(strcmp(sw[1].path, "/dev/x") == 0);
	CHECK_EQ(audit_parse_limit((const uint8_t *)"Max core file size 0 unlimited bytes\n", 37,
				   "Max core file size", &s, &h),
		 0);
	CHECK(s == 0 && h == UINT64_MAX);
	CHECK(audit_parse_limit((const uint8_t *)"Max core file size x", 20, "Max core file size",
				&s, &h) < 0);

	audit_sysfs_selected("always [madvise] never", v, sizeof(v));
	CHECK(strcmp(v, "madvise") == 0);
	audit_sysfs_selected("[unterminated", v, sizeof(v));
	CHECK(strcmp(v, "[unterminated") == 0);

	audit_parse_qemu((const uint8_t *)qemu, sizeof(qemu) - 1, &q);
	CHECK(q.is_qemu && q.dump_guest_core_off && !q.mem_lock && q.balloon);
	CHECK_EQ(q.ndisks, 1);
	CHECK(strcmp(q.disks[0].file, "/a,b.img") == 0 && q.disks[0].encrypted);
	audit_parse_qemu((const uint8_t *)"bash\0-machine\0dump-guest-core=off", 34, &q);
	CHECK(!q.is_qemu);
	/* Not NUL-terminated at the end. */
	audit_parse_qemu((const uint8_t *)"kvm\0-drive\0file=/x", 18, &q);
	CHECK(q.is_qemu && q.ndisks == 1 && !q.disks[0].encrypted);

	CHECK(audit_parse_domain((const uint8_t *)"<notdomain/>", 12, &(struct audit_domain){0}) <
	      0);
	CHECK(audit_parse_domain((const uint8_t *)"<domain><name>x", 15,
				 &(struct audit_domain){0}) < 0);
	CHECK_EQ(audit_parse_snapshot(
		     (const uint8_t *)"<domainsnapshot><state>shutoff</state></domainsnapshot>", 55,
		     v, sizeof(v)),
		 0);
	printf("ok parsers\n");
}

int main(int argc, char **argv)
{
	char dir[4000];
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: test-audit FIXTURES-DIR\n");
		return 2;
	}
	test_parsers();
	for (i = 0; i < 6; i++) {
		static const char *const trees[] = {"pass", "warn",	   "warn2",
						    "fail", "ram-careful", "ram-leaky"};

		if (snprintf(dir, sizeof(dir), "%s/%s", argv[1], trees[i]) >= (int)sizeof(dir))
			return 2;
		run_fixture(dir);
	}
	/* init_on_free is on there: the balloon must not claim freed pages go unwiped. */
	snprintf(dir, sizeof(dir), "%s/ram-careful", argv[1]);
	never_says(dir, "domain-balloon", "not wiped");
	never_says(dir, "core-pattern", "kernel.core_pattern=|/bin/false");
	run_images(argv[1]);
	snprintf(dir, sizeof(dir), "%s/fail", argv[1]);
	run_public(dir, VMC_AUDIT_FAIL);
	snprintf(dir, sizeof(dir), "%s/warn", argv[1]);
	run_public(dir, VMC_AUDIT_WARN);
	return failures ? 1 : 0;
}
