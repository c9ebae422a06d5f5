/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The FUSE file system of vmcrypt mount: disk.raw (the plaintext) and disk.vmdk over one image. */
#define FUSE_USE_VERSION 35

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>

#include "vmcfuse.h"

#define VMDK_MAX     65536 /* bytes the descriptor may grow to (VirtualBox rewrites it) */
#define VMDK_CYL_MAX 16383 /* IDE geometry, as VMware and VirtualBox compute it */
#define VMDK_HEADS   16
#define VMDK_SECTORS 63
#define UUID_LEN     36
#define MAX_WRITE    (1024 * 1024)
#define IDLE_THREADS 10

struct vmcfuse {
	struct vmc_image *img;
	uint64_t size;
	bool read_only;
	bool mounted;
	struct fuse *fuse;
	struct timespec mtime; /* of both files: the mount time */
	/*
	 * disk.vmdk lives in memory: VirtualBox rewrites the descriptor (UUIDs,
	 * geometry) when it attaches a disk, so it is writable, and starts afresh
	 * at each mount.
	 */
	pthread_mutex_t vmdk_lock;
	char *vmdk;
	size_t vmdk_len;
};

enum node { NODE_NONE, NODE_ROOT, NODE_RAW, NODE_VMDK };

static enum node node_of(const char *path)
{
	if (strcmp(path, "/") == 0)
		return NODE_ROOT;
	if (strcmp(path, "/" VMCFUSE_RAW) == 0)
		return NODE_RAW;
	if (strcmp(path, "/" VMCFUSE_VMDK) == 0)
		return NODE_VMDK;
	return NODE_NONE;
}

static struct vmcfuse *fs_get(void)
{
	return fuse_get_context()->private_data;
}

