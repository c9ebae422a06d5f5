/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The storage interface's NBD backend: an export of an NBD server, through libnbd. */
#include <errno.h>
#include <libnbd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"
#include "io/storage.h"
#include "io/storage_backend.h"

/*
 * Throughput: the library reads and writes 1-4 MiB buffers from several
 * threads at once. A server that allows it (multi-conn) gets up to EXPORT_CONNS
 * connections, one request of a thread on each at a time; each request goes
 * out as pieces of at most PIECE_MAX bytes, up to IN_FLIGHT of them at once on
 * its connection, so the server works on several while the socket carries the
 * next ones.
 */
#define EXPORT_CONNS 4
#define PIECE_MAX    (1u << 20)
#define IN_FLIGHT    8
/* Requests with a payload when the server names no maximum (libnbd refuses over 64 MiB). */
#define REQUEST_MAX (32u << 20)
/* Block status and trim carry a 32-bit length: ask in steps of at most this. */
#define LENGTH_MAX (1u << 30)

struct conn {
	pthread_mutex_t lock;
	struct nbd_handle *h; /* NULL once the connection is gone: its requests fail with err */
	int err;
};

struct nbd_export {
	struct conn conn[EXPORT_CONNS];
	unsigned nconn;
	atomic_uint next;
	atomic_bool lost_said; /* the lost connection was reported (once, not per thread) */
	char *name;	       /* the URI for messages: no query but the socket, no password */
	uint64_t size;
	size_t piece;
	uint64_t align;	     /* the server's minimum block size: smaller requests are widened */
	pthread_mutex_t rmw; /* one widened write at a time (its read-modify-write) */
	bool read_only, can_flush, can_trim, base_allocation;
	bool tcp;		     /* nbd:// or nbds://: a TCP socket under the handle */
	void (*on_close)(void *arg); /* after the connections are closed: stop the server */
	void *on_close_arg;
};

/*
 * libnbd's errno as ours. Codes vmcrypt gives a meaning of its own (-EPERM is
 * a wrong passphrase, -EBUSY a locked image, -EINVAL a usage error, ...) do
 * not pass through from a server: during I/O anything but a few plain ones is
 * -EIO.
 */
static int io_errno(void)
{
	int e = nbd_get_errno();

	switch (e) {
	case EPERM:
	case EACCES:
		return -EACCES;
	case ENOSPC:
	case ENOMEM:
	case EROFS:
	case EFBIG:
	case ENOTCONN:
	case ECONNRESET:
	case EPIPE:
	case ESHUTDOWN:
	case ETIMEDOUT:
		return -e;
	default:
		return -EIO;
	}
}

/* While connecting, ENOENT (no socket, no export) and EINVAL (a bad URI) keep their meaning. */
static int connect_errno(void)
{
	int e = nbd_get_errno();

	switch (e) {
	case 0:
	case EBUSY:
	case EBADMSG:
	case EMEDIUMTYPE:
	case ECANCELED:
		return -EIO;
	case EPERM:
		return -EACCES;
	default:
		return -e;
	}
}

/*
 * What messages call the export: the URI without its query string (TLS
 * options such as tls-psk-file live there) except the socket, a location and
 * no secret, and without a password in the authority. NULL when out of memory.
 */
static char *uri_display(const char *uri)
{
	const char *q = strchr(uri, '?'), *sock = NULL, *auth = strstr(uri, "://");
	size_t head = q ? (size_t)(q - uri) : strlen(uri), slen = 0, at = 0, colon = 0;
	char *out;

	if (auth) {
		const char *a = auth + 3, *end = a + strcspn(a, "/?"), *c, *p;
		p = memchr(a, '@', (size_t)(end - a));
		c = p ? memchr(a, ':', (size_t)(p - a)) : NULL;
		if (c) {
			colon = (size_t)(c - uri);
			at = (size_t)(p - uri);
		}
	}
	for (const char *p = q; p; p = strchr(p + 1, '&')) {
		if (strncmp(p + 1, "socket=", 7) == 0) {
			sock = p + 8;
			slen = strcspn(sock, "&");
		}
	}
	out = malloc(head + slen + 9);
	if (!out)
		return NULL;
	if (colon) {
		/* user:password@host: keep the user, drop the password. */
		memcpy(out, uri, colon);
		memcpy(out + colon, uri + at, head - at);
		head -= at - colon;
	} else {
		memcpy(out, uri, head);
	}
	out[head] = '\0';
	if (sock) {
		strcat(out, "?socket=");
		strncat(out, sock, slen);
	}
	return out;
}

