/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvmcrypt: LUKS1/LUKS2 encrypted VM disk images without root or device-mapper. */
#ifndef VMCRYPT_H
#define VMCRYPT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMC_API __attribute__((visibility("default")))

/*
 * Errors. Every function returns 0 (or a count) on success and a negative
 * errno on failure; the failure is also described once through the log
 * callback at VMC_LOG_ERROR. These errno values have a fixed meaning:
 */
#define VMC_EPASS    (-EPERM)	    /* no keyslot opens with this passphrase */
#define VMC_ENOTLUKS (-EMEDIUMTYPE) /* not a LUKS image (no valid magic) */
#define VMC_ECORRUPT (-EBADMSG)	    /* LUKS header present but damaged beyond use */
#define VMC_ENOTSUP  (-ENOTSUP)	    /* cipher, feature or requirement not supported */
#define VMC_EBUSY    (-EBUSY)	    /* image locked by another writer */
/* Others: -EINVAL (bad arguments), -ENOMEM, -EIO/-ENOSPC/-EACCES/-EROFS/-ENOENT (I/O). */

enum vmc_log_level {
	VMC_LOG_DEBUG,
	VMC_LOG_INFO,
	VMC_LOG_WARN,
	VMC_LOG_ERROR,
};

/* Installs the log sink (process-wide). Without one, the library is silent. */
typedef void vmc_log_fn(enum vmc_log_level level, const char *msg, void *userdata);
VMC_API void vmc_set_log(vmc_log_fn *fn, void *userdata);
/* Enables VMC_LOG_DEBUG messages. */
VMC_API void vmc_set_debug(bool on);

/*
 * Progress of long operations: called with bytes done and the total, at most a
 * few times per second and once at the end. Returning false cancels (-ECANCELED).
 */
typedef bool vmc_progress_fn(uint64_t done, uint64_t total, void *userdata);

/*
 * Secret buffers for callers (passphrases read from a terminal or key file):
 * zeroed, mlock()ed, excluded from core dumps, wiped on free.
 */
VMC_API void *vmc_secret_alloc(size_t len);
VMC_API void vmc_secret_free(void *p);
/* Makes the process non-dumpable and disables core files. Call before reading secrets. */
VMC_API int vmc_harden_process(void);

/* An opened LUKS image: header (possibly detached) and data. */
struct vmc_image;

struct vmc_open_params {
	const char *header; /* detached header file, or NULL when the header is in the image */
	bool read_only;	    /* open O_RDONLY; writes fail with -EROFS */
	int partition; /* 1-based partition of a whole-disk image (GPT/MBR); 0: the whole file */
	bool raw;      /* take the file's bytes as they are: no check for a VM image container */
	/*
	 * The container holding the image: NULL probes (a raw file, or a container
	 * QEMU reads, found by its magic); "raw" is raw; another of qemu-img's
	 * format names ("qcow2", "vmdk", "vdi", "vhdx", "vpc", "qed", ...) opens
	 * that format through QEMU without probing.
	 */
	const char *format;
};

/*
 * Is the file at path a VM image container (qcow2, VMDK, VDI, VHDX, VHD, QED,
 * a Ceph RBD layered-clone header) rather than a raw disk or a LUKS image?
 * 1, with *ret_name (qemu-img's name of the format) and *ret_what (a phrase
 * for messages: "a qcow2 image (QEMU's format)"), static strings, when it is;
 * 0 when it is not; a negative errno when it cannot be read (reported).
 * Either out parameter may be NULL.
 */
VMC_API int vmc_probe_container(const char *path, const char **ret_name, const char **ret_what);

