#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Secret hygiene of a running vmcrypt, seen from outside as root would see it:
#  - a long-running operation holds a volume key: `vmcrypt decrypt` of an image into a
#    pipe nobody reads (LUKS2 aes-xts-plain64, LUKS1 aes-cbc-essiv:sha256), run as
#    the unprivileged user nobody when possible, and `vmcrypt serve` (the key is in
#    nbdkit, which runs the vmcrypt plugin);
#  - the process is non-dumpable (/proc/PID/mem belongs to root, not to its user), its
#    core file limit is 0, and the passphrase is not in its argv or environment;
#  - root takes a memory image of it (every readable mapping through /proc/PID/mem,
#    with CAP_SYS_PTRACE; memimage.py) and searches it twice: with `vmcrypt scan
#    --image` and with memimage.py (schedules computed by libcrypto's
#    AES_set_*_key through ctypes). The volume key and its AES schedules must be
#    found (else the search proves nothing), and every copy must lie in a mapping
#    that is locked ("lo", Locked: > 0 kB) and excluded from core dumps ("dd");
#    the passphrase may only be found there too.
# Needs root (reading another user's, non-dumpable process); skips otherwise.
SECRETS_DIR=${SECRETS_DIR:-$(cd "$(dirname "$0")" && pwd)}
# shellcheck source-path=SCRIPTDIR source=../integration/functions.sh
. "${SRCDIR:?}/functions.sh"

[ "$(id -u)" = 0 ] || skip "reading another process's memory needs root (CAP_SYS_PTRACE)"
requires "$PYTHON"
requires_python_libcrypto
requires mkfifo

memimage()
{
	"$PYTHON" -S "$SECRETS_DIR/memimage.py" "$@"
}

# run_as_user CMD...: as nobody when we can switch to it (the realistic case: RLIMIT_MEMLOCK
# applies and the process cannot be ptraced by its own user once non-dumpable).
AS_USER=()
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	AS_USER=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
fi