bool storage_nbd_uri(const char *path)
{
	static const char *const schemes[] = {"nbd://", "nbds://", "nbd+unix://", "nbds+unix://"};

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strncmp(path, schemes[i], strlen(schemes[i])) == 0)
			return true;
	return false;
}

/* A free connection, else the next one in turn (waiting for it). Returned locked. */
static struct conn *conn_get(struct nbd_export *x)
{
	unsigned start = atomic_fetch_add(&x->next, 1);
	struct conn *c;

	for (unsigned i = 0; i < x->nconn; i++) {
		c = &x->conn[(start + i) % x->nconn];
		if (pthread_mutex_trylock(&c->lock) == 0)
			return c;
	}
	c = &x->conn[start % x->nconn];
	pthread_mutex_lock(&c->lock);
	return c;
}

static void conn_put(struct conn *c)
{
	pthread_mutex_unlock(&c->lock);
}

/*
 * Reports a failed request once: the first request to meet a lost connection
 * says so; the others (other threads, other connections) fail quietly.
 */
static int request_error(struct nbd_export *x, struct conn *c, const char *what, uint64_t off)
{
	int r = io_errno();
	bool lost = !c->h || nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h);

	if (!lost)
		log_err("%s: NBD %s at offset %llu: %s", x->name, what, (unsigned long long)off,
			nbd_get_error());
	else if (!atomic_exchange(&x->lost_said, true))
		log_err("%s: the connection to the NBD server was lost: %s", x->name,
			nbd_get_error());
	return r;
}

/*
 * Closes a connection that cannot go on. nbd_close abandons what is in
 * flight, so no late reply can land in a buffer the caller has taken back.
 */
static void conn_drop(struct conn *c, int err)
{
	nbd_close(c->h);
	c->h = NULL;
	c->err = err ? err : -EIO;
}

/*
 * Before waiting for replies on TCP: acknowledge at once what arrives. A
 * server that leaves Nagle's algorithm on (qemu-nbd 7.2 does) holds each
 * small reply back until the previous one is acknowledged, and the kernel
 * delays that acknowledgement for up to 40 ms when we have nothing to send:
 * measured, 1 GiB of 1 MiB writes took 11 s instead of 0.9 s. Quick-ack mode
 * does not stay on by itself, hence every time. Advice only.
 */