/*
 * Opens path (image file, block device, or an nbd://, nbds://, nbd+unix://
 * URI) and parses its LUKS1 or LUKS2 header. p may be NULL: header in the
 * image, opened read-only. A VM image container QEMU reads (qcow2, VMDK, VDI,
 * VHDX, VHD, QED) is opened as the disk its guest sees, through a private
 * qemu-storage-daemon (or qemu-nbd) that vmcrypt starts and stops; other
 * containers (vmc_probe_container) are refused with VMC_ENOTSUP and one
 * message naming them. p->raw (or p->format "raw") takes the bytes as they are.
 * Errors: VMC_ENOTLUKS, VMC_ECORRUPT, VMC_ENOTSUP, -ENOENT, -EACCES, -EIO.
 * A damaged LUKS2 copy is reported as a warning and the valid one used.
 */
VMC_API int vmc_image_open(const char *path, const struct vmc_open_params *p,
			   struct vmc_image **ret_img);
VMC_API void vmc_image_free(struct vmc_image *img);

/* 1 or 2. */
VMC_API int vmc_image_luks_version(const struct vmc_image *img);
/* Plaintext size in bytes (data segment). */
VMC_API uint64_t vmc_image_size(const struct vmc_image *img);
/* Byte offset of the data segment in the data file. */
VMC_API uint64_t vmc_image_data_offset(const struct vmc_image *img);
/* Encryption sector size of the data segment (512 .. 4096). */
VMC_API uint32_t vmc_image_sector_size(const struct vmc_image *img);

/*
 * Describes the header like `cryptsetup luksDump` (json false) or as a JSON
 * document (json true; for LUKS2 the header's own JSON metadata plus a
 * "binary" object with the binary header fields). *ret_text is malloc()ed.
 */
VMC_API int vmc_image_dump(struct vmc_image *img, bool json, char **ret_text);

/*
 * Unlocks the image with a passphrase (or key file contents). keyslot -1 tries
 * every active slot in priority order. On success the volume key is held in
 * locked memory and *ret_keyslot (may be NULL) says which slot opened.
 * Errors: VMC_EPASS, -ENOENT (no such active slot), VMC_ENOTSUP.
 */
VMC_API int vmc_image_unlock(struct vmc_image *img, const void *pass, size_t pass_len, int keyslot,
			     int *ret_keyslot);
/*
 * Checks a passphrase against the keyslots and digests only, as `cryptsetup
 * open --test-passphrase` does: the data segments are neither read nor needed
 * (an unknown mandatory requirement, a segment or cipher vmcrypt cannot read
 * do not stop it). The image stays locked. Errors as vmc_image_unlock.
 */
VMC_API int vmc_image_test_passphrase(struct vmc_image *img, const void *pass, size_t pass_len,
				      int keyslot, int *ret_keyslot);
/* Copies the volume key of an unlocked image into a new secret buffer (free with vmc_secret_free).
 */
VMC_API int vmc_image_volume_key(struct vmc_image *img, uint8_t **ret_key, size_t *ret_len);

/*
 * Plaintext access at any byte offset and length within vmc_image_size() of an
 * unlocked image. Partial sectors are read-modify-written. Large requests are
 * processed by several threads with bounded memory. Returns 0 (the whole length
 * was done) or a negative errno.
 */
VMC_API int vmc_image_read(struct vmc_image *img, void *buf, size_t len, uint64_t offset);
VMC_API int vmc_image_write(struct vmc_image *img, const void *buf, size_t len, uint64_t offset);
/*
 * Discards whole sectors inside [offset, offset + len): their space is given
 * back (a hole in a sparse file) and they read back as garbage, as with
 * dm-crypt's allow_discards. Leaks which blocks are unused. -EOPNOTSUPP where
 * holes cannot be punched.
 */
VMC_API int vmc_image_discard(struct vmc_image *img, uint64_t offset, uint64_t len);
/* fdatasync() of the data (and header) file. */
VMC_API int vmc_image_flush(struct vmc_image *img);

/*
 * Streams plaintext in from fd (file or pipe) to the image starting at offset 0,
 * len bytes (UINT64_MAX: until EOF, at most the image size), or out of the image
 * to fd. With sparse, zero plaintext blocks become holes in a regular output
 * file (like cp --sparse=always). Pipelined over all cores, bounded memory.
 * *ret_done (may be NULL) receives the number of bytes moved.
 */
