/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt qemu-args / libvirt-xml IMAGE: how QEMU or libvirt opens the image. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "log.h"
#include "passphrase.h"
#include "route.h"
#include "serve.h"

#define UUID_LEN	36
#define KEY_PLACEHOLDER "PASSPHRASE_FILE"
#define UNIT_PREFIX	"vmcrypt-serve@"

/* What the verbs need to know about the image, from its header only. */
struct target {
	char *image;   /* absolute */
	char *keyfile; /* absolute --key-file, or NULL: a placeholder is printed */
	int version;
	bool native; /* QEMU's luks driver opens it: LUKS1, header in the image */
	bool qcow2;  /* QEMU's encrypted qcow2: its qcow2 driver decrypts it (encrypt.*) */
	char sock[PATH_MAX];
	struct nbd_endpoint ep; /* the serve route otherwise */
	char unit[PATH_MAX];	/* --systemd: the units' instance, systemd-escape --path */
};

static void target_clear(struct target *t)
{
	free(t->image);
	free(t->keyfile);
}

static int target_init(const struct cli_opts *o, const char *path, struct target *t)
{
	struct vmc_image *img = NULL;
	int r;

	t->image = realpath(path, NULL);
	if (!t->image)
		return fail(-errno, "%s: %s", path, strerror(errno));
	if (o->key_file && strcmp(o->key_file, "-") == 0)
		return usage_error("--key-file must name a file QEMU can read, not -");
	if (o->keyfile_offset || o->keyfile_size)
		return usage_error("QEMU reads a whole key file: --keyfile-offset and "
				   "--keyfile-size cannot be given to it");
	if (o->key_file && !(t->keyfile = realpath(o->key_file, NULL)))
		return fail(-errno, "%s: %s", o->key_file, strerror(errno));
	if (o->systemd && (o->header || o->read_only))
		return usage_error("--systemd: the units serve IMAGE read-write, with its header "
				   "inside; --header and --read-only cannot be given");
	/* The header only: a busy image still gets its arguments. */
	r = image_open(o, t->image, true, &img);
	if (r < 0)
		return r;
	t->version = vmc_image_luks_version(img);
	t->qcow2 = vmc_image_is_qcow2(img);
	vmc_image_free(img);
	if (t->qcow2) {
		if (o->systemd)
			return usage_error("--systemd: QEMU opens an encrypted qcow2 natively; "
					   "vmcrypt serve does not serve it");
		t->native = true;
		return 0;
	}
	/*
	 * QEMU 7.2 reads LUKS1 only, with the header in the image; and a LUKS1 image
	 * inside a container (qcow2, ...) is for vmcrypt serve: QEMU's luks driver
	 * over a qcow2 node is not what libvirt can say.
	 */
	t->native = t->version == 1 && !o->header && !o->systemd &&
		    !(o->format ? strcmp(o->format, "raw") != 0
				: vmc_probe_container(t->image, NULL, NULL) == 1);
	t->ep = (struct nbd_endpoint){.read_only = o->read_only};
	if (t->native)
		return 0;
	if (o->systemd) {
		r = systemd_escape_path(t->image, t->unit, sizeof(t->unit));
		if (r == 0)
			r = serve_socket_systemd(t->image, false, t->sock, sizeof(t->sock));
		if (r == -ENAMETOOLONG)
			return fail(r,
				    "the systemd units' socket path for %s is too long for a "
				    "socket; run vmcrypt serve --socket PATH instead",
				    t->image);
		if (r < 0)
			return fail(r, "%s: %s", t->image, strerror(-r));
	} else {
		r = serve_socket_default(t->image, false, t->sock, sizeof(t->sock));
	}
	if (r == -ENAMETOOLONG)
		return fail(r,
			    "the default socket path for %s is too long for a socket; run "
			    "vmcrypt serve --socket PATH",
			    t->image);
	t->ep.socket = t->sock;
	return r;
}

/* Shell words: single-quoted unless plainly safe. */
static void fput_shell(FILE *f, const char *s)
{
	if (*s &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._,:=+-") ==
		strlen(s)) {
		fputs(s, f);
		return;
	}
	fputc('\'', f);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
}

static const char *keyfile_name(const struct target *t)
{
	return t->keyfile ? t->keyfile : KEY_PLACEHOLDER;
}

static void keyfile_note(FILE *f, const struct target *t)
{
	if (t->keyfile)
		return;
	fputs("# Replace " KEY_PLACEHOLDER " by a file (mode 0600) holding the passphrase as is, "
	      "without a\n# newline, e.g. (umask 077; read -rs p; printf %s \"$p\" > FILE), or "
	      "run with --key-file FILE.\n",
	      f);
}