int vmcfuse_vmdk_descriptor(char *buf, size_t len, uint64_t size, const char *extent,
			    bool read_only, const char *uuid)
{
	static const char nil_uuid[] = "00000000-0000-0000-0000-000000000000";
	uint64_t sectors = size / 512;
	uint64_t cylinders = sectors / (VMDK_HEADS * VMDK_SECTORS);
	int n;

	/* cylinders * heads * sectors never exceeds the disk: the geometry is consistent. */
	if (cylinders > VMDK_CYL_MAX)
		cylinders = VMDK_CYL_MAX;
	n = snprintf(buf, len,
		     "# Disk DescriptorFile\n"
		     "version=1\n"
		     "encoding=\"UTF-8\"\n"
		     "CID=fffffffe\n"
		     "parentCID=ffffffff\n"
		     "createType=\"monolithicFlat\"\n"
		     "\n"
		     "# Extent description\n"
		     "%s %" PRIu64 " FLAT \"%s\" 0\n"
		     "\n"
		     "# The Disk Data Base\n"
		     "#DDB\n"
		     "\n"
		     "ddb.virtualHWVersion = \"4\"\n"
		     "ddb.adapterType = \"ide\"\n"
		     "ddb.geometry.cylinders = \"%" PRIu64 "\"\n"
		     "ddb.geometry.heads = \"%d\"\n"
		     "ddb.geometry.sectors = \"%d\"\n"
		     "%s%s%s"
		     "ddb.uuid.parent = \"%s\"\n"
		     "ddb.uuid.modification = \"%s\"\n"
		     "ddb.uuid.parentmodification = \"%s\"\n",
		     read_only ? "RDONLY" : "RW", sectors, extent, cylinders, VMDK_HEADS,
		     VMDK_SECTORS, uuid ? "ddb.uuid.image = \"" : "", uuid ? uuid : "",
		     uuid ? "\"\n" : "", nil_uuid, nil_uuid, nil_uuid);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

/* A stable identity for VirtualBox's media registry: the LUKS UUID. */
static int image_uuid(struct vmc_image *img, char *buf)
{
	const char *u = vmc_image_uuid(img);

	if (!u || strlen(u) != UUID_LEN)
		return -ENOENT;
	memcpy(buf, u, UUID_LEN + 1);
	return 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct vmcfuse *fs = fs_get();

	/* Only this process changes the files: the kernel may keep what it cached. */
	cfg->kernel_cache = 1;
	cfg->attr_timeout = 1.0;
	cfg->entry_timeout = 1.0;
	cfg->use_ino = 1;
	conn->max_write = MAX_WRITE;
	return fs;
}

/* Unmounted: everything written reaches the disk. */
static void fs_destroy(void *private_data)
{
	struct vmcfuse *fs = private_data;

	if (!fs->read_only)
		vmc_image_flush(fs->img);
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct vmcfuse *fs = fs_get();
	mode_t w = fs->read_only ? 0 : 0200;

	(void)fi;
	memset(st, 0, sizeof(*st));
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_mtim = st->st_ctim = st->st_atim = fs->mtime;
	st->st_blksize = 4096;
	switch (node_of(path)) {
	case NODE_ROOT:
		st->st_ino = 1;
		st->st_mode = S_IFDIR | 0500 | w;
		st->st_nlink = 2;
		return 0;
	case NODE_RAW:
		st->st_ino = 2;
		st->st_mode = S_IFREG | 0400 | w;
		st->st_nlink = 1;
		st->st_size = (off_t)fs->size;
		st->st_blocks = (blkcnt_t)((fs->size + 511) / 512);
		return 0;
	case NODE_VMDK:
		st->st_ino = 3;
		st->st_mode = S_IFREG | 0400 | w;
		st->st_nlink = 1;
		pthread_mutex_lock(&fs->vmdk_lock);
		st->st_size = (off_t)fs->vmdk_len;
		pthread_mutex_unlock(&fs->vmdk_lock);
		st->st_blocks = (st->st_size + 511) / 512;
		return 0;
	default:
		return -ENOENT;
	}
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (node_of(path) != NODE_ROOT)
		return -ENOTDIR;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, VMCFUSE_RAW, NULL, 0, 0);
	fill(buf, VMCFUSE_VMDK, NULL, 0, 0);
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	struct vmcfuse *fs = fs_get();
	enum node n = node_of(path);

	if (n == NODE_ROOT)
		return -EISDIR;
	if (n == NODE_NONE)
		return -ENOENT;
	if (fs->read_only && (fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	/* O_TRUNC of disk.raw is refused by truncate(); of disk.vmdk it empties it. */
	return 0;
}

static int fs_read(const char *path, char *buf, size_t len, off_t off, struct fuse_file_info *fi)
{
	struct vmcfuse *fs = fs_get();
	uint64_t o = (uint64_t)off;
	int r;

	(void)fi;
	if (off < 0)
		return -EINVAL;
	if (node_of(path) == NODE_VMDK) {
		pthread_mutex_lock(&fs->vmdk_lock);
		len = o >= fs->vmdk_len ? 0 : len < fs->vmdk_len - o ? len : fs->vmdk_len - o;
		if (len)
			memcpy(buf, fs->vmdk + o, len);
		pthread_mutex_unlock(&fs->vmdk_lock);
		return (int)len;
	}
	if (o >= fs->size)
		return 0;
	if (len > fs->size - o)
		len = (size_t)(fs->size - o);
	r = vmc_image_read(fs->img, buf, len, o);
	return r < 0 ? r : (int)len;
}

static int vmdk_write(struct vmcfuse *fs, const char *buf, size_t len, uint64_t off)
{
	if (off > VMDK_MAX || len > VMDK_MAX - off)
		return -EFBIG;
	pthread_mutex_lock(&fs->vmdk_lock);
	if (off > fs->vmdk_len)
		memset(fs->vmdk + fs->vmdk_len, 0, off - fs->vmdk_len);
	memcpy(fs->vmdk + off, buf, len);
	if (off + len > fs->vmdk_len)
		fs->vmdk_len = off + len;
	pthread_mutex_unlock(&fs->vmdk_lock);
	return (int)len;
}

static int fs_write(const char *path, const char *buf, size_t len, off_t off,
		    struct fuse_file_info *fi)
{
	struct vmcfuse *fs = fs_get();
	uint64_t o = (uint64_t)off;
	int r;

	(void)fi;
	if (off < 0)
		return -EINVAL;
	if (fs->read_only)
		return -EROFS;
	if (node_of(path) == NODE_VMDK)
		return vmdk_write(fs, buf, len, o);
	/* disk.raw has the image's size, fixed: nothing is written past its end. */
	if (o >= fs->size)
		return len ? -ENOSPC : 0;
	if (len > fs->size - o)
		len = (size_t)(fs->size - o);
	r = vmc_image_write(fs->img, buf, len, o);
	return r < 0 ? r : (int)len;
}

static int fs_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct vmcfuse *fs = fs_get();

	(void)fi;
	if (fs->read_only)
		return -EROFS;
	if (size < 0)
		return -EINVAL;
	switch (node_of(path)) {
	case NODE_RAW:
		/* Accepting its own size lets tools that truncate before writing work. */
		return (uint64_t)size == fs->size ? 0 : -EPERM;
	case NODE_VMDK:
		if (size > VMDK_MAX)
			return -EFBIG;
		pthread_mutex_lock(&fs->vmdk_lock);
		if ((size_t)size > fs->vmdk_len)
			memset(fs->vmdk + fs->vmdk_len, 0, (size_t)size - fs->vmdk_len);
		fs->vmdk_len = (size_t)size;
		pthread_mutex_unlock(&fs->vmdk_lock);
		return 0;
	default:
		return node_of(path) == NODE_ROOT ? -EISDIR : -ENOENT;
	}
}

/* flush (each close), fsync and release all put the written data on disk. */
static int image_sync(const char *path, struct fuse_file_info *fi)
{
	struct vmcfuse *fs = fs_get();

	if (fs->read_only || node_of(path) != NODE_RAW)
		return 0;
	if (fi && (fi->flags & O_ACCMODE) == O_RDONLY)
		return 0;
	return vmc_image_flush(fs->img);
}

static int fs_flush(const char *path, struct fuse_file_info *fi)
{
	return image_sync(path, fi);
}

static int fs_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	return image_sync(path, fi);
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	return image_sync(path, fi);
}