VMC_API int vmc_image_copy_in(struct vmc_image *img, int fd, uint64_t len,
			      vmc_progress_fn *progress, void *userdata, uint64_t *ret_done);
VMC_API int vmc_image_copy_out(struct vmc_image *img, int fd, bool sparse,
			       vmc_progress_fn *progress, void *userdata);

/* Does path name an NBD export (nbd://, nbds://, nbd+unix://, nbds+unix://)? */
VMC_API bool vmc_is_nbd_uri(const char *path);

/*
 * A plain (unencrypted) disk for encrypt's source and decrypt's output: a raw
 * file or block device, an NBD export (URI), or a VM image container through
 * QEMU (as vmc_image_open). format as in vmc_open_params.
 */
struct vmc_disk;
VMC_API int vmc_disk_open(const char *path, const char *format, bool read_only,
			  struct vmc_disk **ret_disk);
/*
 * A new, thin disk of size bytes: a sparse raw file (format NULL or "raw",
 * mode 0600), or an image of that format made by qemu-img. -EEXIST when path
 * exists, unless overwrite. An NBD URI names an existing export, written into.
 */
VMC_API int vmc_disk_create(const char *path, const char *format, uint64_t size, bool overwrite,
			    struct vmc_disk **ret_disk);
VMC_API uint64_t vmc_disk_size(const struct vmc_disk *disk);
VMC_API void vmc_disk_free(struct vmc_disk *disk);
/* vmc_image_copy_in/out with a disk: the whole disk in (at most the image size), or all out. */
VMC_API int vmc_image_copy_in_disk(struct vmc_image *img, struct vmc_disk *disk,
				   vmc_progress_fn *progress, void *userdata, uint64_t *ret_done);
VMC_API int vmc_image_copy_out_disk(struct vmc_image *img, struct vmc_disk *disk,
				    vmc_progress_fn *progress, void *userdata);

/* Parameters of a new image; zero/NULL fields take the documented defaults. */
struct vmc_format_params {
	int luks_version;   /* 1 or 2; default 2 */
	const char *cipher; /* default "aes-xts-plain64" */
	uint32_t key_bits;  /* default 512 for xts, 256 otherwise */
	const char *hash;   /* AF/digest/PBKDF2 hash; default "sha256" */
	const char
	    *pbkdf; /* "pbkdf2", "argon2i", "argon2id"; default argon2id (LUKS2), pbkdf2 (LUKS1) */
	uint32_t iter_time_ms;	   /* KDF benchmark target; default 2000 */
	uint32_t force_iterations; /* skip the benchmark: PBKDF2 iterations or Argon2 time cost */
	uint32_t pbkdf_memory_kib; /* Argon2 memory (maximum when benchmarking); default 1 GiB */
	uint32_t pbkdf_parallel;   /* Argon2 threads; default min(4, CPUs) */
	uint32_t
	    sector_size;   /* LUKS2: default 4096 when the size allows, else 512; LUKS1: 512 only */
	const char *label; /* LUKS2 label (max 47 bytes) */
	const char *subsystem;	/* LUKS2 subsystem (max 47 bytes) */
	const char *uuid;	/* default random */
	uint64_t metadata_size; /* LUKS2 header copy size, 16 KiB .. 4 MiB power of two; default 16
				   KiB */
	uint64_t keyslots_size; /* LUKS2 keyslots area; default fills up to a 16 MiB data offset */
	uint64_t
	    data_size; /* plaintext bytes (multiple of sector_size); required unless header-only,
			  or 0 for a partition or an NBD export: what fills it after the header */
	const char *header; /* detached header file; data starts at offset 0 of the image */
	int keyslot;	    /* slot for the passphrase; -1 (or 0 as default) picks the first */
	const uint8_t *volume_key; /* use this volume key instead of a random one */
	size_t volume_key_len;
	int partition; /* format partition N (1-based) of an existing disk image; 0: a new file */
	bool raw;      /* an existing file's bytes as they are: no check for a VM image container */
	/*
	 * A new file: NULL or "raw" for a sparse raw file, or a format qemu-img
	 * creates ("qcow2", "vdi", "vmdk", "vhdx", ...) holding the LUKS image as
	 * its guest-visible disk. An existing disk (partition): as vmc_open_params.
	 */
	const char *format;
};