/* Writes the shell command that makes the service's drop-in passphrase.conf say setting. */
static void print_dropin(FILE *f, const struct target *t, const char *setting)
{
	char dir[PATH_MAX * 2];

	snprintf(dir, sizeof(dir), UNIT_PREFIX "%s.service.d", t->unit);
	fputs("mkdir -p ~/.config/systemd/user/", f);
	fput_shell(f, dir);
	fputs(" && printf '%s\\n' '[Service]' ", f);
	fput_shell(f, setting);
	fputs(" >~/.config/systemd/user/", f);
	fput_shell(f, dir);
	fputs("/passphrase.conf\n", f);
}

/*
 * The systemd route: the passphrase as a credential of the service (or asked),
 * then the socket unit enabled; the NBD configuration follows, at its socket.
 */
static void print_systemd_route(FILE *f, const struct target *t)
{
	char unit[PATH_MAX * 2], cred[PATH_MAX * 2], setting[PATH_MAX * 2 + 64];
	const char *k = keyfile_name(t);
	size_t n;

	snprintf(unit, sizeof(unit), UNIT_PREFIX "%s", t->unit);
	snprintf(cred, sizeof(cred), "%s.cred", t->unit);
	keyfile_note(f, t);
	fputs("# systemd user units: the socket listens from now on; the first connection "
	      "starts\n# vmcrypt serve --systemd, which unlocks the image and serves until "
	      "stopped.\n"
	      "# 1. The passphrase: asked through systemd-ask-password when the service starts "
	      "(a\n#    password agent of yours must answer), unless the service has the "
	      "credential\n#    " PASS_CREDENTIAL ". For a VM that starts unattended, "
	      "either the file as is:\n",
	      f);
	/* A unit file expands specifiers: a '%' of the path is written "%%". */
	n = (size_t)snprintf(setting, sizeof(setting), "LoadCredential=" PASS_CREDENTIAL ":");
	for (; *k && n + 3 < sizeof(setting); k++) {
		if (*k == '%')
			setting[n++] = '%';
		setting[n++] = *k;
	}
	setting[n] = '\0';
	print_dropin(f, t, setting);
	fputs("#    or encrypted at rest by systemd-creds (systemd 256 or later for --user):\n"
	      "mkdir -p ~/.config/vmcrypt && systemd-creds encrypt --user --name=" PASS_CREDENTIAL
	      " ",
	      f);
	fput_shell(f, keyfile_name(t));
	fputs(" ~/.config/vmcrypt/", f);
	fput_shell(f, cred);
	fputc('\n', f);
	/* %E/vmcrypt/%i.cred: the file above ($XDG_CONFIG_HOME, the escaped instance). */
	print_dropin(f, t, "LoadCredentialEncrypted=" PASS_CREDENTIAL ":%E/vmcrypt/%i.cred");
	fputs("# 2. Once: the socket (its instance is systemd-escape --path IMAGE), listening "
	      "now and\n#    after each log-in:\n"
	      "systemctl --user daemon-reload\nsystemctl --user enable --now ",
	      f);
	fput_shell(f, unit);
	fputs(".socket\n#    Stop serving (the volume key leaves memory): systemctl --user stop ",
	      f);
	fput_shell(f, unit);
	fputs(".service\n# 3. Then:\n", f);
}

/* The serve route: vmcrypt serve in another terminal, then the NBD arguments. */
static void print_serve_route(FILE *f, const struct cli_opts *o, const struct target *t)
{
	fprintf(f, "# %s: QEMU cannot decrypt it itself; vmcrypt serves its plaintext over NBD.\n",
		t->version == 2 ? "LUKS2"
		: o->header	? "LUKS1 with a detached header"
		: o->systemd	? "LUKS1 (--systemd)"
				: "LUKS1 inside a container");
	if (o->systemd) {
		print_systemd_route(f, t);
		return;
	}
	fputs("# 1. Run, and keep running (asks the passphrase):\nvmcrypt serve", f);
	if (o->read_only)
		fputs(" --read-only", f);
	if (o->header) {
		fputs(" --header ", f);
		fput_shell(f, o->header);
	}
	if (t->keyfile) {
		fputs(" --key-file ", f);
		fput_shell(f, t->keyfile);
	}
	/* serve's default socket, t->sock, whose private directory serve makes. */
	fputc(' ', f);
	fput_shell(f, t->image);
	fputs("\n# 2. Then:\n", f);
}

/*
 * Looks at the image; when QEMU cannot open it natively, prints the serve route
 * with print_nbd's configuration and returns 0. Returns 1 for a native (LUKS1) image.
 */
