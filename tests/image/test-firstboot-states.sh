#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The guest's first-boot re-key (contrib/image/guest/firstboot) on the host, without QEMU:
# from a public image and from every state a power cut can leave between its steps, it
# must end with one keyslot that the user's passphrase opens, a new volume key, the same
# plaintext and an empty label.
#
# The script runs in a private mount namespace where /usr/sbin/cryptsetup is a wrapper:
# "status root" names an image file as the mapping's device, the re-encryption runs
# offline on that file (no device-mapper here), and locks are off. Needs root (unshare,
# bind mounts); the real thing under QEMU is test-image.sh.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
firstboot=$here/../../contrib/image/guest/firstboot
PATH=$PATH:/usr/sbin:/sbin

# shellcheck source=lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (a mount namespace with bind mounts)"
command -v cryptsetup >/dev/null || skip "cryptsetup not found"
command -v unshare >/dev/null || skip "unshare not found"
unshare -m true 2>/dev/null || skip "cannot make a mount namespace here"
if [ -z "${VMCRYPT:-}" ] || [ ! -x "$VMCRYPT" ]; then
	skip "VMCRYPT (the vmcrypt binary) is not set"
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/vmc-firstboot.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
cp "$(command -v cryptsetup)" "$scratch/cryptsetup.real"
printf public >"$scratch/public"
kdf=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
cs() {
	"$scratch/cryptsetup.real" --disable-locks "$@"
}

cat >"$scratch/cryptsetup" <<'EOF'
#!/bin/bash
# Stand-in for /usr/sbin/cryptsetup in the namespace (see test-firstboot-states.sh).
set -eu
real=$FAKE_DIR/cryptsetup.real
case " $* " in
*" status "*)
	printf '/dev/mapper/root is active.\n  type:    LUKS2\n  device:  %s\n' "$FAKE_DEV"
	exit 0
	;;
*" reencrypt "*)
	args=()
	while [ $# -gt 0 ]; do
		case $1 in
		--active-name) shift 2; set -- "$@" "$FAKE_DEV" ;;
		*) args+=("$1"); shift ;;
		esac
	done
	echo "$FAKE_DEV: reencrypt ${args[*]}" >>"$FAKE_DIR/calls"
	exec "$real" --disable-locks --force-offline-reencrypt "${args[@]}"
	;;
esac
echo "$FAKE_DEV: $*" >>"$FAKE_DIR/calls"
exec "$real" --disable-locks "$@"
EOF
chmod 755 "$scratch/cryptsetup"

cat >"$scratch/firstboot.conf" <<'EOF'
VMCRYPT_PBKDF_OPTS="--pbkdf pbkdf2 --pbkdf-force-iterations 1000"
EOF

# run_firstboot IMAGE INPUT: the script with INPUT as its console; output in $scratch/out.
run_firstboot() {
	local rc=0
	: >"$scratch/calls"
	rm -rf "$scratch/etc-upper" "$scratch/etc-work"
	printf '%b' "$2" >"$scratch/input"
	# shellcheck disable=SC2016 # expanded by the inner shell
	FAKE_DEV=$1 FAKE_DIR=$scratch unshare -m sh -eu -c '
		mount --make-rprivate /
		mount --bind "$FAKE_DIR/cryptsetup" /usr/sbin/cryptsetup
		mount -t tmpfs -o mode=0755 tmpfs /run
		mkdir "$FAKE_DIR/etc-upper" "$FAKE_DIR/etc-work"
		mount -t overlay -o "lowerdir=/etc,upperdir=$FAKE_DIR/etc-upper,workdir=$FAKE_DIR/etc-work" overlay /etc
		mkdir -p /etc/vmcrypt
		cp "$FAKE_DIR/firstboot.conf" /etc/vmcrypt/
		"$0" <"$FAKE_DIR/input"
		if [ -e /run/vmcrypt/passphrase ]; then echo "LEFT: /run/vmcrypt/passphrase"; fi
	' "$firstboot" >"$scratch/out" 2>&1 || rc=$?
	if grep -q '^LEFT:' "$scratch/out"; then
		cat "$scratch/out"
		fail "the passphrase file was left in /run"
	fi
	return $rc
}