/*
 * Creates a new image at path (which must not exist, or is truncated to the new
 * size when it is a regular file the caller chose to overwrite with overwrite)
 * as a sparse file, writes the header(s), and returns it opened and unlocked.
 */
VMC_API int vmc_image_create(const char *path, const struct vmc_format_params *p, const void *pass,
			     size_t pass_len, bool overwrite, struct vmc_image **ret_img);

/*
 * Keyslots, headers and tokens (LUKS1 and LUKS2). Every function that changes
 * the header needs an image opened read-write; header writes are crash-safe
 * (see docs/FORMAT-NOTES.md). Functions that add key material need an unlocked
 * image (the volume key).
 */
struct vmc_kdf_params {
	const char
	    *pbkdf; /* "pbkdf2", "argon2i", "argon2id"; default argon2id (LUKS2), pbkdf2 (LUKS1) */
	const char *hash;	   /* PBKDF2 hash (LUKS2); LUKS1 always uses the header's hash */
	uint32_t iter_time_ms;	   /* benchmark target; default 2000 */
	uint32_t force_iterations; /* skip the benchmark: PBKDF2 iterations or Argon2 time cost */
	uint32_t memory_kib;	   /* Argon2 memory (maximum when benchmarking); default 1 GiB */
	uint32_t parallel;	   /* Argon2 threads; default min(4, CPUs) */
};

enum vmc_keyslot_state {
	VMC_KEYSLOT_INACTIVE,
	VMC_KEYSLOT_ACTIVE,   /* holds the volume key behind a passphrase */
	VMC_KEYSLOT_RESERVED, /* a re-encryption slot or a type this library does not open */
};

/* Number of keyslots of the format: 8 (LUKS1) or 32 (LUKS2). */
VMC_API int vmc_keyslot_max(const struct vmc_image *img);
VMC_API enum vmc_keyslot_state vmc_keyslot_state(const struct vmc_image *img, int keyslot);
/* Number of active passphrase keyslots. */
VMC_API int vmc_keyslot_count(const struct vmc_image *img);
/*
 * Adds pass in keyslot (-1: the first free one). *ret_keyslot (may be NULL)
 * receives the slot. -EEXIST (slot in use), -ENOSPC (no free slot or area).
 */
VMC_API int vmc_keyslot_add(struct vmc_image *img, int keyslot, const void *pass, size_t pass_len,
			    const struct vmc_kdf_params *kdf, int *ret_keyslot);
/*
 * Replaces the passphrase of keyslot with new_pass atomically: at any instant
 * either the old or the new passphrase opens the image. LUKS2 keeps the slot
 * number; LUKS1 moves to a free slot. *ret_keyslot receives the slot.
 */
VMC_API int vmc_keyslot_change(struct vmc_image *img, int keyslot, const void *new_pass,
			       size_t new_len, const struct vmc_kdf_params *kdf, int *ret_keyslot);
/* Removes keyslot and destroys its key material. */
VMC_API int vmc_keyslot_kill(struct vmc_image *img, int keyslot);
/* LUKS2 keyslot priority: 0 ignore (only opened when named), 1 normal, 2 high. */
VMC_API int vmc_keyslot_set_priority(struct vmc_image *img, int keyslot, int priority);
/* Destroys every keyslot: the data can never be decrypted again (crypto-shred). */
VMC_API int vmc_image_erase(struct vmc_image *img);

/*
 * Public-key images: an image builder ships an image whose passphrase is this
 * documented, public one (so its volume key is public too) and whose LUKS2 label
 * starts with VMC_PUBLIC_LABEL_PREFIX; the user makes the encryption real by
 * re-keying it (vmc_image_rekey), which drops the public keyslot. The passphrase is
 * not blank because Debian's initramfs cannot pass an empty one to cryptsetup.
 */
