/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Passphrases, key files, volume key files and confirmations, all into secret memory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "passphrase.h"
#include "progress.h"
#include "vmcrypt.h"

#define CHUNK	   4096
#define ANSWER_MAX 16

/*
 * A secret buffer that grows by moving into a larger secret buffer; the old one
 * is wiped by vmc_secret_free. Only read(2) writes into it: no stdio buffer ever
 * holds a copy of the secret.
 */
struct sbuf {
	uint8_t *p;
	size_t len;
	size_t cap;
};

static int sbuf_reserve(struct sbuf *b, size_t cap)
{
	uint8_t *n;

	if (cap <= b->cap)
		return 0;
	n = vmc_secret_alloc(cap);
	if (!n)
		return -ENOMEM;
	if (b->len)
		memcpy(n, b->p, b->len);
	vmc_secret_free(b->p);
	b->p = n;
	b->cap = cap;
	return 0;
}

static int sbuf_grow(struct sbuf *b, size_t max)
{
	size_t cap = b->cap ? b->cap * 2 : CHUNK;

	return sbuf_reserve(b, cap < max ? cap : max);
}

static void sbuf_free(struct sbuf *b)
{
	vmc_secret_free(b->p);
	*b = (struct sbuf){NULL, 0, 0};
}

/* Hands the contents over; an empty result still gets a (1-byte) buffer. */
static int sbuf_take(struct sbuf *b, uint8_t **ret_buf, size_t *ret_len)
{
	int r = sbuf_reserve(b, 1);

	if (r < 0)
		return r;
	*ret_buf = b->p;
	*ret_len = b->len;
	*b = (struct sbuf){NULL, 0, 0};
	return 0;
}