# make_public IMAGE: a public-key image (label, PBKDF2 keyslot); the sha256 of its
# plaintext (whatever the zeros decrypt to) goes to IMAGE.sha256, its volume key digest to
# IMAGE.digest.
make_public() {
	truncate -s 0 "$1"
	truncate -s 20M "$1"
	cs luksFormat -q --type luks2 --sector-size 4096 "${kdf[@]}" \
		--label 'vmcrypt:public-key NOT SECRET - re-key first' --key-file "$scratch/public" "$1"
	digest "$1" >"$1.digest"
	rm -f "$scratch/plain.raw"
	"$VMCRYPT" decrypt --key-file "$scratch/public" "$1" "$scratch/plain.raw" >/dev/null
	sha256sum <"$scratch/plain.raw" | cut -d' ' -f1 >"$1.sha256"
}

digest() {
	cs luksDump "$1" | sed -n '/^Digests:/,$s/^[[:space:]]*Digest:[[:space:]]*//p' | tr -d ' \n'
}

# check_private IMAGE PASSFILE WHAT: the end state.
check_private() {
	local image=$1 pass=$2 what=$3 slots label
	slots=$(cs luksDump "$image" | grep -cE '^  [0-9]+: luks2' || true)
	[ "$slots" = 1 ] || fail "$what: $slots keyslots at the end, not 1"
	label=$(cs luksDump "$image" | sed -n 's/^Label:[[:space:]]*//p')
	[ "$label" = "(no label)" ] || fail "$what: label '$label' left"
	label=$(cs luksDump "$image" | sed -n 's/^Subsystem:[[:space:]]*//p')
	[ "$label" = "(no subsystem)" ] || fail "$what: subsystem '$label' left"
	if cs luksDump "$image" | grep -q '^Requirements:.*reencrypt'; then
		fail "$what: re-encryption still pending"
	fi
	cs open --test-passphrase --key-file "$pass" "$image" ||
		fail "$what: the new passphrase does not open"
	if cs open --test-passphrase --key-file "$scratch/public" "$image" 2>/dev/null; then
		fail "$what: the public passphrase still opens"
	fi
	[ "$(digest "$image")" != "$(cat "$image.digest")" ] ||
		fail "$what: the volume key digest did not change"
	rm -f "$scratch/plain2.raw"
	"$VMCRYPT" decrypt --key-file "$pass" "$image" "$scratch/plain2.raw" >/dev/null ||
		fail "$what: vmcrypt decrypt failed"
	[ "$(sha256sum <"$scratch/plain2.raw" | cut -d' ' -f1)" = "$(cat "$image.sha256")" ] ||
		fail "$what: the plaintext changed"
	echo "PASS: $what"
}

img=$scratch/disk.img
printf 'pw one' >"$scratch/pw1"
printf 'pw two' >"$scratch/pw2"

# 1. The public image, a mismatch, an empty line, the public passphrase, then a match.
make_public "$img"
run_firstboot "$img" '\nab\ncd\npublic\npw one\npw one\n' || {
	cat "$scratch/out"
	fail "public image: firstboot failed"
}
grep -q 'differ' "$scratch/out" || fail "public image: no word about the mismatch"
grep -q 'must not be empty' "$scratch/out" || fail "public image: an empty passphrase taken"
grep -q 'public passphrase everyone knows' "$scratch/out" ||
	fail "public image: the public passphrase taken as new"
check_private "$img" "$scratch/pw1" "from the public image"

