# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared helpers of the interop tests (sourced, in the style of nbdkit's functions.sh).
#
# A test script does:
#   . "${SRCDIR:-$(dirname "$0")}/functions.sh"
#   requires cryptsetup
#   case_foo() { ...; }            # runs in its own directory, set -e, fails on first error
#   run_case "foo" case_foo args
#   finish                         # exit 0, or 1 naming the failed cases
#
# Environment: VMCRYPT (the vmcrypt binary, required), SRCDIR (this directory),
# KEEP_TMP=1 keeps the temporary directory for inspection.
# Exit status 77 means skipped; the reason is printed as "SKIP: ...".

set -euo pipefail
set -E

VMCRYPT=${VMCRYPT:?VMCRYPT must name the vmcrypt binary under test}
# The system interpreter starts several times faster than a version manager's shim.
if [ -z "${PYTHON:-}" ]; then
	if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
SRCDIR=${SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
SRCDIR=$(cd "$SRCDIR" && pwd)
TEST_NAME=$(basename "$0" .sh)
export LC_ALL=C

# Fast key derivation everywhere: the tests are about formats, not KDF cost.
# shellcheck disable=SC2034 # used by the test scripts
FAST_PBKDF2=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
# shellcheck disable=SC2034
FAST_ARGON2ID=(--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32 --pbkdf-parallel 1)
# shellcheck disable=SC2034
FAST_ARGON2I=(--pbkdf argon2i --pbkdf-force-iterations 4 --pbkdf-memory 32 --pbkdf-parallel 1)

# vmcrypt's documented exit statuses.
EXIT_OK=0 EXIT_USAGE=1 EXIT_PASS=2 EXIT_NOMEM=3 EXIT_NOTLUKS=4 EXIT_BUSY=5
EXIT_CORRUPT=6 EXIT_NOTSUP=7 EXIT_IO=8 EXIT_CANCELLED=9
export EXIT_OK EXIT_USAGE EXIT_PASS EXIT_NOMEM EXIT_NOTLUKS EXIT_BUSY EXIT_CORRUPT EXIT_NOTSUP \
	EXIT_IO EXIT_CANCELLED

skip()
{
	echo "SKIP: $TEST_NAME: $*"
	exit 77
}

# requires CMD            skip unless CMD is on PATH
# requires CMD ARGS...    skip unless the command runs successfully
requires()
{
	if [ $# -eq 1 ]; then
		command -v "$1" >/dev/null 2>&1 || skip "'$1' is not installed"
	else
		"$@" >/dev/null 2>&1 || skip "'$*' failed"
	fi
}

requires_python_libcrypto()
{
	requires "$PYTHON"
	"$PYTHON" -S -c 'import ctypes; ctypes.CDLL("libcrypto.so.3")' >/dev/null 2>&1 ||
		skip "python3 cannot load libcrypto.so.3 (needed by refxts.py)"
}

# fail MSG...: report and end the current case (or the script).
fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

# Per-test temporary directory, removed on exit unless KEEP_TMP=1.
TMPDIR_TEST=$(mktemp -d "${TMPDIR:-/tmp}/vmcrypt-$TEST_NAME.XXXXXX")
cleanup()
{
	local rc=$?
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "kept $TMPDIR_TEST" >&2
	else
		rm -rf "$TMPDIR_TEST"
	fi
	exit "$rc"
}
trap cleanup EXIT
cd "$TMPDIR_TEST"

# Passphrase files (secrets go through files, never argv): PASS opens the test
# images, PASS2 is a second passphrase for other keyslots, WRONG opens nothing.
PASS=$TMPDIR_TEST/pass PASS2=$TMPDIR_TEST/pass2 WRONG=$TMPDIR_TEST/wrong
printf '%s' 'correct horse battery' >"$PASS"
printf '%s' 'second passphrase 2' >"$PASS2"
printf '%s' 'correct horse batterx' >"$WRONG"

# Report the failing command of a case (set -e ends it; this says which and where).
on_err()
{
	local rc=$?
	echo "command failed (exit $rc) at ${BASH_SOURCE[1]:-?}:${BASH_LINENO[0]:-?}: $BASH_COMMAND" >&2
}

FAILED_CASES=()
PASSED_CASES=0

# run_case NAME FUNC ARGS...: runs FUNC in a subshell, in a fresh directory, with
# set -e; a failure ends that case only and is counted.
run_case()
{
	local name=$1 dir rc start
	shift
	start=$SECONDS
	dir=$(mktemp -d "$TMPDIR_TEST/case.XXXXXX")
	echo "=== $name"
	set +e
	(
		set -eEuo pipefail
		trap on_err ERR
		cd "$dir"
		"$@"
	)
	rc=$?
	set -e
	if [ "$rc" -eq 0 ]; then
		echo "--- PASS: $name ($((SECONDS - start)) s)"
		PASSED_CASES=$((PASSED_CASES + 1))
		[ "${KEEP_TMP:-0}" = 1 ] || rm -rf "$dir"
	else
		echo "--- FAIL: $name ($((SECONDS - start)) s; files in $dir)"
		FAILED_CASES+=("$name")
	fi
}

finish()
{
	echo "$TEST_NAME: ${PASSED_CASES} passed, ${#FAILED_CASES[@]} failed"
	if [ "${#FAILED_CASES[@]}" -gt 0 ]; then
		printf '  failed: %s\n' "${FAILED_CASES[@]}"
		exit 1
	fi
	exit 0
}

# --- files ----------------------------------------------------------------------

sha256()
{
	sha256sum "$1" | cut -d' ' -f1
}

# sha256 of LEN bytes of FILE from byte OFFSET.
sha256_range()
{
	local file=$1 offset=$2 len=$3
	"$PYTHON" -S - "$file" "$offset" "$len" <<'EOF'
import hashlib, sys
path, off, ln = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
h = hashlib.sha256()
with open(path, "rb") as f:
    f.seek(off)
    while ln > 0:
        b = f.read(min(ln, 1 << 20))
        if not b:
            break
        h.update(b)
        ln -= len(b)
print(h.hexdigest() if ln == 0 else "short-file")
EOF
}

filesize()
{
	stat -c %s "$1"
}

# make_plain FILE KIB: random plaintext with some all-zero 64 KiB runs (so a
# sparse-output bug or a zero-block shortcut shows) and a recognisable first block.
make_plain()
{
	local file=$1 kib=$2
	"$PYTHON" -S - "$file" "$kib" <<'EOF'
import os, sys
path, kib = sys.argv[1], int(sys.argv[2])
size = kib * 1024
data = bytearray(os.urandom(size))
for start in range(65536, size, 5 * 65536):      # zero runs
    data[start:start + 65536] = bytes(min(65536, size - start))
head = b"vmcrypt interop plaintext\n"
data[:len(head)] = head
if size >= 4096:
    data[size - 4096:] = os.urandom(4096)          # the last sector is never zero
with open(path, "wb") as f:
    f.write(data)
EOF
}

# expect_same FILE_A FILE_B WHAT: byte-identical, else report both digests.
expect_same()
{
	local a=$1 b=$2 what=$3 ha hb
	[ -e "$a" ] || fail "$what: $a does not exist"
	[ -e "$b" ] || fail "$what: $b does not exist"
	ha=$(sha256 "$a")
	hb=$(sha256 "$b")
	if [ "$ha" != "$hb" ]; then
		echo "$what: $a ($(filesize "$a") bytes, sha256 $ha)" >&2
		echo "$what: $b ($(filesize "$b") bytes, sha256 $hb)" >&2
		cmp "$a" "$b" 2>&1 | head -3 >&2 || true
		fail "$what: contents differ"
	fi
}

# expect_eq ACTUAL EXPECTED WHAT
expect_eq()
{
	if [ "$1" != "$2" ]; then
		fail "$3: got '$1', expected '$2'"
	fi
}

# expect_exit CODE CMD...: runs CMD, output in ./last.out and ./last.err; fails
# unless it exits with CODE.
expect_exit()
{
	local want=$1 rc
	shift
	rc=0
	"$@" >last.out 2>last.err </dev/null || rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "command: $*" >&2
		echo "stdout:" >&2
		head -c 2000 last.out >&2
		echo "stderr:" >&2
		head -c 2000 last.err >&2
		fail "expected exit $want, got $rc: $*"
	fi
}

# expect_unchanged FILE CMD...: like running CMD, but fails if FILE's bytes change.
# The command's exit status is returned; its output goes to last.out/last.err.
expect_unchanged()
{
	local file=$1 before after rc
	shift
	before=$(sha256 "$file")
	rc=0
	"$@" >last.out 2>last.err </dev/null || rc=$?
	after=$(sha256 "$file")
	if [ "$before" != "$after" ]; then
		echo "command: $* (exit $rc)" >&2
		head -c 2000 last.err >&2
		fail "$file changed (sha256 $before -> $after) although it must not"
	fi
	return "$rc"
}

# --- peers ----------------------------------------------------------------------

# cryptsetup on image files: no locking (its lock dir is root-only), never a prompt.
cs()
{
	cryptsetup --disable-locks "$@"
}

# refxts ARGS...: the independent reference sector cipher.
refxts()
{
	"$PYTHON" -S "$SRCDIR/refxts.py" "$@"
}

# luksmeta ARGS...: parse dumps and raw LUKS2 headers.
luksmeta()
{
	if [ "$1" = field ] && [ $# -eq 3 ]; then
		# Parse each dump once: fields are asked for many times.
		local facts
		facts=$2.facts.$(sha256 "$2")
		if [ ! -e "$facts" ]; then
			"$PYTHON" -S "$SRCDIR/luksmeta.py" fields "$2" >"$facts.tmp"
			mv "$facts.tmp" "$facts"
		fi
		sed -n "s/^$3=//p" "$facts"
		return 0
	fi
	"$PYTHON" -S "$SRCDIR/luksmeta.py" "$@"
}

vmc()
{
	"$VMCRYPT" "$@"
}

# cs_volume_key IMAGE KEYFILE OUTFILE [cryptsetup args]: the volume key as
# cryptsetup reports it, in hex.
cs_volume_key()
{
	local img=$1 key=$2 out=$3
	shift 3
	cs luksDump --dump-volume-key --batch-mode --key-file "$key" "$@" "$img" >cs-vk.txt
	luksmeta volume-key cs-vk.txt >"$out"
	[ -s "$out" ] || fail "no volume key in cryptsetup's output"
}

# qemu_img_luks ARGS...: qemu-img ARGS (a command that writes a LUKS header), retried
# because QEMU's PBKDF benchmark sometimes fails ("Unable to get accurate CPU usage":
# its first timing round can measure 0 ms of thread CPU time, more often on a busy
# machine). A failed try costs milliseconds, so try many times. Fails the case on
# any other error, or after 30 tries.
qemu_img_luks()
{
	local i
	for i in $(seq 1 30); do
		if qemu-img "$@" 2>qemu.err; then
			return 0
		fi
		grep -q 'accurate CPU usage' qemu.err || break
		[ "$i" -gt 1 ] || echo "qemu-img's PBKDF benchmark failed; retrying" >&2
	done
	cat qemu.err >&2
	fail "qemu-img $1 (LUKS) failed"
}

# qemu_luks_create RAW IMG KEYFILE [OPTS]: qemu-img convert -O luks, retried.
qemu_luks_create()
{
	local raw=$1 img=$2 key=$3 opts=${4:-}
	rm -f "$img"
	qemu_img_luks convert -f raw -O luks --object "secret,id=sec0,file=$key" \
		-o "key-secret=sec0,iter-time=10${opts:+,$opts}" "$raw" "$img"
}

# qemu_luks_read IMG KEYFILE OUT: plaintext of a LUKS1 image as QEMU's luks driver sees it.
qemu_luks_read()
{
	local img=$1 key=$2 out=$3
	qemu-img convert --object "secret,id=sec0,file=$key" \
		--image-opts "driver=luks,file.filename=$img,key-secret=sec0" -O raw "$out"
}

# QEMU's secret objects for PASS (sec0) and PASS2 (sec1): read from the files, never
# on argv. qcow2_opts IMG [KEYID]: --image-opts of an encrypted qcow2 IMG opened with
# secret KEYID (default sec0).
# shellcheck disable=SC2034 # used by the qcow2 test scripts
QEMU_SECRETS=(--object "secret,id=sec0,file=$PASS" --object "secret,id=sec1,file=$PASS2")
qcow2_opts()
{
	echo "driver=qcow2,file.filename=$1,encrypt.key-secret=${2:-sec0}"
}

# qemu_writes_into KIB [vmcrypt create options]: QEMU's luks driver writes KIB of
# data into a LUKS1 image vmcrypt created with these options; vmcrypt reads it back.
qemu_writes_into()
{
	local kib=$1
	shift
	expect_exit 0 vmc create img --type luks1 --size "${kib}K" --key-file "$PASS" --batch-mode \
		"${FAST_PBKDF2[@]}" "$@"
	make_plain plain "$kib"
	qemu-img convert -n -f raw --object "secret,id=sec0,file=$PASS" plain \
		--target-image-opts "driver=luks,file.filename=img,key-secret=sec0" ||
		fail "qemu-img could not write through its luks driver into vmcrypt's image ($*)"
	expect_exit 0 vmc decrypt img out --key-file "$PASS"
	expect_same out plain "vmcrypt decrypt of data QEMU wrote into vmcrypt's LUKS1 image ($*)"
}

# qemu_reads KIB [vmcrypt encrypt options]: vmcrypt encrypts KIB of data into a
# LUKS1 image with these options; QEMU's luks driver opens it, reads the same
# plaintext, and refuses a wrong passphrase.
qemu_reads()
{
	local kib=$1
	shift
	make_plain plain "$kib"
	expect_exit 0 vmc encrypt plain img --type luks1 --key-file "$PASS" --batch-mode \
		"${FAST_PBKDF2[@]}" "$@"
	qemu-img info --object "secret,id=sec0,file=$PASS" \
		--image-opts "driver=luks,file.filename=img,key-secret=sec0" >info.out 2>&1 ||
		{ cat info.out >&2; fail "qemu-img info rejects vmcrypt's LUKS1 image ($*)"; }
	qemu_luks_read img "$PASS" out ||
		fail "QEMU's luks driver cannot open vmcrypt's LUKS1 image ($*)"
	expect_same out plain "QEMU's reading of vmcrypt encrypt --type luks1 $* vs the plaintext"
	# A wrong passphrase must not open it in QEMU either (the header is not trivially open).
	if qemu_luks_read img "$WRONG" out-wrong 2>/dev/null; then
		fail "QEMU opened vmcrypt's image with a wrong passphrase ($*)"
	fi
}

# --- background servers (nbd.sh, qemu-formats.sh) --------------------------------

# stop_pid PID: SIGTERM, up to 5 s, then SIGKILL.
stop_pid()
{
	local pid=$1
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

# Every pid written to $SERVER_PIDS is stopped by stop_servers.
stop_servers()
{
	local pid
	while read -r pid; do
		[ -n "$pid" ] && stop_pid "$pid"
	done <"$SERVER_PIDS"
	: >"$SERVER_PIDS"
}

servers_on_exit()
{
	local rc=$?
	# Not set -e here: "(exit 1)" would end the trap before cleanup removed TMPDIR_TEST.
	set +e
	stop_servers
	(exit "$rc")
	cleanup
}

# serve CMD...: starts a server in the background (output in ./server.log); SERVER_PID.
serve()
{
	"$@" >>server.log 2>&1 </dev/null &
	SERVER_PID=$!
	echo "$SERVER_PID" >>"$SERVER_PIDS"
}

# wait_ready URI: until the NBD server answers (it lives, and has made its socket).
wait_ready()
{
	for _ in $(seq 1 100); do
		nbdinfo --size "$1" >/dev/null 2>&1 && return 0
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.05
	done
	cat server.log >&2
	fail "the NBD server for $1 did not come up"
}

# servers_track: SERVER_PIDS for the script (its cases run in subshells), stopped on exit.
servers_track()
{
	SERVER_PIDS=$TMPDIR_TEST/server.pids
	: >"$SERVER_PIDS"
	trap servers_on_exit EXIT
}