static void write_str(int fd, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;

	while (len > 0) {
		n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

/*
 * Reads one line byte by byte (so nothing after the newline is consumed) into b,
 * without the newline. -E2BIG when longer than max; -ECANCELED on Ctrl-C.
 */
static int read_line(int fd, size_t max, struct sbuf *b)
{
	ssize_t n;
	int r;

	for (;;) {
		/* max characters and room for the newline. */
		if (b->len == b->cap) {
			r = sbuf_grow(b, max + 1);
			if (r < 0)
				return r;
		}
		n = read(fd, b->p + b->len, 1);
		if (n < 0 && errno == EINTR && cancel_requested())
			return -ECANCELED;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0 || b->p[b->len] == '\n')
			break;
		if (++b->len > max)
			return -E2BIG;
	}
	b->p[b->len] = 0;
	return 0;
}

/* Reads up to EOF; at most max bytes (more is -EFBIG) or, with exact, exactly max. */
static int read_to_eof(int fd, size_t max, bool exact, struct sbuf *b)
{
	uint8_t extra = 0;
	ssize_t n;
	int r;

	while (b->len < max) {
		if (b->len == b->cap) {
			r = sbuf_grow(b, max);
			if (r < 0)
				return r;
		}
		n = read(fd, b->p + b->len, b->cap - b->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
	if (exact)
		return b->len == max ? 0 : -ENODATA;
	if (b->len < max)
		return 0;
	do
		n = read(fd, &extra, 1);
	while (n < 0 && errno == EINTR);
	explicit_bzero(&extra, sizeof(extra));
	return n > 0 ? -EFBIG : 0;
}

/* Skips offset bytes: a seek on a regular file, reads (then wiped) on a pipe. */
static int skip_bytes(int fd, uint64_t offset)
{
	uint8_t junk[CHUNK];
	struct stat st;
	ssize_t n;
	int r = 0;

	if (offset == 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		return lseek(fd, (off_t)offset, SEEK_SET) < 0 ? -errno : 0;
	while (offset > 0) {
		n = read(fd, junk, offset < sizeof(junk) ? offset : sizeof(junk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -ENODATA;
			break;
		}
		offset -= (uint64_t)n;
	}
	explicit_bzero(junk, sizeof(junk));
	return r;
}

/*
 * A key file that is too large, a directory or too short is the caller's
 * mistake, as an empty one is: usage (status 1), never an I/O error.
 */
static int file_error(int err, const char *what, const char *path, uint64_t size)
{
	if (err == -EFBIG)
		return fail(-EINVAL, "%s %s: larger than %zu bytes", what, path, (size_t)size);
	if (err == -EISDIR)
		return fail(-EINVAL, "%s %s: is a directory", what, path);
	if (err == -ENODATA)
		return fail(-EINVAL, "%s %s: shorter than %zu bytes", what, path, (size_t)size);
	if (err == -ENOMEM)
		return fail(err, "out of secret memory");
	return fail(err, "%s %s: %s", what, path, strerror(-err));
}

/*
 * Reads a key file ("-": stdin): size bytes after offset, or everything after
 * offset up to max. No newline stripping, as cryptsetup.
 */
static int file_read(const char *what, const char *path, uint64_t offset, uint64_t size, size_t max,
		     struct sbuf *b)
{
	bool std = strcmp(path, "-") == 0;
	int fd = std ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0)
		return fail(-errno, "%s %s: %s", what, path, strerror(errno));
	r = skip_bytes(fd, offset);
	if (r == -ENODATA)
		r = fail(-EINVAL, "%s %s: shorter than --keyfile-offset", what, path);
	else if (r < 0)
		r = file_error(r, what, path, 0);
	if (r == 0) {
		r = read_to_eof(fd, size ? size : max, size != 0, b);
		if (r < 0)
			r = file_error(r, what, path, size ? size : max);
	}
	if (r == 0 && b->len == 0)
		r = fail(-EINVAL, "%s %s: empty", what, path);
	if (!std)
		close(fd);
	return r;
}

bool interactive(void)
{
	return isatty(STDIN_FILENO);
}

/*
 * The terminal: /dev/tty, else stdin/stderr when stdin is one. Returns the
 * descriptor to read (and *ret_out to write) or -1.
 */
static int tty_open(bool stdin_ok, int *ret_out)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

	*ret_out = fd;
	if (fd >= 0)
		return fd;
	if (!stdin_ok || !isatty(STDIN_FILENO))
		return -1;
	*ret_out = STDERR_FILENO;
	return STDIN_FILENO;
}

static void tty_close(int fd)
{
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Asks on the terminal, echo off; Ctrl-C restores the terminal and cancels. */
static int tty_ask(int in, int out, const char *prompt, bool echo, size_t max, struct sbuf *b)
{
	struct termios old, quiet;
	bool restore = false;
	int r;

	write_str(out, prompt);
	if (!echo && tcgetattr(in, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
		restore = tcsetattr(in, TCSAFLUSH, &quiet) == 0;
	}
	cancel_catch(true);
	r = read_line(in, max, b);
	cancel_release();
	if (restore)
		tcsetattr(in, TCSAFLUSH, &old);
	if (!echo || r == -ECANCELED)
		write_str(out, "\n");
	return r;
}

static int prompt_error(int r)
{
	if (r == -E2BIG)
		return fail(-EINVAL, "passphrase longer than %d characters", PASS_TTY_MAX);
	if (r == -ECANCELED)
		return fail(r, "cancelled");
	if (r == -ENOMEM)
		return fail(r, "out of secret memory");
	return fail(r, "cannot read the passphrase: %s", strerror(-r));
}

/* Both buffers hold the same bytes; no early exit on the first difference. */
static bool same(const struct sbuf *a, const struct sbuf *b)
{
	uint8_t diff = 0;
	size_t i;

	if (a->len != b->len)
		return false;
	for (i = 0; i < a->len; i++)
		diff |= a->p[i] ^ b->p[i];
	return diff == 0;
}

static int tty_passphrase(const struct key_source *ks, struct sbuf *b)
{
	struct sbuf again = {NULL, 0, 0};
	char prompt[512];
	int in, out, r;

	in = tty_open(!ks->stdin_busy, &out);
	if (in < 0)
		return fail(-EINVAL, "no terminal to ask the passphrase on; use --key-file FILE");
	snprintf(prompt, sizeof(prompt), "Enter passphrase for %s: ", ks->image);
	r = tty_ask(in, out, prompt, false, PASS_TTY_MAX, b);
	if (r == 0 && ks->verify)
		r = tty_ask(in, out, "Verify passphrase: ", false, PASS_TTY_MAX, &again);
	if (r < 0)
		r = prompt_error(r);
	else if (ks->verify && !same(b, &again))
		r = fail(VMC_EPASS, "passphrases do not match");
	sbuf_free(&again);
	tty_close(in);
	return r;
}

/* systemd-ask-password, or a stand-in for tests. */
static const char *ask_password_program(void)
{
	const char *p = getenv("VMCRYPT_ASK_PASSWORD");

	return p && *p ? p : "systemd-ask-password";
}

/*
 * Runs systemd-ask-password (which asks on the terminal, else through a password
 * agent) and reads the line it prints from a pipe: the passphrase is never on a
 * command line or in the environment, and only read(2) copies it into b.
 */
static int ask_password(const char *image, struct sbuf *b)
{
	char id[PATH_MAX + 16], prompt[PATH_MAX + 32];
	const char *prog = ask_password_program();
	int out[2] = {-1, -1}, st = 0, r;
	pid_t pid;

	snprintf(id, sizeof(id), "--id=vmcrypt:%s", image);
	snprintf(prompt, sizeof(prompt), "Passphrase for %s:", image);
	if (pipe2(out, O_CLOEXEC) < 0)
		return fail(-errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		r = fail(-errno, "fork: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		return r;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls until exec. */
		if (dup2(out[1], STDOUT_FILENO) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execlp(prog, prog, id, "--icon=drive-harddisk", "--timeout=0", prompt,
		       (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	r = read_line(out[0], PASS_TTY_MAX, b);
	close(out[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (r == -E2BIG)
		return fail(-EINVAL, "%s: passphrase longer than %d characters", prog,
			    PASS_TTY_MAX);
	if (r < 0)
		return fail(r, "reading from %s: %s", prog, strerror(-r));
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return fail(-ENOENT, "cannot run %s", prog);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return fail(-ECANCELED, "%s gave no passphrase (cancelled or timed out)", prog);
	return 0;
}

/*
 * The systemd unit's passphrase: the credential when the service was given one
 * (LoadCredential=, LoadCredentialEncrypted=), else systemd-ask-password.
 */
static int systemd_passphrase(const struct key_source *ks, struct sbuf *b)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[PATH_MAX];
	int n;

	if (dir && *dir) {
		n = snprintf(path, sizeof(path), "%s/" PASS_CREDENTIAL, dir);
		if (n < 0 || (size_t)n >= sizeof(path))
			return fail(-ENAMETOOLONG, "$CREDENTIALS_DIRECTORY is too long");
		if (access(path, F_OK) == 0)
			return file_read("credential", path, 0, 0, KEYFILE_MAX, b);
	}
	return ask_password(ks->image, b);
}

int passphrase_read(const struct key_source *ks, uint8_t **ret_pass, size_t *ret_len)
{
	struct sbuf b = {NULL, 0, 0};
	int r;

	if (ks->public_key) {
		*ret_pass = vmc_secret_alloc(sizeof(VMC_PUBLIC_PASSPHRASE));
		if (!*ret_pass)
			return -ENOMEM;
		memcpy(*ret_pass, VMC_PUBLIC_PASSPHRASE, sizeof(VMC_PUBLIC_PASSPHRASE) - 1);
		*ret_len = sizeof(VMC_PUBLIC_PASSPHRASE) - 1;
		return 0;
	}
	if (ks->key_file)
		r = file_read("key file", ks->key_file, ks->keyfile_offset, ks->keyfile_size,
			      KEYFILE_MAX, &b);
	else if (ks->systemd)
		r = systemd_passphrase(ks, &b);
	else if (ks->stdin_busy || interactive())
		r = tty_passphrase(ks, &b);
	else if ((r = read_line(STDIN_FILENO, KEYFILE_MAX, &b)) == -E2BIG)
		r = fail(-EINVAL, "passphrase on standard input: larger than %u bytes",
			 KEYFILE_MAX);
	else if (r < 0)
		r = prompt_error(r);
	if (r == 0)
		r = sbuf_take(&b, ret_pass, ret_len);
	sbuf_free(&b);
	return r;
}

int secret_file_read(const char *path, size_t max, uint8_t **ret_buf, size_t *ret_len)
{
	struct sbuf b = {NULL, 0, 0};
	int r;

	r = file_read("volume key file", path, 0, 0, max, &b);
	if (r == 0)
		r = sbuf_take(&b, ret_buf, ret_len);
	sbuf_free(&b);
	return r;
}

int confirm(const char *warning)
{
	struct sbuf answer = {NULL, 0, 0};
	int in, out, r;

	in = tty_open(true, &out);
	if (in < 0)
		return fail(-EINVAL, "no terminal to confirm on; use --batch-mode");
	write_str(out, warning);
	r = tty_ask(in, out, "\nAre you sure? (Type 'yes' in capital letters): ", true, ANSWER_MAX,
		    &answer);
	if (r == 0 && !(answer.len == 3 && memcmp(answer.p, "YES", 3) == 0))
		r = -ECANCELED;
	if (r == -E2BIG)
		r = -ECANCELED;
	if (r == -ECANCELED)
		r = fail(r, "cancelled");
	else if (r < 0)
		r = fail(r, "cannot read the answer: %s", strerror(-r));
	sbuf_free(&answer);
	tty_close(in);
	return r;
}
