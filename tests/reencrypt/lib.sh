# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Helpers of the re-encryption tests (vmcrypt rekey, encrypt/decrypt --in-place),
# on top of tests/integration/functions.sh.
#
# A script does:  . "$(dirname "$0")/lib.sh"
# OLD opens the images before a rekey, NEW after it (passphrase files). PLAIN is the
# known plaintext of the images new_image makes, PLAIN_SHA its sha256.
#
# The fault loops need many short runs: the work directory goes to /dev/shm when it
# is a writable tmpfs (set TMPDIR to choose another place). A tmpfs changes nothing
# the tests look at: what survives a kill or a power cut is decided by the storage
# layer's fault hook (VMCRYPT_FAULT), not by the disk.

RK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=$(cd "$RK_DIR/../integration" && pwd)
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] &&
	[ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ]; then
	export TMPDIR=/dev/shm
fi
# shellcheck source=../integration/functions.sh
. "$SRCDIR/functions.sh"

# RK_ONLY=REGEX runs only the cases whose names match (while working on one).
if [ -n "${RK_ONLY:-}" ]; then
	eval "$(declare -f run_case | sed '1s/^run_case/run_every_case/')"
	run_case()
	{
		[[ $1 =~ $RK_ONLY ]] || return 0
		run_every_case "$@"
	}
fi

requires test -x "$VMCRYPT"
requires cryptsetup
requires "$PYTHON"

# shellcheck disable=SC2034 # used by the scripts
OLD=$PASS NEW=$PASS2
# Image size and hotzone of the fault loops: many small steps.
RK_MIB=${RK_MIB:-8}
RK_HOTZONE=${RK_HOTZONE:-64K}

PLAIN=$TMPDIR_TEST/plain.raw
make_plain "$PLAIN" $((RK_MIB * 1024))
PLAIN_SHA=$(sha256 "$PLAIN")
chmod 0755 "$TMPDIR_TEST"
chmod 0644 "$PLAIN" "$PASS" "$PASS2" "$WRONG"

# new_image IMG [vmcrypt encrypt options]: the known plaintext encrypted under OLD.
new_image()
{
	local img=$1
	shift
	vmc encrypt "$PLAIN" "$img" --key-file "$OLD" --batch-mode "${FAST_PBKDF2[@]}" "$@" ||
		fail "vmcrypt encrypt $img failed"
}

# rk IMG ARGS...: vmcrypt rekey with the fast KDF, never asking.
rk()
{
	local img=$1
	shift
	vmc rekey "$img" --batch-mode "${FAST_PBKDF2[@]}" "$@"
}

# pending IMG [--header H]: true while a re-encryption is unfinished.
pending()
{
	vmc dump "$@" 2>/dev/null | grep -q 'online-reencrypt'
}

# plain_of IMG KEYFILE [vmcrypt options]: sha256 of the plaintext vmcrypt reads
# (its first PLAIN bytes), or "refused".
plain_of()
{
	local img=$1 key=$2
	shift 2
	rm -f "$img.plain"
	if ! vmc decrypt "$img" "$img.plain" --key-file "$key" "$@" 2>/dev/null; then
		rm -f "$img.plain"
		echo refused
		return 0
	fi
	head -c "$(filesize "$PLAIN")" "$img.plain" | sha256sum | cut -d' ' -f1
	rm -f "$img.plain"
}

# volume_key IMG KEYFILE [vmcrypt options]: the volume key in hex (vmcrypt dump).
volume_key()
{
	local img=$1 key=$2
	shift 2
	vmc dump "$img" --dump-volume-key --key-file "$key" --batch-mode "$@" >"$img.vk" \
		2>/dev/null || true
	sed -n 's/^Volume key:[ \t]*//p' "$img.vk"
	rm -f "$img.vk"
}

# expect_rekeyed IMG OLD_VK WHAT [--header H]: the re-encryption is over, NEW reads
# the known plaintext with a volume key other than OLD_VK, OLD opens nothing for
# vmcrypt nor (unless IMG is DISK@N) for cryptsetup.
expect_rekeyed()
{
	local img=$1 old_vk=$2 what=$3 rc=0
	shift 3
	if pending "$img" "$@"; then fail "$what: the re-encryption is still unfinished"; fi
	expect_eq "$(plain_of "$img" "$NEW" "$@")" "$PLAIN_SHA" "$what: plaintext (sha256) with the new passphrase"
	[ "$(volume_key "$img" "$NEW" "$@")" != "$old_vk" ] || fail "$what: the volume key did not change"
	vmc test-key "$img" --key-file "$OLD" "$@" 2>/dev/null || rc=$?
	expect_eq "$rc" "$EXIT_PASS" "$what: vmcrypt test-key with the old passphrase (exit status)"
	# IMAGE@N (a partition) is for vmcrypt only; the caller checks a copy with cryptsetup.
	[ -e "$img" ] || return 0
	if cs open --test-passphrase --key-file "$OLD" "$@" "$img" 2>/dev/null; then
		fail "$what: cryptsetup still opens the image with the old passphrase"
	fi
	cs open --test-passphrase --key-file "$NEW" "$@" "$img" 2>/dev/null ||
		fail "$what: cryptsetup does not open the image with the new passphrase"
}

