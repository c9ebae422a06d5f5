#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Boot a public-key Debian image (contrib/image/vmcrypt-image-build) under QEMU, over the
# serial console:
#   a. as a qcow2 (extended_l2, 128 KiB clusters, as image builders make them; what
#      vmcrypt-image-build --format qcow2 writes) re-keyed on the host (vmcrypt rekey
#      --public-key through QEMU's block layer), it asks for the new passphrase at boot
#      (UEFI: OVMF); converted back to raw and re-keyed again, it refuses the old one and
#      takes the newer (BIOS: SeaBIOS); the root file system keeps what the first boot
#      wrote;
#   b. booted as shipped, it unlocks by itself, the first-boot unit asks for a passphrase
#      (a mismatch is refused), re-encrypts online; a power cut in the middle is resumed
#      at the next boot; afterwards the volume key is new, the public passphrase fails
#      (exit 2) and the new one opens;
#   c. encrypted on the host into QEMU's native encrypted qcow2 (vmcrypt encrypt --format
#      qcow2, passphrase A) and re-keyed (vmcrypt rekey, new volume key, passphrase B):
#      qemu-img check is clean, A opens nothing (vmcrypt test-key, qemu-io); it boots
#      through the -blockdev nodes libvirt makes for <encryption format='luks'> on a
#      qcow2 volume, built from vmcrypt qemu-args' -blockdev, until systemd, started from
#      the guest's root file system (in-guest LUKS, unlocked by its initramfs), greets.
#
# Environment: VMCRYPT (the binary), VMCRYPT_IMAGE_PREBUILT (an image built with
# --public-key --overlay tests/image/overlay; otherwise one is built here, which needs
# root and the Debian mirror), VMCRYPT_IMAGE_MIRROR, VMCRYPT_IMAGE_LOGDIR (console logs
# kept there; default a temporary folder), VMC_VM_ACCEL (kvm|tcg).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
VMCRYPT=${VMCRYPT:-$top/build/cli/vmcrypt}
mirror=${VMCRYPT_IMAGE_MIRROR:-http://deb.debian.org/debian}
PATH=$PATH:/usr/sbin:/sbin

# shellcheck source=lib.sh
. "$here/lib.sh"

[ -x "$VMCRYPT" ] || skip "VMCRYPT=$VMCRYPT is not executable"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found"
command -v python3 >/dev/null || skip "python3 not found"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/vmc-image-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
logdir=${VMCRYPT_IMAGE_LOGDIR:-$scratch/logs}
mkdir -p "$logdir"

# --- the public image ---
if [ -n "${VMCRYPT_IMAGE_PREBUILT:-}" ]; then
	[ -f "$VMCRYPT_IMAGE_PREBUILT" ] || fail "VMCRYPT_IMAGE_PREBUILT=$VMCRYPT_IMAGE_PREBUILT: no such file"
	public=$VMCRYPT_IMAGE_PREBUILT
	say "prebuilt image $public"
else
	[ "$(id -u)" = 0 ] || skip "building the image needs root (debootstrap, chroot); or set VMCRYPT_IMAGE_PREBUILT"
	command -v debootstrap >/dev/null || skip "debootstrap not found; or set VMCRYPT_IMAGE_PREBUILT"
	python3 - "$mirror/dists/bookworm/Release" <<'EOF' ||
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1], method="HEAD"), timeout=15)
EOF
		skip "no network to the Debian mirror $mirror; or set VMCRYPT_IMAGE_PREBUILT"
	public=$scratch/public.img
	say "building $public (vmcrypt-image-build --size 1280M --public-key)"
	"$top/contrib/image/vmcrypt-image-build" "$public" --size 1280M --public-key \
		--overlay "$here/overlay" --mirror "$mirror" --vmcrypt "$VMCRYPT" \
		>"$logdir/build.log" 2>&1 || {
		tail -n 30 "$logdir/build.log"
		fail "vmcrypt-image-build failed (log: $logdir/build.log)"
	}
	say "image built"
fi