static void quick_ack(struct nbd_handle *h)
{
	int one = 1, fd = nbd_aio_get_fd(h);

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

/* One request on connection c, in pieces, IN_FLIGHT at a time; waits for all of them. */
static int conn_rw(struct nbd_export *x, struct conn *c, bool write, uint8_t *p, size_t len,
		   uint64_t off)
{
	const char *what = write ? "write" : "read";
	int64_t cookie[IN_FLIGHT];
	uint64_t at[IN_FLIGHT];
	unsigned head = 0, n = 0;
	int r = 0, done;

	if (!c->h)
		return c->err;
	while (len > 0 || n > 0) {
		while (r == 0 && len > 0 && n < IN_FLIGHT) {
			size_t k = len < x->piece ? len : x->piece;
			int64_t ck = write ? nbd_aio_pwrite(c->h, p, k, off, NBD_NULL_COMPLETION, 0)
					   : nbd_aio_pread(c->h, p, k, off, NBD_NULL_COMPLETION, 0);
			if (ck < 0) {
				r = request_error(x, c, what, off);
				break;
			}
			cookie[(head + n) % IN_FLIGHT] = ck;
			at[(head + n) % IN_FLIGHT] = off;
			n++;
			p += k;
			len -= k;
			off += k;
		}
		if (r < 0)
			len = 0; /* issue nothing more, collect what is out */
		if (n == 0)
			break;
		done = nbd_aio_command_completed(c->h, cookie[head]);
		if (done < 0 && r == 0)
			r = request_error(x, c, what, at[head]);
		if (done != 0) {
			head = (head + 1) % IN_FLIGHT;
			n--;
			continue;
		}
		if (x->tcp)
			quick_ack(c->h);
		if (nbd_poll(c->h, -1) < 0) {
			if (r == 0)
				r = request_error(x, c, what, at[head]);
			conn_drop(c, r);
			return r;
		}
	}
	if (r < 0 && (nbd_aio_is_dead(c->h) || nbd_aio_is_closed(c->h)))
		conn_drop(c, r);
	return r;
}

static int export_rw(struct nbd_export *x, bool write, void *buf, size_t len, uint64_t off)
{
	struct conn *c;
	int r;

	if (off > x->size || len > x->size - off)
		return write ? -ENOSPC : -ENODATA;
	if (len == 0)
		return 0;
	c = conn_get(x);
	r = conn_rw(x, c, write, buf, len, off);
	conn_put(c);
	return r;
}

/*
 * A request the server's minimum block size does not divide (qcow v1 and
 * some VMDKs want 512 bytes): the aligned range around it, through a bounce
 * buffer; a write reads that range first and holds x->rmw meanwhile.
 */
static int export_widened(struct nbd_export *x, bool write, uint8_t *buf, size_t len, uint64_t off)
{
	uint64_t start = off / x->align * x->align;
	uint64_t end = (off + len + x->align - 1) / x->align * x->align;
	uint8_t *bounce;
	int r;

	if (end > x->size)
		return write ? -ENOSPC : -ENODATA;
	bounce = malloc((size_t)(end - start));
	if (!bounce)
		return -ENOMEM;
	if (write)
		pthread_mutex_lock(&x->rmw);
	r = export_rw(x, false, bounce, (size_t)(end - start), start);
	if (r == 0 && write) {
		memcpy(bounce + (off - start), buf, len);
		r = export_rw(x, true, bounce, (size_t)(end - start), start);
	} else if (r == 0) {
		memcpy(buf, bounce + (off - start), len);
	}
	if (write)
		pthread_mutex_unlock(&x->rmw);
	free(bounce);
	return r;
}

static bool aligned(const struct nbd_export *x, size_t len, uint64_t off)
{
	return x->align <= 1 || (off % x->align == 0 && len % x->align == 0);
}

static int export_pread(void *be, void *buf, size_t len, uint64_t off)
{
	struct nbd_export *x = be;

	if (!aligned(x, len, off))
		return export_widened(x, false, buf, len, off);
	return export_rw(x, false, buf, len, off);
}

static int export_pwrite(void *be, const void *buf, size_t len, uint64_t off)
{
	struct nbd_export *x = be;

	if (x->read_only)
		return -EROFS;
	if (!aligned(x, len, off))
		return export_widened(x, true, (void *)buf, len, off);
	/* libnbd only reads from a write's buffer. */
	return export_rw(x, true, (void *)buf, len, off);
}

/*
 * NBD_CMD_FLUSH. With several connections this is enough on one of them: a
 * server that announces multi-conn (the only case with more than one) makes a
 * flush cover the writes completed on all its connections.
 */
static int export_sync(void *be)
{
	struct nbd_export *x = be;
	struct conn *c;
	int r = 0;

	if (x->read_only || !x->can_flush)
		return 0;
	c = conn_get(x);
	if (!c->h)
		r = c->err;
	else if (nbd_flush(c->h, 0) < 0)
		r = request_error(x, c, "flush", 0);
	conn_put(c);
	return r;
}

static int export_size(void *be, uint64_t *ret_size)
{
	*ret_size = ((struct nbd_export *)be)->size;
	return 0;
}

/*
 * NBD_CMD_TRIM. Its contents afterwards are the server's choice (zeros or the
 * old bytes): enough for a discard, whose sectors read back as garbage anyway.
 */
static int export_punch(void *be, uint64_t off, uint64_t len)
{
	struct nbd_export *x = be;
	struct conn *c;
	int r = 0;

	if (!x->can_trim)
		return -EOPNOTSUPP;
	if (off > x->size || len > x->size - off)
		return -EINVAL;
	c = conn_get(x);
	while (r == 0 && len > 0) {
		uint64_t k = len < LENGTH_MAX ? len : LENGTH_MAX;
		if (!c->h)
			r = c->err;
		else if (nbd_trim(c->h, k, off, 0) < 0)
			r = request_error(x, c, "trim", off);
		off += k;
		len -= k;
	}
	conn_put(c);
	return r;
}

struct extent_run {
	uint64_t run;
	bool data;
	bool seen, ended;
};

/* Merges the leading extents of the same kind into one run. */
static int extent_cb(void *user, const char *context, uint64_t off, uint32_t *entries, size_t n,
		     int *error)
{
	struct extent_run *e = user;

	(void)off;
	(void)error;
	if (strcmp(context, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
		return 0;
	for (size_t i = 0; i + 1 < n && !e->ended; i += 2) {
		/*
		 * A hole for the library reads as zeros. NBD_STATE_HOLE alone only
		 * says unallocated (a backing file may still show through): only with
		 * NBD_STATE_ZERO is it one.
		 */
		const uint32_t hole = LIBNBD_STATE_HOLE | LIBNBD_STATE_ZERO;
		bool data = (entries[i + 1] & hole) != hole;
		if (!e->seen) {
			e->seen = true;
			e->data = data;
			e->run = entries[i];
		} else if (data == e->data) {
			e->run += entries[i];
		} else {
			e->ended = true;
		}
	}
	return 0;
}

static int export_block_status(void *be, uint64_t off, uint64_t len, uint64_t *ret_run,
			       bool *ret_data)
{
	struct nbd_export *x = be;
	struct extent_run e = {0};
	struct conn *c;
	uint64_t ask = len < LENGTH_MAX ? len : LENGTH_MAX;
	int r = 0;

	*ret_run = len;
	*ret_data = true;
	/* Without base:allocation (or past the end, where a read fails anyway): all data. */
	if (!x->base_allocation || off >= x->size)
		return 0;
	if (ask > x->size - off)
		ask = x->size - off;
	c = conn_get(x);
	if (!c->h)
		r = c->err;
	else if (nbd_block_status(c->h, ask, off,
				  (nbd_extent_callback){.callback = extent_cb, .user_data = &e},
				  0) < 0)
		r = request_error(x, c, "block status", off);
	conn_put(c);
	if (r < 0)
		return r;
	if (e.seen && e.run > 0) {
		*ret_run = e.run < len ? e.run : len;
		*ret_data = e.data;
	}
	return 0;
}

static void export_close(void *be)
{
	struct nbd_export *x = be;

	for (unsigned i = 0; i < x->nconn; i++) {
		/* A clean goodbye (NBD_CMD_DISC) where the connection still stands. */
		if (x->conn[i].h)
			(void)nbd_shutdown(x->conn[i].h, 0);
		nbd_close(x->conn[i].h);
	}
	for (unsigned i = 0; i < EXPORT_CONNS; i++)
		pthread_mutex_destroy(&x->conn[i].lock);
	pthread_mutex_destroy(&x->rmw);
	if (x->on_close)
		x->on_close(x->on_close_arg);
	free(x->name);
	free(x);
}

static const struct storage_backend_ops export_ops = {
    .name = "nbd",
    .pread = export_pread,
    .pwrite = export_pwrite,
    .sync = export_sync,
    .size = export_size,
    .truncate = NULL, /* an export has a fixed size */
    .punch = export_punch,
    .block_status = export_block_status,
    .lock = NULL, /* the server arbitrates its clients */
    .fd = NULL,	  /* no descriptor a probe could use */
    .close = export_close,
};

/*
 * Logs why a connection failed. libnbd quotes a URI it cannot parse whole:
 * the URI is shown as x->name instead, a lone query string as "?...".
 */
static void connect_error(const struct nbd_export *x, const char *uri, bool quiet)
{
	const char *e = nbd_get_error(), *q = strchr(uri, '?'), *hit, *with = x->name;
	size_t cut = 0;

	if (!e)
		e = "unknown error";
	if ((hit = strstr(e, uri))) {
		cut = strlen(uri);
	} else if (q && (hit = strstr(e, q))) {
		cut = strlen(q);
		with = "?...";
	}
	if (!hit)
		hit = e + strlen(e);
	if (quiet)
		log_debug("%s: another connection: %.*s%s%s", x->name, (int)(hit - e), e,
			  cut ? with : "", hit + cut);
	else
		log_err("%s: %.*s%s%s", x->name, (int)(hit - e), e, cut ? with : "", hit + cut);
}

/* One connection to uri. quiet: a failure is no error (an extra connection). */
static int conn_open(const struct nbd_export *x, const char *uri, bool quiet,
		     struct nbd_handle **ret_h)
{
	struct nbd_handle *h = nbd_create();
	int r;

	if (!h) {
		log_err("%s: %s", x->name, nbd_get_error());
		return -ENOMEM;
	}
	/*
	 * TCP and Unix sockets only. Local files named in the URI (tls-psk-file,
	 * tls-certificates) are allowed: the URI comes from the user vmcrypt runs
	 * as. pread_initialize off: a failed read is an error, its buffer unused.
	 */
	if (nbd_set_uri_allow_transports(h, LIBNBD_ALLOW_TRANSPORT_TCP |
						LIBNBD_ALLOW_TRANSPORT_UNIX) < 0 ||
	    nbd_set_uri_allow_local_file(h, true) < 0 || nbd_set_pread_initialize(h, false) < 0 ||
	    nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0 ||
	    nbd_connect_uri(h, uri) < 0) {
		r = connect_errno();
		connect_error(x, uri, quiet);
		nbd_close(h);
		return r;
	}
	*ret_h = h;
	return 0;
}

/* Reads what the server says about the export from the first connection. */
static int export_probe(struct nbd_export *x, struct nbd_handle *h)
{
	int64_t size = nbd_get_size(h), max, min;
	int ro = nbd_is_read_only(h);

	if (size < 0 || ro < 0) {
		log_err("%s: %s", x->name, nbd_get_error());
		return connect_errno();
	}
	if (ro && !x->read_only) {
		log_err("%s: the NBD server exports it read-only, and it must be written", x->name);
		return -EROFS;
	}
	x->size = (uint64_t)size;
	x->can_flush = nbd_can_flush(h) == 1;
	x->can_trim = nbd_can_trim(h) == 1;
	x->base_allocation = nbd_can_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
	min = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM);
	x->align = min > 1 && min <= 65536 ? (uint64_t)min : 1;
	max = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);
	if (max <= 0 || max > REQUEST_MAX)
		max = REQUEST_MAX;
	x->piece = (size_t)max < PIECE_MAX ? (size_t)max : PIECE_MAX;
	return 0;
}

int storage_nbd_open(const char *uri, unsigned flags, struct storage **ret_st)
{
	return storage_nbd_open_server(uri, flags, NULL, NULL, NULL, ret_st);
}

int storage_nbd_open_server(const char *uri, unsigned flags, const char *name,
			    void (*on_close)(void *arg), void *arg, struct storage **ret_st)
{
	struct storage_backend_info info = {.read_only = flags & STORAGE_RDONLY, .regular = false};
	struct nbd_export *x = calloc(1, sizeof(*x));
	struct nbd_handle *h = NULL;
	int r;

	if (!x) {
		if (on_close)
			on_close(arg);
		return -ENOMEM;
	}
	x->on_close = on_close;
	x->on_close_arg = arg;
	for (unsigned i = 0; i < EXPORT_CONNS; i++)
		pthread_mutex_init(&x->conn[i].lock, NULL);
	pthread_mutex_init(&x->rmw, NULL);
	x->read_only = info.read_only;
	x->tcp = strncmp(uri, "nbd://", 6) == 0 || strncmp(uri, "nbds://", 7) == 0;
	x->name = name ? strdup(name) : uri_display(uri);
	if (!x->name) {
		r = -ENOMEM;
		goto fail;
	}
	if (flags & STORAGE_CREATE) {
		log_err("%s: an NBD export cannot be created: export an existing image or device "
			"and write into it",
			x->name);
		r = -EOPNOTSUPP;
		goto fail;
	}
	if ((r = conn_open(x, uri, false, &h)) < 0)
		goto fail;
	x->conn[0].h = h;
	x->nconn = 1;
	if ((r = export_probe(x, h)) < 0)
		goto fail;
	/* More connections only where the server keeps them coherent (NBD_FLAG_CAN_MULTI_CONN). */
	while (nbd_can_multi_conn(h) == 1 && x->nconn < EXPORT_CONNS) {
		struct nbd_handle *more = NULL;
		if (conn_open(x, uri, true, &more) < 0)
			break;
		if (nbd_get_size(more) != (int64_t)x->size) {
			nbd_close(more);
			break;
		}
		x->conn[x->nconn++].h = more;
	}
	log_debug("%s: NBD export of %llu bytes, %u connection(s), requests of %zu bytes", x->name,
		  (unsigned long long)x->size, x->nconn, x->piece);
	/* storage_new copies the name before it could close x. */
	return storage_new(&export_ops, x, x->name, &info, ret_st);
fail:
	export_close(x);
	return r;
}