# cs_finish IMG [cryptsetup options]: cryptsetup recovers a crash state (repair) and
# finishes the re-encryption (--resume-only), as an ordinary user could; with NEW's
# passphrase (the one that opens both keys).
cs_finish()
{
	local img=$1
	shift
	cs repair --batch-mode --key-file "$NEW" "$@" "$img" >cs-repair.out 2>&1 ||
		{ cat cs-repair.out >&2; fail "cryptsetup repair failed"; }
	# The recovery may have been the last step.
	pending "$img" "$@" || return 0
	cs reencrypt --resume-only --force-offline-reencrypt --batch-mode --key-file "$NEW" \
		"$@" "$img" >cs-resume.out 2>&1 ||
		{ cat cs-resume.out >&2; fail "cryptsetup reencrypt --resume-only failed"; }
}

# count_writes CMD...: the number of storage writes CMD makes when it runs to the
# end (VMCRYPT_FAULT=kill:N kills it while N is not beyond that). CMD must restore
# its own input each time (it runs about 12 times).
count_writes()
{
	local lo=1 hi=1 rc
	# Exponential search for an N the run does not reach, then bisection.
	while :; do
		rc=0
		VMCRYPT_FAULT=kill:$hi "$@" >/dev/null 2>&1 || rc=$?
		[ "$rc" -eq 137 ] || break
		lo=$((hi + 1))
		hi=$((hi * 2))
		[ "$hi" -lt 100000 ] || fail "count_writes: the run never ends"
	done
	while [ "$lo" -lt "$hi" ]; do
		local mid=$(((lo + hi) / 2))
		rc=0
		VMCRYPT_FAULT=kill:$mid "$@" >/dev/null 2>&1 || rc=$?
		if [ "$rc" -eq 137 ]; then lo=$((mid + 1)); else hi=$mid; fi
	done
	echo $((lo - 1))
}

# fault_points TOTAL MIN: at least MIN distinct points in 1..TOTAL, evenly spread
# (all of them when TOTAL <= MIN), always including the first and the last.
fault_points()
{
	local total=$1 min=$2
	"$PYTHON" -S - "$total" "$min" <<'EOF'
import sys
total, want = int(sys.argv[1]), int(sys.argv[2])
if total <= want:
    pts = range(1, total + 1)
else:
    pts = sorted({1 + round(i * (total - 1) / (want - 1)) for i in range(want)})
print(" ".join(map(str, pts)))
EOF
}

# Unprivileged user: as_user CMD... runs CMD as uid/gid 65534 (setpriv, when root).
AS_USER=()
[ "$(id -u)" -ne 0 ] || AS_USER=(setpriv --reuid=65534 --regid=65534 --clear-groups)
as_user()
{
	"${AS_USER[@]}" "$@"
}

# in_place_supported: vmcrypt has encrypt/decrypt --in-place.
in_place_supported()
{
	vmc encrypt --help 2>/dev/null | grep -q -- '--in-place'
}

# stop_midway PID [SIGNAL]: once process PID (a vmcrypt that re-encrypts) has written
# 512 KiB (it is then in its steps, with its signal handlers in place), stops it
# cleanly with SIGNAL (default INT) and waits for it; sets STOP_RC to its exit status.
# The library looks at the cancel flag once a second, between two steps: the process
# is frozen (SIGSTOP) for just over a second around the signal, so that the next step
# sees it whatever the speed of the machine. Returns 1 unless it exited with status 9.
stop_midway()
{
	local pid=$1 sig=${2:-INT} wchar
	STOP_RC=0
	for _ in $(seq 1 2000); do
		wchar=$(sed -n 's/^wchar: //p' "/proc/$pid/io" 2>/dev/null) || break
		[ -n "$wchar" ] || break
		[ "$wchar" -lt 524288 ] || break
		sleep 0.005
	done
	if kill -STOP "$pid" 2>/dev/null; then
		sleep 1.1
		kill "-$sig" "$pid" 2>/dev/null || true
		kill -CONT "$pid" 2>/dev/null || true
	fi
	wait "$pid" || STOP_RC=$?
	[ "$STOP_RC" -eq "$EXIT_CANCELLED" ]
}