#define VMC_PUBLIC_PASSPHRASE	"public"
#define VMC_PUBLIC_LABEL_PREFIX "vmcrypt:public-key"
#define VMC_PUBLIC_LABEL	VMC_PUBLIC_LABEL_PREFIX " NOT SECRET - re-key first"
/* True when the image's label marks it as a public-key image. */
VMC_API bool vmc_image_is_public(const struct vmc_image *img);
/*
 * True when the image is QEMU's encrypted qcow2 (encrypt.format=luks), opened
 * natively: a LUKS1 header inside the qcow2 file, data clusters encrypted with
 * IVs from their host offsets. Keyslots, dump, header backup and plaintext
 * reads work; in-place writes of the guest disk, re-key, resize and
 * conversion are refused with VMC_ENOTSUP.
 */
VMC_API bool vmc_image_is_qcow2(const struct vmc_image *img);
/*
 * Writes the plain disk src into a new QEMU encrypted qcow2 at path (version 3,
 * 64 KiB clusters, 16-bit refcounts, a LUKS1 header of p's cipher, hash, PBKDF
 * and passphrase pass in the clusters after the header), thin: only the
 * allocated, non-zero clusters of src are written, encrypted on all cores.
 * path must not exist unless overwrite; an incomplete file is removed.
 * -EINVAL for what QEMU's format cannot hold (LUKS2, a detached header, a
 * sector size above 512), -EFBIG, -ECANCELED (progress said stop), I/O errors.
 */
VMC_API int vmc_qcow2_encrypt(const char *path, const struct vmc_format_params *p, const void *pass,
			      size_t pass_len, bool overwrite, struct vmc_disk *src,
			      vmc_progress_fn *progress, void *userdata);

/*
 * Converting between QEMU's encrypted qcow2 and a raw LUKS image
 * (vmc_image_convert_copy). Zero/NULL fields take the defaults.
 */
struct vmc_convert_params {
	int luks_version;     /* a raw LUKS DST (the source is an encrypted qcow2): 1 or 2 */
	bool qcow2;	      /* DST is QEMU's encrypted qcow2 (the source is a raw LUKS image) */
	bool new_volume_key;  /* a fresh volume key: DST's header has one keyslot, for new_pass */
	const void *new_pass; /* the passphrase of DST's new keyslot; NULL: the one given */
	size_t new_pass_len;
	struct vmc_kdf_params kdf; /* keyslots made anew; LUKS1 (qcow2) keyslots use pbkdf2 */
	bool overwrite;		   /* replace an existing regular file at the DST path */
	vmc_progress_fn *progress; /* returning false stops: -ECANCELED, DST removed */
	void *userdata;
};

/*
 * Writes a new image at path holding src's plaintext in the other encrypted
 * form, re-encrypted in one pipelined stream on all cores (no plaintext is
 * ever written to a file): QEMU's encrypted qcow2 (the active disk; internal
 * snapshots are left out, with a warning) becomes a raw LUKS1 or LUKS2 image
 * whose every sector is written (the disk's zeros encrypted), and a raw LUKS1
 * or LUKS2 image (one data segment, no re-encryption unfinished, a cipher QEMU
 * opens) becomes a thin encrypted qcow2 whose all-zero clusters stay
 * unallocated. src is unlocked with pass (keyslot -1: any) unless it is
 * already. The volume key stays unless p->new_volume_key. With the same key
 * the keyslots carry over where the target can hold them: a qcow2's LUKS1
 * header becomes the raw image's (as it is for LUKS1, the data at 2 MiB;
 * converted as vmc_image_convert does for LUKS2), and a raw LUKS1 header
 * inside its image becomes the qcow2's; a LUKS2 source's header is re-made as
 * LUKS1 with one keyslot for pass (LUKS1 keyslots cannot hold Argon2 or
 * LUKS2's other settings). A new header (new key, or LUKS2 to qcow2) has the
 * source's cipher and key size and one keyslot, for p->new_pass or pass.
 * Errors (reported; an incomplete DST is removed): VMC_EPASS before anything
 * is created, -EEXIST (path exists and not p->overwrite), -EINVAL (src is
 * already in the target's form, a bad luks_version), VMC_ENOTSUP (a backing
 * file, compressed clusters, an unfinished re-key or re-encryption, a cipher
 * QEMU does not open), -ECANCELED, -ENOSPC and other I/O errors.
 */