# Secrets: each passphrase in a file of its own (mode 0600), typed by console.py from the
# file; none on a command line.
(
	umask 077
	printf 'host key one %s' "$$" >"$scratch/k1"
	printf 'host key two %s' "$$" >"$scratch/k2"
	printf 'guest passphrase %s' "$$" >"$scratch/p"
	printf 'not the same %s' "$$" >"$scratch/p-wrong"
	printf 'qcow2 passphrase A %s' "$$" >"$scratch/qa"
	printf 'qcow2 passphrase B %s' "$$" >"$scratch/qb"
)
# Cheap keyslots: Argon2id all the same, but the guest is emulated.
kdf=(--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 65536 --pbkdf-parallel 1)

# console NAME IMAGE STEP...: boot IMAGE (empty: console.py's --blockdev among the steps'
# options), run the console steps; log in $logdir/NAME.log.
console() {
	local name=$1 image=$2 t0
	shift 2
	t0=$(date +%s)
	say "boot $name"
	python3 "$here/console.py" ${image:+--image "$image"} --log "$logdir/$name.log" --smp 1 "$@" ||
		fail "boot $name (console log: $logdir/$name.log)"
	say "boot $name took $(($(date +%s) - t0)) s"
}

# vk_digest IMAGE: the volume key digest of partition 4, from vmcrypt dump.
vk_digest() {
	"$VMCRYPT" dump "$1@4" | sed -n '/^Digests:/,$s/^[[:space:]]*Digest:[[:space:]]*//p' |
		sed -n 1p | tr -d ' '
}
label() {
	"$VMCRYPT" dump "$1@4" | sed -n 's/^Label:[[:space:]]*//p'
}

case $(label "$public") in
vmcrypt:public-key*) ;;
*) fail "$public: the label of partition 4 does not say vmcrypt:public-key" ;;
esac
unlock='Please unlock disk root'
marker='VMCRYPT-MARKER boot='

# The cases are independent: each guest has one CPU, and two processes run them side by
# side (TCG guests boot mostly on one CPU, so this nearly halves the wall time): b, the
# longest, in one, a then c in the other.

# --- a. re-keyed on the host ---
case_a() {
	a=$scratch/a.img
	q=$scratch/a.qcow2
	qemu-img convert -q -f raw -O qcow2 -o extended_l2=on,cluster_size=128k "$public" "$q" ||
		fail "a: qemu-img convert to qcow2"
	t0=$(date +%s)
	"$VMCRYPT" rekey "$q" --partition 4 --public-key --new-key-file "$scratch/k1" "${kdf[@]}" \
		--batch-mode || fail "a: vmcrypt rekey --public-key of the qcow2 failed"
	say "a: host rekey --public-key of the qcow2 took $(($(date +%s) - t0)) s"
	qemu-img check -q "$q" || fail "a: qemu-img check finds errors after the rekey"
	case $(label "$q") in
	vmcrypt:*) fail "a: the label is still '$(label "$q")' after rekey --public-key" ;;
	esac
	# The first boot is through UEFI (OVMF, GRUB from the ESP), the second through BIOS.
	cp /usr/share/OVMF/OVMF_VARS_4M.fd "$scratch/vars.fd" || fail "a: no OVMF (package ovmf)"
	console a1 "$q" --format qcow2 --uefi "$scratch/vars.fd" \
		expect "$unlock" 600 \
		send-file "$scratch/k1" \
		expect "${marker}1\\b" 600 \
		refute 'Enter a new passphrase|vmcrypt-firstboot: ' \
		poweroff 120
	qemu-img convert -q -f qcow2 -O raw "$q" "$a" || fail "a: qemu-img convert back to raw"
	rm -f "$q"
	t0=$(date +%s)
	"$VMCRYPT" rekey "$a" --partition 4 --key-file "$scratch/k1" --new-key-file "$scratch/k2" \
		"${kdf[@]}" --batch-mode || fail "a: vmcrypt rekey K1 -> K2 failed"
	say "a: host rekey took $(($(date +%s) - t0)) s"
	console a2 "$a" \
		expect "$unlock" 600 \
		send-file "$scratch/k1" \
		expect 'bad password|No key available' 120 \
		expect "$unlock" 60 \
		send-file "$scratch/k2" \
		expect "${marker}2\\b" 600 \
		poweroff 120
	rm -f "$a"
	say "a: passed"
}

