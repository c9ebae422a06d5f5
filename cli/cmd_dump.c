/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt dump IMAGE: the LUKS header as text or JSON, optionally with the volume key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "log.h"

static const char hex_digits[] = "0123456789abcdef";

/*
 * "Volume key: <hex>" goes straight from a secret buffer to write(2): stdio would
 * leave a copy of the key in its buffer.
 */
static int print_volume_key(struct vmc_image *img)
{
	static const char label[] = "Volume key: ";
	uint8_t *key = NULL;
	char *line = NULL;
	size_t len = 0, n, i;
	int r;

	r = vmc_image_volume_key(img, &key, &len);
	if (r < 0)
		return r;
	printf("Volume key size: %zu bits\n", len * 8);
	if (fflush(stdout) != 0) {
		r = fail(-errno, "standard output: %s", strerror(errno));
		goto out;
	}
	n = sizeof(label) - 1;
	line = vmc_secret_alloc(n + 2 * len + 1);
	if (!line) {
		r = fail(-ENOMEM, "out of secret memory");
		goto out;
	}
	memcpy(line, label, n);
	for (i = 0; i < len; i++) {
		line[n++] = hex_digits[key[i] >> 4];
		line[n++] = hex_digits[key[i] & 15];
	}
	line[n++] = '\n';
	r = write_all(STDOUT_FILENO, line, n);
	if (r < 0)
		r = fail(r, "standard output: %s", strerror(-r));
out:
	vmc_secret_free(line);
	vmc_secret_free(key);
	return r;
}

/* The warning, the confirmation and the passphrase, before anything is printed. */
static int volume_key_unlock(const struct cli_opts *o, struct vmc_image *img, const char *path)
{
	int slot = -1, r;

	warn("--dump-volume-key prints the volume key: anyone who sees it can decrypt %s "
	     "without a passphrase",
	     path);
	if (!o->batch && interactive()) {
		r = confirm("Keep the output secret; store it only encrypted.");
		if (r < 0)
			return r;
	}
	r = image_unlock(o, img, path, &slot);
	if (r == 0)
		verbose("Key slot %d unlocked.", slot);
	return r;
}

static int dump_check(const struct cli_opts *o)
{
	if (o->dump_volume_key && o->json)
		return usage_error("--dump-volume-key cannot be combined with --json");
	if (!o->dump_volume_key && (o->key_file || o->key_slot >= 0))
		return usage_error("--key-file and --key-slot need --dump-volume-key");
	return stdin_check(o, false);
}

int cmd_dump(const struct cli_opts *o, char **args, int nargs)
{
	const char *path = args[0];
	struct vmc_image *img = NULL;
	char *text = NULL;
	size_t len;
	int r;

	(void)nargs;
	r = dump_check(o);
	if (r == 0)
		r = image_open(o, path, true, &img);
	if (r == 0 && o->dump_volume_key)
		r = volume_key_unlock(o, img, path);
	if (r == 0)
		r = vmc_image_dump(img, o->json, &text);
	if (r < 0)
		goto out;
	len = strlen(text);
	fputs(text, stdout);
	if (len == 0 || text[len - 1] != '\n')
		putchar('\n');
	if (o->dump_volume_key)
		r = print_volume_key(img);
out:
	free(text);
	vmc_image_free(img);
	return r;
}
