/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Passphrases, key files, volume key files and confirmations, all into secret memory. */
#ifndef VMCRYPT_CLI_PASSPHRASE_H
#define VMCRYPT_CLI_PASSPHRASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PASS_TTY_MAX   512		  /* characters typed at a prompt (as cryptsetup) */
#define KEYFILE_MAX    (8u * 1024 * 1024) /* key file bytes (as cryptsetup) */
#define VOLUME_KEY_MAX 512		  /* volume key file bytes */

struct key_source {
	const char *image;	 /* named in the prompt */
	const char *key_file;	 /* NULL: terminal, else one stdin line; "-": stdin to EOF */
	uint64_t keyfile_offset; /* bytes skipped first */
	uint64_t keyfile_size;	 /* exactly this many bytes; 0: up to EOF */
	bool verify;		 /* a new passphrase: ask twice on a terminal */
	bool stdin_busy;	 /* stdin carries data: never read the passphrase from it */
	bool public_key;	 /* the passphrase is VMC_PUBLIC_PASSPHRASE: read nothing */
	bool systemd;		 /* no key_file: the credential, else systemd-ask-password */
};

/* The systemd credential that holds a passphrase: $CREDENTIALS_DIRECTORY/NAME. */
#define PASS_CREDENTIAL "vmcrypt.passphrase"

/*
 * Reads a passphrase or key file into a new vmc_secret_alloc() buffer (free with
 * vmc_secret_free; *ret_len may be 0 for an empty typed passphrase). Prints one
 * error line on failure; -ECANCELED on Ctrl-C at the prompt. With ks->systemd and
 * no key file: the credential PASS_CREDENTIAL (a key file, as is) when the service
 * has one, else one line from systemd-ask-password ($VMCRYPT_ASK_PASSWORD
 * overrides the program), read from a pipe; never a terminal or stdin.
 */
int passphrase_read(const struct key_source *ks, uint8_t **ret_pass, size_t *ret_len);

/* Reads a whole file of at most max bytes (not empty) into secret memory. */
int secret_file_read(const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len);

/* True when stdin is a terminal: prompts and confirmations are possible. */
bool interactive(void);

/*
 * Shows warning and asks "Are you sure? (Type 'yes' in capital letters): " on the
 * terminal. Returns 0 for YES, -ECANCELED (after one line saying so) otherwise.
 */
int confirm(const char *warning);

#endif