# --- b. re-keyed by the guest at its first boot, with a power cut in the middle ---
case_b() {
	b=$scratch/b.img
	cp --sparse=always "$public" "$b"
	before=$(vk_digest "$b")
	[ -n "$before" ] || fail "b: no volume key digest in vmcrypt dump"
	console b1 "$b" \
		expect 'unlocking with the public passphrase' 600 \
		expect 'Enter a new passphrase for disk root' 300 \
		send-file "$scratch/p" \
		expect 'Enter the same passphrase again' 60 \
		send-file "$scratch/p-wrong" \
		expect 'passphrases differ' 60 \
		expect 'Enter a new passphrase for disk root' 60 \
		send-file "$scratch/p" \
		expect 'Enter the same passphrase again' 60 \
		send-file "$scratch/p" \
		expect 're-encrypting disk root' 300 \
		expect 'Progress:.*[1-9][0-9.]*%' 300 \
		kill
	case $(label "$b") in
	vmcrypt:rekeying) ;;
	*) fail "b: after the power cut the label is '$(label "$b")', not vmcrypt:rekeying" ;;
	esac
	if "$VMCRYPT" test-key "$b@4" --public-key 2>/dev/null; then
		fail "b: the public passphrase opens during the re-encryption"
	fi
	console b2 "$b" \
		expect "$unlock" 600 \
		refute 'unlocking with the public passphrase' \
		send-file "$scratch/p" \
		expect 'a re-encryption of disk root .* is in progress' 300 \
		expect 'Enter the passphrase of disk root' 60 \
		send-file "$scratch/p" \
		expect 'done: disk root has a new volume key' 1200 \
		expect "${marker}1\\b" 300 \
		poweroff 120
	after=$(vk_digest "$b")
	[ "$after" != "$before" ] || fail "b: the volume key digest is the same as before ($after)"
	rc=0
	"$VMCRYPT" test-key "$b@4" --public-key 2>/dev/null || rc=$?
	[ $rc = 2 ] || fail "b: test-key --public-key exited $rc, not 2 (wrong passphrase)"
	"$VMCRYPT" test-key "$b@4" --key-file "$scratch/p" || fail "b: the new passphrase does not open"
	[ -z "$(label "$b" | sed 's/^(no label)$//')" ] || fail "b: label '$(label "$b")' left"
	say "b: passed (volume key digest ${before:0:16}... -> ${after:0:16}...)"
}