static int target_begin(const struct cli_opts *o, const char *path, struct target *t,
			void (*print_nbd)(FILE *f, const struct nbd_endpoint *ep))
{
	int r = target_init(o, path, t);

	if (r < 0 || t->native)
		return r < 0 ? r : 1;
	print_serve_route(stdout, o, t);
	print_nbd(stdout, &t->ep);
	return 0;
}

int cmd_qemu_args(const struct cli_opts *o, char **args, int nargs)
{
	struct target t = {0};
	const char *ro = o->read_only ? ",read-only=on" : "";
	int r;

	(void)nargs;
	r = target_begin(o, args[0], &t, nbd_print_qemu);
	if (r <= 0)
		goto out;
	r = 0;
	fputs(t.qcow2 ? "# QEMU's encrypted qcow2: its qcow2 driver decrypts it.\n"
		      : "# LUKS1: QEMU's own luks driver decrypts it.\n",
	      stdout);
	keyfile_note(stdout, &t);
	fputs("# QEMU, either:\n-object secret,id=vmcsec0,format=raw,file=", stdout);
	fput_qemu(stdout, keyfile_name(&t));
	fputs(t.qcow2
		  ? " -blockdev driver=qcow2,node-name=vmcrypt0,encrypt.format=luks,"
		    "encrypt.key-secret=vmcsec0,file.driver=file,file.filename="
		  : " -blockdev driver=luks,node-name=vmcrypt0,key-secret=vmcsec0,file.driver=file,"
		    "file.filename=",
	      stdout);
	fput_qemu(stdout, t.image);
	printf("%s -device virtio-blk-pci,drive=vmcrypt0\n# or:\n"
	       "-object secret,id=vmcsec0,format=raw,file=",
	       ro);
	fput_qemu(stdout, keyfile_name(&t));
	fputs(t.qcow2 ? " -drive driver=qcow2,encrypt.format=luks,encrypt.key-secret=vmcsec0,"
			"file.filename="
		      : " -drive driver=luks,key-secret=vmcsec0,file.filename=",
	      stdout);
	fput_qemu(stdout, t.image);
	printf(",if=virtio%s\n", o->read_only ? ",readonly=on" : "");
out:
	target_clear(&t);
	return r;
}

/* A fresh UUID for the libvirt secret, from the kernel. */
static int uuid_new(char *buf)
{
	FILE *f = fopen("/proc/sys/kernel/random/uuid", "re");
	bool ok;

	if (!f)
		return fail(-errno, "/proc/sys/kernel/random/uuid: %s", strerror(errno));
	ok = fread(buf, 1, UUID_LEN, f) == UUID_LEN;
	fclose(f);
	buf[UUID_LEN] = '\0';
	return ok ? 0 : fail(-EIO, "cannot read a UUID from /proc/sys/kernel/random/uuid");
}

int cmd_libvirt_xml(const struct cli_opts *o, char **args, int nargs)
{
	struct target t = {0};
	char uuid[UUID_LEN + 1];
	int r;

	(void)nargs;
	r = target_begin(o, args[0], &t, nbd_print_libvirt);
	if (r <= 0)
		goto out;
	r = uuid_new(uuid);
	if (r < 0)
		goto out;
	fputs(t.qcow2 ? "# QEMU's encrypted qcow2: libvirt's QEMU decrypts it natively, with the "
			"passphrase as a secret.\n"
		      : "# LUKS1: libvirt's QEMU decrypts it natively, with the passphrase as a "
			"secret.\n",
	      stdout);
	keyfile_note(stdout, &t);
	printf("# 1. Define the secret (once):\nvirsh secret-define /dev/stdin <<'EOF'\n"
	       "<secret ephemeral='no' private='yes'>\n  <uuid>%s</uuid>\n"
	       "  <description>vmcrypt: passphrase of ",
	       uuid);
	fput_xml(stdout, t.image);
	fputs("</description>\n  <usage type='volume'>\n    <volume>", stdout);
	fput_xml(stdout, t.image);
	printf("</volume>\n  </usage>\n</secret>\nEOF\nvirsh secret-set-value %s --file ", uuid);
	fput_shell(stdout, keyfile_name(&t));
	printf(" --plain\n# 2. Add to the domain's <devices> (virsh edit DOMAIN):\n"
	       "<disk type='file' device='disk'>\n  <driver name='qemu' type='%s'/>\n"
	       "  <source file='",
	       t.qcow2 ? "qcow2" : "raw");
	fput_xml(stdout, t.image);
	printf("'>\n    <encryption format='luks'>\n"
	       "      <secret type='passphrase' uuid='%s'/>\n    </encryption>\n  </source>\n"
	       "  <target dev='vdb' bus='virtio'/>\n%s</disk>\n",
	       uuid, o->read_only ? "  <readonly/>\n" : "");
out:
	target_clear(&t);
	return r;
}