/* Timestamps are not kept; accepting them keeps touch and cp -p quiet. */
static int fs_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)tv;
	(void)fi;
	return node_of(path) == NODE_NONE ? -ENOENT : 0;
}

/* Preallocation inside the disk is a no-op; holes cannot be punched through the cipher. */
static int fs_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	struct vmcfuse *fs = fs_get();

	(void)fi;
	if (node_of(path) != NODE_RAW)
		return -EOPNOTSUPP;
	if (mode != 0 && mode != FALLOC_FL_KEEP_SIZE)
		return -EOPNOTSUPP;
	if (off < 0 || len <= 0 || (uint64_t)off > fs->size ||
	    (uint64_t)len > fs->size - (uint64_t)off)
		return mode == FALLOC_FL_KEEP_SIZE ? 0 : -EFBIG;
	return 0;
}

static int fs_statfs(const char *path, struct statvfs *st)
{
	struct vmcfuse *fs = fs_get();

	(void)path;
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_blocks = (fs->size + VMDK_MAX + 4095) / 4096;
	st->f_files = 3;
	st->f_namemax = 255;
	return 0;
}

static const struct fuse_operations fs_ops = {
    .init = fs_init,
    .destroy = fs_destroy,
    .getattr = fs_getattr,
    .readdir = fs_readdir,
    .open = fs_open,
    .read = fs_read,
    .write = fs_write,
    .truncate = fs_truncate,
    .flush = fs_flush,
    .fsync = fs_fsync,
    .release = fs_release,
    .utimens = fs_utimens,
    .fallocate = fs_fallocate,
    .statfs = fs_statfs,
};

static int vmdk_init(struct vmcfuse *fs, struct vmc_image *img)
{
	char uuid[UUID_LEN + 1];
	int n;

	fs->vmdk = calloc(1, VMDK_MAX);
	if (!fs->vmdk)
		return -ENOMEM;
	n = vmcfuse_vmdk_descriptor(fs->vmdk, VMDK_MAX, fs->size, VMCFUSE_RAW, fs->read_only,
				    image_uuid(img, uuid) == 0 ? uuid : NULL);
	if (n < 0)
		return n;
	fs->vmdk_len = (size_t)n;
	return 0;
}

int vmcfuse_mount(struct vmc_image *img, const struct vmcfuse_params *p, struct vmcfuse **ret_fs)
{
	char *argv[] = {"vmcrypt", "-o", NULL, NULL, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct vmcfuse *fs = NULL;
	char opts[128];
	int r;

	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	pthread_mutex_init(&fs->vmdk_lock, NULL);
	fs->img = img;
	fs->size = vmc_image_size(img);
	fs->read_only = p->read_only;
	clock_gettime(CLOCK_REALTIME, &fs->mtime);
	r = vmdk_init(fs, img);
	if (r < 0)
		goto out;
	/* default_permissions: the kernel checks the modes; nobody but the user gets in. */
	snprintf(opts, sizeof(opts), "fsname=vmcrypt,subtype=vmcrypt,default_permissions%s",
		 p->read_only ? ",ro" : "");
	argv[2] = opts;
	if (p->debug) {
		argv[3] = "-d";
		args.argc = 4;
	}
	fs->fuse = fuse_new(&args, &fs_ops, sizeof(fs_ops), fs);
	if (!fs->fuse) {
		r = -EINVAL;
		goto out;
	}
	if (fuse_mount(fs->fuse, p->mountpoint) != 0) {
		r = -EIO;
		goto out;
	}
	fs->mounted = true;
	*ret_fs = fs;
	fs = NULL;
out:
	vmcfuse_free(fs);
	return r;
}

int vmcfuse_loop(struct vmcfuse *fs)
{
	struct fuse_loop_config cfg = {.clone_fd = 0, .max_idle_threads = IDLE_THREADS};
	struct fuse_session *se = fuse_get_session(fs->fuse);
	int r;

	if (fuse_set_signal_handlers(se) != 0)
		return -EIO;
	r = fuse_loop_mt(fs->fuse, &cfg);
	fuse_remove_signal_handlers(se);
	/* fuse_loop_mt returns a signal number when one ended it: a clean stop. */
	return r < 0 ? r : 0;
}

void vmcfuse_free(struct vmcfuse *fs)
{
	if (!fs)
		return;
	if (fs->mounted)
		fuse_unmount(fs->fuse);
	if (fs->fuse)
		fuse_destroy(fs->fuse);
	/* fuse_destroy flushed it if the file system was ever initialised; now surely. */
	if (!fs->read_only && fs->img)
		vmc_image_flush(fs->img);
	pthread_mutex_destroy(&fs->vmdk_lock);
	free(fs->vmdk);
	free(fs);
}