# --- c. QEMU's encrypted qcow2, re-keyed, booted through libvirt's -blockdev ---
case_c() {
	local q=$scratch/c.qcow2 t0 rc words o kv=() secret storage format
	local -A opt=()
	t0=$(date +%s)
	"$VMCRYPT" encrypt "$public" "$q" --format qcow2 --key-file "$scratch/qa" --iter-time 10 \
		--batch-mode || fail "c: vmcrypt encrypt --format qcow2 failed"
	"$VMCRYPT" rekey "$q" --key-file "$scratch/qa" --new-key-file "$scratch/qb" --iter-time 10 \
		--batch-mode || fail "c: vmcrypt rekey of the qcow2 failed"
	qemu-img check -q --object "secret,id=sb,file=$scratch/qb" \
		--image-opts "driver=qcow2,file.filename=$q,encrypt.key-secret=sb" ||
		fail "c: qemu-img check finds errors after the rekey"
	rc=0
	"$VMCRYPT" test-key "$q" --key-file "$scratch/qa" 2>/dev/null || rc=$?
	[ $rc = 2 ] || fail "c: test-key with passphrase A exited $rc, not 2 (wrong passphrase)"
	if qemu-io --object "secret,id=sa,file=$scratch/qa" -c 'read 0 512' \
		--image-opts "driver=qcow2,file.filename=$q,encrypt.key-secret=sa" >/dev/null 2>&1; then
		fail "c: QEMU reads the re-keyed qcow2 with passphrase A"
	fi
	say "c: encrypt --format qcow2, rekey and the checks took $(($(date +%s) - t0)) s"
	# vmcrypt qemu-args prints QEMU's configuration as one -blockdev with dotted keys;
	# libvirt splits the same options into a storage node and a format node, in JSON.
	# Any option the split does not carry fails the case. libvirt passes the secret
	# as data encrypted with its master key; a file, as qemu-args prints it, is QEMU's
	# same secret object.
	"$VMCRYPT" qemu-args --key-file "$scratch/qb" "$q" >"$scratch/c.args" ||
		fail "c: vmcrypt qemu-args failed"
	read -r -a words < <(grep -- '^-object .* -blockdev ' "$scratch/c.args")
	if [ "${words[0]:-}" != -object ] || [ "${words[2]:-}" != -blockdev ]; then
		fail "c: qemu-args: no -object then -blockdev in: $(cat "$scratch/c.args")"
	fi
	secret=${words[1]}
	IFS=, read -r -a kv <<<"${words[3]}"
	for o in "${kv[@]}"; do
		case ${o%%=*} in
		driver | node-name | encrypt.format | encrypt.key-secret | file.driver | file.filename)
			opt[${o%%=*}]=${o#*=} ;;
		*) fail "c: qemu-args' -blockdev has '$o', which the libvirt-style nodes do not carry" ;;
		esac
	done
	if [ "${opt[driver]:-}" != qcow2 ] || [ "${opt[encrypt.format]:-}" != luks ] ||
		[ "${opt[file.driver]:-}" != file ] || [ "${opt[file.filename]:-}" != "$q" ] ||
		[[ $secret != secret,id=${opt[encrypt.key-secret]:-},*file=$scratch/qb ]]; then
		fail "c: qemu-args' -blockdev is not QEMU's qcow2 over $q with its secret: ${words[*]:0:4}"
	fi
	printf -v storage '{"driver":"%s","filename":"%s","node-name":"libvirt-1-storage",%s}' \
		"${opt[file.driver]}" "${opt[file.filename]}" '"auto-read-only":true,"discard":"unmap"'
	printf -v format '{"node-name":"libvirt-1-format","read-only":false,"driver":"%s",%s}' \
		"${opt[driver]}" "$(printf '"encrypt":{"format":"%s","key-secret":"%s"},"file":"libvirt-1-storage"' \
			"${opt[encrypt.format]}" "${opt[encrypt.key-secret]}")"
	# The boot: the initramfs unlocks the root (read from /boot, the disk's partition 3),
	# then systemd's greeting is the first line written by a program from the root file
	# system (Debian's initramfs has no systemd); the guest is stopped there.
	console c "" --object "$secret" --blockdev "$storage" --blockdev "$format" \
		expect 'unlocking with the public passphrase' 600 \
		expect 'Welcome to Debian GNU/Linux' 300 \
		kill
	rm -f "$q"
	say "c: passed ($(($(date +%s) - t0)) s)"
}

# VMCRYPT_IMAGE_CASES: groups of cases; the cases of a group (joined by +) run one after
# the other in one process, the groups side by side.
groups=${VMCRYPT_IMAGE_CASES:-a+c b}
pids=()
for g in $groups; do
	(
		for c in ${g//+/ }; do
			"case_$c"
		done
	) >"$logdir/group-$g.out" 2>&1 &
	pids+=("$!")
done
failed=()
i=0
for g in $groups; do
	rc=0
	wait "${pids[$i]}" || rc=$?
	sed "s/^/$g| /" "$logdir/group-$g.out"
	[ "$rc" = 0 ] || failed+=("$g (exit $rc)")
	i=$((i + 1))
done
[ ${#failed[@]} = 0 ] || fail "case group(s) ${failed[*]} failed (console logs in $logdir)"

say "all image boot tests passed in $(($(date +%s) - t_start)) s"