VMC_API int vmc_image_convert_copy(struct vmc_image *src, const void *pass, size_t pass_len,
				   int keyslot, const char *path,
				   const struct vmc_convert_params *p);

/* UUID of the image (static storage of the handle). */
VMC_API const char *vmc_image_uuid(const struct vmc_image *img);
/* LUKS2 label and subsystem (NULL leaves one unchanged), and the UUID (LUKS1 and LUKS2). */
VMC_API int vmc_image_set_label(struct vmc_image *img, const char *label, const char *subsystem);
VMC_API int vmc_image_set_uuid(struct vmc_image *img, const char *uuid);

/*
 * Repairs a LUKS2 header whose one copy is damaged or outdated by rewriting
 * both copies from the valid one. *ret_report (malloc()ed, may be NULL) says
 * what was found and done.
 */
VMC_API int vmc_image_repair(struct vmc_image *img, char **ret_report);

/*
 * Converts the header to LUKS1 or LUKS2 in place, relocating keyslot material
 * as needed (this also turns QEMU's LUKS1 layout into a LUKS2 header cryptsetup
 * accepts). The old header region is kept in IMAGE.vmcrypt-convert until the
 * new header is committed; opening the image for writing after an interruption
 * rolls it back. VMC_ENOTSUP when the other version cannot express the header.
 */
VMC_API int vmc_image_convert(struct vmc_image *img, int luks_version);

/*
 * Resizes the image. new_size is the new length in bytes of the data file (the
 * image file, or the data file of a detached header); for a partition of a
 * disk image (vmc_open_params.partition), which keeps its size, it is the new
 * size of the data segment, up to the partition's end. The file is extended
 * sparsely (nothing is written) or cut. A LUKS1 or "dynamic" LUKS2 data
 * segment follows the file by itself; a LUKS2 segment of fixed size is set to
 * reach the file's new end in one crash-safe header commit: growing, the file
 * first and the header after; shrinking, the header first and the file after
 * (a crash in between leaves the segment inside the file). In a partition, a
 * dynamic segment made smaller becomes fixed. new_size must be a multiple of
 * the segment's sector size (512 for LUKS1) and leave the header, key slots
 * and at least one data sector. Shrinking discards the data beyond the new
 * end (a file system inside must have been shrunk first) and needs
 * allow_shrink. Needs an image opened read-write; an unlocked image's
 * plaintext size follows. Errors (reported): -EINVAL (size refused),
 * VMC_ENOTSUP (an unfinished re-encryption, an unknown requirement, LUKS1 in a
 * partition, a data device that is no regular file: a block device, an NBD
 * export, a VM image container, which qemu-img resize changes), -ENOSPC (past
 * the partition's end), -EROFS, I/O errors.
 */
VMC_API int vmc_image_resize(struct vmc_image *img, uint64_t new_size, bool allow_shrink);
/* What vmc_image_resize()'s new_size measures, as it is now; 0 when it cannot be read. */
VMC_API uint64_t vmc_image_extent(const struct vmc_image *img);

/* Writes the header region (metadata and keyslot areas) to a new file, mode 0600. */
VMC_API int vmc_header_backup(struct vmc_image *img, const char *file);
/*
 * Restores a header backup onto the image at path (header: its detached header
 * file, or NULL). Refuses a backup whose UUID or data offset differs from the
 * image's current header unless force. Works when the current header is unreadable.
 */
VMC_API int vmc_header_restore(const char *path, const char *header, const char *backup,
			       bool force);

