/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmcrypt token import/export/remove: LUKS2 tokens as JSON objects. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "log.h"

#define TOKEN_JSON_MAX (4u << 20) /* the largest LUKS2 JSON area */

/* Reads all of fd (at most TOKEN_JSON_MAX bytes) as a NUL-terminated string. */
static int read_text(int fd, const char *name, char **ret_text)
{
	size_t len = 0, cap = 4096;
	char *text = malloc(cap), *n;
	ssize_t got;
	int r = 0;

	if (!text)
		return fail(-ENOMEM, "out of memory");
	for (;;) {
		if (len > TOKEN_JSON_MAX) {
			r = fail(-EFBIG, "%s: larger than %u bytes", name, TOKEN_JSON_MAX);
			break;
		}
		if (len + 1 == cap) {
			n = realloc(text, cap * 2);
			if (!n) {
				r = fail(-ENOMEM, "out of memory");
				break;
			}
			text = n;
			cap *= 2;
		}
		got = read(fd, text + len, cap - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = fail(-errno, "%s: %s", name, strerror(errno));
			break;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (r == 0 && memchr(text, 0, len))
		r = fail(-EINVAL, "%s: not JSON text (holds a NUL byte)", name);
	if (r < 0) {
		free(text);
		return r;
	}
	text[len] = 0;
	*ret_text = text;
	return 0;
}

/* The token's JSON from --json-file FILE, else standard input. */
static int read_token_json(const struct cli_opts *o, char **ret_text)
{
	const char *file = o->json_file;
	int fd, r;

	if (!file || strcmp(file, "-") == 0)
		return read_text(STDIN_FILENO, "standard input", ret_text);
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(-errno, "%s: %s", file, strerror(errno));
	r = read_text(fd, file, ret_text);
	close(fd);
	return r;
}

static int token_id_check(const struct cli_opts *o)
{
	if (o->token_id < 0)
		return usage_error("--token-id is required");
	return 0;
}

int cmd_token_import(const struct cli_opts *o, char **args, int nargs)
{
	struct vmc_image *img = NULL;
	char *json = NULL;
	int id = -1, r;

	(void)nargs;
	/* The JSON first: a pipe must not wait on an image that holds the lock. */
	r = read_token_json(o, &json);
	if (r == 0)
		r = image_open(o, args[0], false, &img);
	if (r == 0)
		r = vmc_token_import(img, o->token_id, json, &id);
	/* The library said "token N is in use": a bad argument, not an I/O error. */
	if (r == -EEXIST)
		r = -EINVAL;
	if (r == 0)
		verbose("Token %d created.", id);
	free(json);
	vmc_image_free(img);
	return r;
}

int cmd_token_export(const struct cli_opts *o, char **args, int nargs)
{
	struct vmc_image *img = NULL;
	char *json = NULL;
	int r;

	(void)nargs;
	r = token_id_check(o);
	if (r == 0)
		r = image_open(o, args[0], true, &img);
	if (r == 0)
		r = vmc_token_export(img, o->token_id, &json);
	/* As cryptsetup token export: the JSON text exactly, no newline added. */
	if (r == 0)
		fputs(json, stdout);
	free(json);
	vmc_image_free(img);
	return r;
}

int cmd_token_remove(const struct cli_opts *o, char **args, int nargs)
{
	struct vmc_image *img = NULL;
	int r;

	(void)nargs;
	r = token_id_check(o);
	if (r == 0)
		r = image_open(o, args[0], false, &img);
	if (r == 0)
		r = vmc_token_remove(img, o->token_id);
	if (r == 0)
		verbose("Token %d removed.", o->token_id);
	vmc_image_free(img);
	return r;
}
