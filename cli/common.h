/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The verbs, and the steps several verbs share. */
#ifndef VMCRYPT_CLI_COMMON_H
#define VMCRYPT_CLI_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "options.h"
#include "passphrase.h"
#include "vmcrypt.h"

/*
 * The verbs (rows of the table in verbs.c): args holds nargs positional
 * arguments, within the row's bounds. Each returns 0 or a negative errno after
 * printing one line about the failure (or leaving it to the library's log).
 */
int cmd_create(const struct cli_opts *o, char **args, int nargs);
int cmd_encrypt(const struct cli_opts *o, char **args, int nargs);
int cmd_decrypt(const struct cli_opts *o, char **args, int nargs);
int cmd_dump(const struct cli_opts *o, char **args, int nargs);
int cmd_test_key(const struct cli_opts *o, char **args, int nargs);
int cmd_audit(const struct cli_opts *o, char **args, int nargs);
int cmd_scan(const struct cli_opts *o, char **args, int nargs);
int cmd_add_key(const struct cli_opts *o, char **args, int nargs);
int cmd_remove_key(const struct cli_opts *o, char **args, int nargs);
int cmd_change_key(const struct cli_opts *o, char **args, int nargs);
int cmd_kill_slot(const struct cli_opts *o, char **args, int nargs);
int cmd_erase(const struct cli_opts *o, char **args, int nargs);
int cmd_header_backup(const struct cli_opts *o, char **args, int nargs);
int cmd_header_restore(const struct cli_opts *o, char **args, int nargs);
int cmd_repair(const struct cli_opts *o, char **args, int nargs);
int cmd_convert(const struct cli_opts *o, char **args, int nargs);
/* convert SRC DST: between QEMU's encrypted qcow2 and a raw LUKS image (cmd_convert.c). */
int cmd_convert_copy(const struct cli_opts *o, char **args, int nargs);
int cmd_config(const struct cli_opts *o, char **args, int nargs);
int cmd_resize(const struct cli_opts *o, char **args, int nargs);
int cmd_is_luks(const struct cli_opts *o, char **args, int nargs);
int cmd_uuid(const struct cli_opts *o, char **args, int nargs);
int cmd_token_import(const struct cli_opts *o, char **args, int nargs);
int cmd_token_export(const struct cli_opts *o, char **args, int nargs);
int cmd_token_remove(const struct cli_opts *o, char **args, int nargs);
int cmd_rekey(const struct cli_opts *o, char **args, int nargs);
int cmd_encrypt_in_place(const struct cli_opts *o, char **args, int nargs);
int cmd_decrypt_in_place(const struct cli_opts *o, char **args, int nargs);

/* Fills ks from the key file options, for image (named in the prompt). */
int key_source_init(struct key_source *ks, const struct cli_opts *o, const char *image);
/* The existing passphrase of image, from the key file options (vmc_secret_free it). */
int passphrase_get(const struct cli_opts *o, const char *image, uint8_t **ret_pass,
		   size_t *ret_len);
/*
 * A new passphrase (named who in prompts): from file with --new-keyfile-offset and
 * --new-keyfile-size, else asked twice on the terminal (or a stdin line).
 */
int new_passphrase_read(const struct cli_opts *o, const char *who, const char *file,
			uint8_t **ret_pass, size_t *ret_len);
/* True for the path "-" (stdin). */
bool is_stdin(const char *path);
/* The KDF options (--pbkdf, --hash, --iter-time, ...) of a new keyslot. */
void kdf_from_opts(const struct cli_opts *o, struct vmc_kdf_params *k);

/* At most one of the data (SRC -), --key-file and --volume-key-file may be stdin. */
int stdin_check(const struct cli_opts *o, bool data_on_stdin);

/*
 * Checks that an output file may be written: *ret_exists tells whether it exists.
 * An existing path needs --force, then a confirmation on a terminal or --batch-mode.
 */
int output_check(const struct cli_opts *o, const char *path, bool *ret_exists);

/* Refuses SRC and DST naming the same file (when both exist). */
int same_file_check(const char *src, const char *dst);

/*
 * The file and partition path names: IMAGE@N is partition N of IMAGE (unless a
 * file has that name), as --partition N. *ret_path is malloc()ed.
 */
int image_path_parse(const struct cli_opts *o, const char *path, char **ret_path,
		     int *ret_partition);
/* Opens path (with --header), or partition N of it (--partition N, or path IMAGE@N). */
int image_open(const struct cli_opts *o, const char *path, bool read_only,
	       struct vmc_image **ret_img);
/* Reads the passphrase for path and checks it against img's keyslots only (test-key). */
int image_test_passphrase(const struct cli_opts *o, struct vmc_image *img, const char *path,
			  int *ret_keyslot);
/* Reads the passphrase for path (key file options) and unlocks img (--key-slot). */
int image_unlock(const struct cli_opts *o, struct vmc_image *img, const char *path,
		 int *ret_keyslot);
/* Both of the above, read-only. */
int open_unlocked(const struct cli_opts *o, const char *path, struct vmc_image **ret_img,
		  int *ret_keyslot);

/*
 * Creates an encrypted image at path with data_size bytes of plaintext from the
 * format options, the volume key file and a new passphrase (asked twice on a
 * terminal); overwrite when the caller confirmed replacing an existing file.
 */
int create_image(const struct cli_opts *o, const char *path, uint64_t data_size, bool overwrite,
		 bool stdin_busy, struct vmc_image **ret_img);

/* Rounds size up to the sector size (--sector-size, else 512); warns when it grows. */
int data_size_round(const struct cli_opts *o, uint64_t size, uint64_t *ret_size);

/* write(2) of the whole buffer; for secrets, which must not pass through stdio. */
int write_all(int fd, const void *buf, size_t len);

#endif