/* LUKS2 tokens, as JSON objects. id -1 on import picks the first free id. */
VMC_API int vmc_token_import(struct vmc_image *img, int id, const char *json, int *ret_id);
VMC_API int vmc_token_export(struct vmc_image *img, int id, char **ret_json);
VMC_API int vmc_token_remove(struct vmc_image *img, int id);

/*
 * Re-encryption in place (cryptsetup's LUKS2 "reencrypt" metadata, so that a
 * run stopped at any point can be finished by vmcrypt or by
 * `cryptsetup reencrypt --resume-only`). Every commit point is crash-safe in
 * the checksum and journal resilience modes.
 */
struct vmc_reencrypt_params {
	const char *cipher;	/* new data cipher; NULL keeps the current one */
	uint32_t key_bits;	/* new key size; 0 keeps it (or the cipher's default) */
	uint32_t sector_size;	/* new sector size; 0 keeps it */
	const char *resilience; /* "checksum" (default), "journal" or "none" */
	const char *hash;	/* checksum hash; default "sha256" */
	uint64_t hotzone_size;	/* bytes per step; default 64 MiB (capped by the resilience area) */
	const void *new_pass;	/* the new passphrase; NULL keeps the one that unlocked */
	size_t new_pass_len;
	struct vmc_kdf_params kdf; /* for the new keyslot */
	bool resume_only;	   /* fail with -ENOENT unless a re-encryption is unfinished */
	const char *new_header; /* decrypt --in-place of an image with its header inside: a new file
				   that holds the header while the data moves down */
	vmc_progress_fn *progress; /* returning false stops cleanly after the current step */
	void *userdata;
	uint64_t stop_after; /* testing: stop cleanly once this many bytes are done */
};

/*
 * Re-keys the image: a new volume key, the whole data segment re-encrypted in
 * place, and in the end one keyslot holding the new key under the new
 * passphrase (all keyslots of the old key are destroyed). If a re-encryption
 * is unfinished (started by vmcrypt or cryptsetup), resumes it instead: pass
 * must then open both the old and the new key. LUKS1 images are converted to
 * LUKS2 for the duration and back at the end. Returns 0 when finished,
 * -ECANCELED when stopped cleanly (resumable), VMC_EPASS, ...
 */
VMC_API int vmc_image_rekey(struct vmc_image *img, const void *pass, size_t pass_len,
			    const struct vmc_reencrypt_params *p);
/*
 * Encrypts the plain image at path in place into LUKS2 (format options as for
 * vmc_image_create; fp->data_size is ignored). Either fp->header names a new
 * detached header file and the data stays where it is, or reduce_size > 0
 * bytes at the end of the image are given up: the data moves up by
 * reduce_size / 2 to make room for the header (the last reduce_size bytes must
 * be free: a file system found there must have been shrunk, else they must be
 * zero, unless force). Resumable like a rekey (vmc_image_rekey resumes it).
 * On success *ret_img (may be NULL) is the unlocked image.
 */
VMC_API int vmc_encrypt_in_place(const char *path, const struct vmc_format_params *fp,
				 uint64_t reduce_size, bool force, const void *pass,
				 size_t pass_len, const struct vmc_reencrypt_params *p,
				 struct vmc_image **ret_img);
/*
 * Decrypts the image in place: its data becomes plain. With a detached header
 * the data stays where it is; with the header inside the image the data moves
 * down over it (p->new_header names a new file that holds the header
 * meanwhile, as cryptsetup's decryption with a data shift does) and the file
 * is cut to the plaintext size at the end. Either header file is of no further
 * use afterwards. Resumable like a rekey (open with the header file).
 */
VMC_API int vmc_decrypt_in_place(struct vmc_image *img, const void *pass, size_t pass_len,
				 const struct vmc_reencrypt_params *p);

/* True when the image has an unfinished re-encryption. */
VMC_API bool vmc_image_reencrypt_pending(const struct vmc_image *img);

/* Human-readable name of a negative errno from this library. */
VMC_API const char *vmc_strerror(int err);