# check_process PID KEYHEX WHAT [memimage --secret args...]
check_process()
{
	local pid=$1 key=$2 what=$3 offsets
	shift 3
	[ -d "/proc/$pid" ] || fail "$what: process $pid is gone"
	if [ ${#AS_USER[@]} -gt 0 ] && [ "$(stat -c %u "/proc/$pid")" != 0 ]; then
		expect_eq "$(stat -c %U "/proc/$pid/mem")" root "$what: /proc/PID/mem owner (non-dumpable)"
	fi
	grep -q '^Max core file size *0 *0' "/proc/$pid/limits" ||
		fail "$what: core dumps are not disabled: $(grep 'core file' "/proc/$pid/limits")"
	if tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qF "$(cat "$PASS")"; then
		fail "$what: the passphrase is in the command line"
	fi
	if tr '\0' '\n' <"/proc/$pid/environ" | grep -qF "$(cat "$PASS")"; then
		fail "$what: the passphrase is in the environment"
	fi
	echo "$what: process $pid: $(grep -E '^(VmLck|Threads)' "/proc/$pid/status" | tr -s '\t\n' '  ')"
	memimage dump "$pid" mem
	memimage scan mem "$key" --secret "passphrase=$(od -An -tx1 "$PASS" | tr -d ' \n')" "$@" \
		>scan.out || { cat scan.out; fail "$what: key material outside locked memory"; }
	tail -1 scan.out
	grep -c 'found:' scan.out | sed "s/^/$what: copies found (all locked, non-dumpable): /"
	# The project's own scanner on the same image: every finding must map to locked memory.
	# (on a copy of the image: serve holds the image itself locked)
	"$VMCRYPT" scan --image "$img.copy" --key-file "$PASS" --json mem.img >vscan.json 2>vscan.err || true
	offsets=$("$PYTHON" -S -c 'import json,sys
d=json.load(open(sys.argv[1]))
print(" ".join(str(f["offset"]) for f in d.get("findings", [])))' vscan.json) ||
		{ cat vscan.err; fail "$what: vmcrypt scan --image gave no JSON report"; }
	[ -n "$offsets" ] || { cat vscan.err; fail "$what: vmcrypt scan --image found nothing"; }
	# shellcheck disable=SC2086 # a list of offsets
	memimage where mem $offsets >where.out || { cat where.out; fail "$what: vmcrypt scan found key material outside locked memory"; }
	echo "$what: vmcrypt scan --image: $(wc -l <where.out) findings, all in locked, non-dumpable mappings"
	rm -f mem.img
}

volume_key()
{
	vmc dump "$1" --dump-volume-key --key-file "$PASS" --batch-mode 2>/dev/null |
		sed -n 's/^Volume key: *//p'
}

# A decrypt that cannot finish: its output is a pipe nobody reads.
case_decrypt()
{
	local type=$1 cipher=$2 bits=$3 pid key
	shift 3
	img=$PWD/img
	vmc create "$img" --type "$type" --cipher "$cipher" --key-size "$bits" --size 64M \
		--key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}" >/dev/null
	key=$(volume_key "$img")
	cp --sparse=always "$img" "$img.copy"
	[ -n "$key" ] || fail "no volume key from vmcrypt dump"
	chmod 0755 "$TMPDIR_TEST" "$PWD"
	chmod 0644 "$PASS" "$img"
	mkfifo out.fifo
	"${AS_USER[@]}" "$VMCRYPT" decrypt "$img" - --key-file "$PASS" >out.fifo 2>decrypt.err &
	pid=$!
	bg_pid=$pid
	trap 'kill "$bg_pid" 2>/dev/null || true' EXIT # also when a check fails
	exec 3<out.fifo # opened, never read: the pipe fills and decrypt blocks holding the key
	sleep 2
	check_process "$pid" "$key" "decrypt $type $cipher" "$@"
	kill "$pid"
	exec 3<&-
	wait "$pid" 2>/dev/null || true
}

case_serve()
{
	local pid child key sock=$PWD/nbd.sock i
	img=$PWD/img
	vmc create "$img" --size 64M --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}" >/dev/null
	key=$(volume_key "$img")
	cp --sparse=always "$img" "$img.copy"
	"$VMCRYPT" serve "$img" --socket "$sock" --key-file "$PASS" >serve.out 2>serve.err &
	pid=$!
	bg_pid=$pid
	trap 'kill "$bg_pid" 2>/dev/null || true' EXIT # also when a check fails
	for i in $(seq 50); do [ -S "$sock" ] && break; sleep 0.2; done
	[ -S "$sock" ] || { cat serve.err; fail "vmcrypt serve did not start"; }
	# Some traffic, so the plugin has set up its ciphers.
	if command -v nbdcopy >/dev/null; then
		nbdcopy "nbd+unix:///?socket=$sock" - | head -c 1048576 >/dev/null || true
	fi
	child=$(pgrep -P "$pid" | head -1)
	[ -n "$child" ] || fail "no nbdkit child of vmcrypt serve"
	check_process "$child" "$key" "serve (nbdkit with the plugin)"
	# The front end itself must hold nothing either (it passed the passphrase on).
	memimage dump "$pid" front
	memimage scan front "$key" --secret "passphrase=$(od -An -tx1 "$PASS" | tr -d ' \n')" \
		>front.out || true
	if grep -q 'LEAK' front.out; then cat front.out; fail "vmcrypt serve front end leaks key material"; fi
	echo "serve front end: $(tail -1 front.out)"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}

run_case "decrypt luks2 aes-xts-plain64, blocked on a pipe" case_decrypt luks2 aes-xts-plain64 512
run_case "decrypt luks1 aes-cbc-essiv:sha256, blocked on a pipe" case_decrypt luks1 \
	aes-cbc-essiv:sha256 256 --secret essiv=sha256
if command -v nbdkit >/dev/null && [ -n "${VMCRYPT_NBDKIT_PLUGIN:-}" ] && [ -e "$VMCRYPT_NBDKIT_PLUGIN" ]; then
	run_case "serve (nbdkit plugin)" case_serve
else
	echo "note: nbdkit or the vmcrypt plugin is missing; the serve case is skipped"
fi
finish