# 2. Nothing to do now: silent, no prompt, no header change.
run_firstboot "$img" '' || fail "private image: firstboot failed"
[ ! -s "$scratch/out" ] || {
	cat "$scratch/out"
	fail "private image: firstboot printed something"
}
if grep -qvE 'luksDump|open --test-passphrase' "$scratch/calls"; then
	cat "$scratch/calls"
	fail "private image: firstboot ran more than luksDump and cheap passphrase tests"
fi
echo "PASS: a private image is left alone"

# 3. Cut after luksAddKey (public + a half-added keyslot): asks anew, only the last stays.
make_public "$img"
cs luksAddKey -q "${kdf[@]}" --key-file "$scratch/public" "$img" "$scratch/pw1"
run_firstboot "$img" 'pw two\npw two\n' || {
	cat "$scratch/out"
	fail "cut after add-key: firstboot failed"
}
check_private "$img" "$scratch/pw2" "cut after add-key"
if cs open --test-passphrase --key-file "$scratch/pw1" "$img" 2>/dev/null; then
	fail "cut after add-key: the half-added passphrase still opens"
fi

# 4. Cut after the public keyslot was killed (label still public): asks the passphrase.
make_public "$img"
cs luksAddKey -q "${kdf[@]}" --key-file "$scratch/public" "$img" "$scratch/pw1"
cs luksKillSlot --key-file "$scratch/pw1" "$img" 0
run_firstboot "$img" 'wrong\npw one\n' || {
	cat "$scratch/out"
	fail "cut after kill-slot: firstboot failed"
}
grep -q 'no keyslot opens' "$scratch/out" || fail "cut after kill-slot: wrong passphrase taken"
check_private "$img" "$scratch/pw1" "cut after kill-slot"

# 5. Cut after the label said rekeying, before the re-encryption began: begins it.
make_public "$img"
cs luksAddKey -q "${kdf[@]}" --key-file "$scratch/public" "$img" "$scratch/pw1"
cs luksKillSlot --key-file "$scratch/pw1" "$img" 0
cs config --label vmcrypt:rekeying --subsystem "vmcrypt:from=$(digest "$img" | cut -c1-32)" "$img"
run_firstboot "$img" 'pw one\n' || {
	cat "$scratch/out"
	fail "cut after the label: firstboot failed"
}
grep -q -- '--init-only' "$scratch/calls" || fail "cut after the label: no re-encryption"
check_private "$img" "$scratch/pw1" "cut after the label, before the re-encryption"

# 6. Cut after the re-encryption was initialised: resumes.
make_public "$img"
cs luksAddKey -q "${kdf[@]}" --key-file "$scratch/public" "$img" "$scratch/pw1"
cs luksKillSlot --key-file "$scratch/pw1" "$img" 0
cs config --label vmcrypt:rekeying --subsystem "vmcrypt:from=$(digest "$img" | cut -c1-32)" "$img"
cs reencrypt --init-only -q "${kdf[@]}" --key-file "$scratch/pw1" --key-slot 1 "$img"
run_firstboot "$img" 'pw one\n' || {
	cat "$scratch/out"
	fail "cut after init: firstboot failed"
}
grep -q -- '--resume-only' "$scratch/calls" || fail "cut after init: did not resume"
check_private "$img" "$scratch/pw1" "cut after the re-encryption's initialisation"

# 7. Cut after the re-encryption finished, before the label was cleared: no second one.
cs config --label vmcrypt:rekeying --subsystem "vmcrypt:from=$(cut -c1-32 "$img.digest")" "$img"
cp "$img.digest" "$img.digest.orig"
digest "$img" >"$img.digest.done"
run_firstboot "$img" '' || {
	cat "$scratch/out"
	fail "cut before the label: firstboot failed"
}
if grep -q reencrypt "$scratch/calls"; then
	fail "cut before the label: re-encrypted again"
fi
[ "$(digest "$img")" = "$(cat "$img.digest.done")" ] || fail "cut before the label: new key again"
check_private "$img" "$scratch/pw1" "cut after the re-encryption, before the label"

echo "all first-boot states passed"