/*
 * ---------------------------------------------------------------------------
 * audit: where can an encrypted VM's key leak on this host?
 *
 * Each check of the host (swap, hibernation, core and crash dumps, freed-memory
 * wiping, KSM), of libvirt domains and settings, of running QEMU processes, of
 * VirtualBox saved states and of Xen ballooning gives a status, one line of why
 * and one line of how to fix it.
 */
enum vmc_audit_status {
	VMC_AUDIT_SKIP = 0, /* nothing to check (the software is not there) */
	VMC_AUDIT_PASS = 1,
	VMC_AUDIT_WARN = 2,
	VMC_AUDIT_FAIL = 3,
};

struct vmc_audit_params {
	const char *root;	       /* read proc, sys, etc, var, run, home, root below this
					  directory (a copy, or a mounted host image); NULL: "/" */
	const char *const *domain_xml; /* NULL-terminated list of libvirt domain XML files
					  (virsh dumpxml output) checked besides the
					  default libvirt folders; may be NULL */
	bool json;		       /* report as JSON instead of text */
	const char *const *images;     /* NULL-terminated list of disk images on this machine
					  whose encryption and qcow2 internal snapshots (VM
					  state) are checked too; may be NULL */
};

/*
 * Runs every check. *ret_report (malloc()ed) is the report as text or JSON
 * (schema in vmcrypt(1)); *ret_worst the worst status found (an enum
 * vmc_audit_status value). Missing or unreadable files make the checks that
 * need them SKIP or WARN, never an error. Errors: -EINVAL, -ENOMEM,
 * -ENOENT/-EACCES (root or a --domain-xml file cannot be read).
 */
VMC_API int vmc_audit_run(const struct vmc_audit_params *p, char **ret_report, int *ret_worst);

/*
 * ---------------------------------------------------------------------------
 * scan: key material in memory dumps, saved VM states, swap or disks.
 *
 * With a volume key: the key, each half (XTS uses two AES keys), and the AES
 * encryption and decryption schedules of each AES key, in FIPS-197 byte order
 * (AES-NI, the kernel, OpenSSL's EVP, QEMU) and with byte-reversed 32-bit words
 * (OpenSSL's portable AES_KEY), at any byte offset. Without one: any AES-128,
 * -192 or -256 schedule, tolerating flipped bits, like aeskeyfind; with a LUKS
 * header, the keys found are paired into volume key candidates and tested
 * against its digest.
 */
struct vmc_scan_params {
	const uint8_t *volume_key; /* search this key (from vmc_image_volume_key()); NULL:
				      any AES schedule */
	size_t volume_key_len;	   /* 16 to 64 bytes */
	const char *key_name;	   /* the key's image, as the report names it; may be NULL */
	const char *header;	   /* without volume_key: test the keys found against this
				      LUKS header (image or detached header); may be NULL */
	unsigned max_bit_errors;   /* any-schedule mode: flipped bits tolerated per schedule
				      (0 .. 64; larger values scan more slowly) */
	unsigned threads;	   /* worker threads; 0: one per CPU */
	bool json;		   /* report as JSON instead of text */
	vmc_progress_fn *progress; /* bytes scanned of all files; may be NULL */
	void *userdata;
};

/*
 * Scans npaths files or block devices, multi-threaded with bounded memory.
 * *ret_report (malloc()ed) lists file, offset and what was found (never key
 * bytes), as text or JSON; *ret_found is the number of findings. The key
 * material found is handled in locked memory and wiped. Errors: -EINVAL,
 * -ENOMEM, -ECANCELED (progress returned false), I/O errors of a file (-ENOENT,
 * -EACCES, -EIO), and for the header VMC_ENOTLUKS, VMC_ECORRUPT, VMC_ENOTSUP.
 */
VMC_API int vmc_scan_run(const struct vmc_scan_params *p, const char *const *paths, size_t npaths,
			 char **ret_report, unsigned *ret_found);

#ifdef __cplusplus
}
#endif
#endif
