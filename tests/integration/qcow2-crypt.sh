#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# QEMU's encrypted qcow2 (encrypt.format=luks), opened by vmcrypt natively, with QEMU as
# the peer: images made by qemu-img (plain layout, extended_l2=on,cluster_size=128k,
# preallocation=metadata, internal snapshots), data written by qemu-io.
#  - dump says qcow2 + LUKS1; test-key; a wrong passphrase exits 2;
#  - decrypt gives the plaintext qemu-img convert gives, sparse;
#  - the IV of a data cluster is its HOST offset / 512 (proved with refxts.py, which
#    shares no code with vmcrypt, on a cluster whose host and guest offsets differ);
#  - add-key, change-key, remove-key, kill-slot, header backup/restore interchange with
#    qemu-img amend and QEMU's open; after each vmcrypt write qemu-img check is clean,
#    QEMU reads the same plaintext (active layer and snapshots) and an old passphrase
#    no longer opens;
#  - encrypt --format qcow2 writes a thin encrypted qcow2 that qemu-img check accepts
#    and QEMU reads; qemu-args' -blockdev (QEMU's qcow2 driver, encrypt.key-secret) reads
#    it, libvirt-xml gives a qcow2 disk with <encryption format='luks'>;
#  - refused: legacy AES and a dirty image (7), a corrupt or truncated header (6), an
#    image QEMU has open (5), a read-only file for the writing verbs (8).
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires qemu-img
requires qemu-io
requires test -x "$VMCRYPT"

# QEMU's secrets and --image-opts: QEMU_SECRETS and qcow2_opts (functions.sh).
SEC=("${QEMU_SECRETS[@]}")
qopts() { qcow2_opts "$@"; }

# qcreate IMG SIZE [OPTS]: a new encrypted qcow2 (retried: QEMU's PBKDF benchmark).
qcreate()
{
	qemu_img_luks create -q -f qcow2 "${SEC[@]}" \
		-o "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10${3:+,$3}" "$1" "$2"
}

# qwrite IMG CMD...: qemu-io commands on IMG.
qwrite()
{
	local img=$1 c args=()
	shift
	for c in "$@"; do args+=(-c "$c"); done
	qemu-io "${SEC[@]}" --image-opts "$(qopts "$img")" "${args[@]}" >/dev/null
}

# qread IMG OUT [KEYID [SNAPSHOT]]: the plaintext QEMU reads (a snapshot's with SNAPSHOT).
qread()
{
	local img=$1 out=$2 key=${3:-sec0} snap=${4:-}
	rm -f "$out"
	qemu-img convert "${SEC[@]}" ${snap:+-l "snapshot.name=$snap"} --image-opts \
		"$(qopts "$img" "$key")" -O raw "$out"
}

# qcheck IMG [KEYID]: qemu-img check finds no error and no leak.
qcheck()
{
	qemu-img check "${SEC[@]}" --image-opts "$(qopts "$1" "${2:-sec0}")" >check.out 2>&1 ||
		fail "qemu-img check $1: $(cat check.out)"
	grep -q "No errors were found" check.out || fail "qemu-img check $1: $(cat check.out)"
}

# qopens IMG KEYID: does QEMU open IMG with that secret (and read it: qemu-img info
# opens without unlocking)?
qopens()
{
	if qemu-io "${SEC[@]}" --image-opts "$(qopts "$1" "$2")" -c 'read 0 512' >/dev/null 2>&1; then
		echo yes
	else
		echo no
	fi
}

# A test image: 64 MiB, data at 0 (1 MiB), across a subcluster boundary, zeros, at 5 MiB.
make_image()
{
	local img=$1 opts=${2:-}
	qcreate "$img" 64M "$opts"
	qwrite "$img" 'write -P 0x5a 0 1M' 'write -P 0x11 4097 5000' 'write -z 2M 64k' \
		'write -P 0x33 5M 64k' 'write -P 0x77 63M 1M'
}

case_open()
{
	make_image e.qcow2
	expect_exit 0 vmc dump e.qcow2
	grep -q '^Container:.*qcow2' last.out || fail "dump does not say qcow2"
	grep -q '^Version:.*1' last.out || fail "dump does not show the LUKS1 header"
	grep -q '^Virtual size:.*67108864' last.out || fail "dump: virtual size"
	expect_exit 0 vmc dump --json e.qcow2
	"$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["container"]["format"]=="qcow2", d' last.out
	expect_exit 0 vmc test-key --key-file "$PASS" e.qcow2
	expect_exit "$EXIT_PASS" vmc test-key --key-file "$WRONG" e.qcow2
	expect_unchanged e.qcow2 vmc decrypt --key-file "$PASS" e.qcow2 out.raw ||
		fail "decrypt: $(cat last.err)"
	qread e.qcow2 ref.raw
	expect_same out.raw ref.raw "decrypt of QEMU's encrypted qcow2"
	# Sparse: 3 MiB of data written, far less than the 64 MiB disk.
	[ "$(du -k out.raw | cut -f1)" -lt 8192 ] || fail "decrypt output is not sparse"
	echo "dump, test-key, decrypt (sparse) of QEMU's encrypted qcow2"
}

# The IV of a data cluster comes from its host offset: refxts.py (independent of
# vmcrypt) decrypts the cluster of guest offset 5 MiB only with IV = host / 512.
case_host_iv()
{
	local host
	requires_python_libcrypto
	make_image e.qcow2
	vmc dump --dump-volume-key --batch-mode --key-file "$PASS" e.qcow2 >dump.out
	sed -n 's/^Volume key: //p' dump.out >vk.hex
	[ -s vk.hex ] || fail "no volume key in dump"
	# The host cluster of guest cluster 80 (5 MiB / 64 KiB), from the L1 and L2 tables.
	host=$("$PYTHON" -S - e.qcow2 <<'EOF'
import struct, sys
f = open(sys.argv[1], "rb").read()
cb = struct.unpack(">I", f[20:24])[0]
l1 = struct.unpack(">Q", f[40:48])[0]
cs = 1 << cb
g = (5 << 20) >> cb
l2 = struct.unpack(">Q", f[l1 + 8 * (g // (cs // 8)):][:8])[0] & 0x00fffffffffffe00
e = struct.unpack(">Q", f[l2 + 8 * (g % (cs // 8)):][:8])[0] & 0x00fffffffffffe00
print(e)
EOF
)
	[ "$host" -ne $((5 << 20)) ] || fail "host and guest offsets coincide: no proof"
	head -c 65536 /dev/zero | tr '\0' '\063' >want
	"$PYTHON" "$SRCDIR/refxts.py" decrypt --cipher aes-xts-plain64 --key-file vk.hex \
		--iv-offset $((host / 512)) --offset "$host" --length 65536 e.qcow2 got.host
	expect_same got.host want "cluster decrypted with IV = host offset / 512"
	"$PYTHON" "$SRCDIR/refxts.py" decrypt --cipher aes-xts-plain64 --key-file vk.hex \
		--iv-offset $(((5 << 20) / 512)) --offset "$host" --length 65536 e.qcow2 got.guest
	! cmp -s got.guest want || fail "the guest offset's IV decrypts it too"
	echo "guest 5 MiB at host $host: IV = host offset / 512, not the guest offset"
}

# Keyslot verbs, each checked by QEMU; qemu-img amend's slots opened by vmcrypt.
case_keyslots()
{
	make_image k.qcow2
	qemu-img snapshot "${SEC[@]}" -c s1 --image-opts "$(qopts k.qcow2)"
	qwrite k.qcow2 'write -P 0x99 100k 300k'
	qread k.qcow2 ref.raw
	qread k.qcow2 ref.s1 sec0 s1
	vmc add-key --key-file "$PASS" --iter-time 10 k.qcow2 "$PASS2"
	qcheck k.qcow2
	expect_eq "$(qopens k.qcow2 sec1)" yes "QEMU opens with the added passphrase"
	qread k.qcow2 got.raw sec1
	expect_same got.raw ref.raw "QEMU's plaintext after add-key"
	qread k.qcow2 got.s1 sec1 s1
	expect_same got.s1 ref.s1 "QEMU's plaintext of snapshot s1 after add-key"
	vmc remove-key --key-file "$PASS" k.qcow2
	qcheck k.qcow2 sec1
	expect_eq "$(qopens k.qcow2 sec0)" no "QEMU refuses the removed passphrase"
	vmc change-key --key-file "$PASS2" --iter-time 10 k.qcow2 "$PASS"
	qcheck k.qcow2
	expect_eq "$(qopens k.qcow2 sec1)" no "QEMU refuses the changed passphrase"
	expect_eq "$(qopens k.qcow2 sec0)" yes "QEMU opens with the new passphrase"
	# qemu-img amend adds slot 3; vmcrypt opens it and kills it.
	qemu-img amend "${SEC[@]}" -o encrypt.state=active,encrypt.new-secret=sec1,encrypt.keyslot=3,encrypt.iter-time=10 \
		--image-opts "$(qopts k.qcow2)"
	expect_exit 0 vmc test-key --key-file "$PASS2" k.qcow2
	vmc header backup k.qcow2 hdr.bak
	vmc kill-slot --batch-mode k.qcow2 3
	qcheck k.qcow2
	expect_eq "$(qopens k.qcow2 sec1)" no "QEMU refuses the killed slot"
	expect_exit "$EXIT_PASS" vmc test-key --key-file "$PASS2" k.qcow2
	vmc header restore --batch-mode k.qcow2 hdr.bak
	qcheck k.qcow2
	expect_eq "$(qopens k.qcow2 sec1)" yes "QEMU opens the restored slot"
	# qemu-img amend removes what vmcrypt added.
	vmc add-key --key-file "$PASS" --iter-time 10 --key-slot 6 k.qcow2 "$PASS2"
	qemu-img amend "${SEC[@]}" -o encrypt.state=inactive,encrypt.keyslot=6 \
		--image-opts "$(qopts k.qcow2)"
	vmc dump k.qcow2 >dump.out
	grep -q 'Key Slot 6: DISABLED' dump.out || fail "qemu-img amend did not remove slot 6"
	qread k.qcow2 got.raw
	expect_same got.raw ref.raw "plaintext after all keyslot changes"
	vmc decrypt --key-file "$PASS" k.qcow2 out.raw
	expect_same out.raw ref.raw "vmcrypt's plaintext after all keyslot changes"
	echo "add-key, remove-key, change-key, kill-slot, header backup/restore with qemu-img amend"
}

# The layouts image builders use: every one decrypts to QEMU's plaintext.
case_layouts()
{
	local opts i=0
	for opts in "extended_l2=on,cluster_size=128k" "preallocation=metadata" \
		"extended_l2=on,cluster_size=128k,preallocation=metadata" "cluster_size=4k"; do
		i=$((i + 1))
		make_image "l$i.qcow2" "$opts"
		qemu-img snapshot "${SEC[@]}" -c snap --image-opts "$(qopts "l$i.qcow2")"
		qwrite "l$i.qcow2" 'write -P 0x99 100k 300k' 'discard 5M 64k'
		vmc decrypt --force --batch-mode --key-file "$PASS" "l$i.qcow2" out.raw
		qread "l$i.qcow2" ref.raw
		expect_same out.raw ref.raw "decrypt with $opts"
		vmc dump "l$i.qcow2" >dump.out
		grep -q '^Snapshots:.*1' dump.out || fail "dump with $opts: the snapshot"
	done
	echo "decrypt of $i layouts (extended L2, preallocation=metadata, 4 KiB clusters)"
}

case_encrypt()
{
	local words
	make_plain plain.raw 4096
	truncate -s 64M plain.raw
	head -c 1M /dev/urandom >tail.bin
	dd if=tail.bin of=plain.raw bs=1M seek=40 conv=notrunc status=none
	expect_exit 0 vmc encrypt plain.raw n.qcow2 --format qcow2 --key-file "$PASS" --iter-time 10
	qcheck n.qcow2
	qread n.qcow2 got.raw
	expect_same got.raw plain.raw "QEMU reads vmcrypt's encrypted qcow2"
	# Thin: 5 MiB of data, a 2 MiB LUKS header, a little metadata.
	[ "$(stat -c %s n.qcow2)" -lt $((9 << 20)) ] || fail "encrypt --format qcow2 is not thin"
	vmc decrypt --key-file "$PASS" n.qcow2 back.raw
	expect_same back.raw plain.raw "vmcrypt decrypts its own encrypted qcow2"
	qemu-img info n.qcow2 >info.out
	grep -q 'encrypted: yes' info.out || fail "qemu-img info: not encrypted"
	grep -q 'format: luks' info.out || fail "qemu-img info: not LUKS"
	# QEMU writes into it and adds a key slot.
	qwrite n.qcow2 'write -P 0x42 10M 1M'
	qemu-img amend "${SEC[@]}" -o encrypt.state=active,encrypt.new-secret=sec1,encrypt.iter-time=10 \
		--image-opts "$(qopts n.qcow2)"
	qcheck n.qcow2
	expect_exit 0 vmc test-key --key-file "$PASS2" n.qcow2
	qread n.qcow2 got.raw
	vmc decrypt --force --batch-mode --key-file "$PASS2" n.qcow2 back.raw
	expect_same back.raw got.raw "after QEMU wrote into vmcrypt's encrypted qcow2"
	# A SRC of no whole number of sectors: the disk rounds up, the rest reads as zeros.
	head -c 100001 plain.raw >odd.raw
	vmc encrypt odd.raw odd.qcow2 --format qcow2 --key-file "$PASS" "${FAST_PBKDF2[@]}" </dev/null
	qcheck odd.qcow2
	qread odd.qcow2 odd.out
	expect_eq "$(stat -c %s odd.out)" 100352 "the disk size of a 100001-byte SRC"
	cmp -n 100001 odd.out odd.raw || fail "odd-sized SRC: plaintext differs"
	# qemu-args: QEMU's qcow2 driver with the secret, as printed, reads it.
	vmc qemu-args --key-file "$PASS" n.qcow2 >args.out
	read -r -a words < <(grep -- '-blockdev' args.out)
	expect_eq "${words[0]}" -object "qemu-args: the secret comes first"
	expect_eq "${words[2]}" -blockdev "qemu-args: then the -blockdev"
	qemu-io --object "${words[1]}" --image-opts "${words[3]}" -c 'read -P 0x42 10M 1M' >/dev/null ||
		fail "QEMU cannot read through qemu-args' -blockdev: ${words[*]}"
	vmc libvirt-xml n.qcow2 >xml.out
	grep -q "<driver name='qemu' type='qcow2'/>" xml.out || fail "libvirt-xml: not a qcow2 driver"
	grep -q "<encryption format='luks'>" xml.out || fail "libvirt-xml: no luks encryption"
	expect_exit "$EXIT_USAGE" vmc encrypt plain.raw l2.qcow2 --format qcow2 --type luks1 \
		--header h --key-file "$PASS"
	echo "encrypt --format qcow2: clean, thin, QEMU reads and writes it; qemu-args, libvirt-xml"
}

# patch FILE OFFSET HEX: overwrite bytes at OFFSET.
patch()
{
	local hex=$3 bytes=
	while [ -n "$hex" ]; do
		bytes+="\\x${hex:0:2}"
		hex=${hex:2}
	done
	printf '%b' "$bytes" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

case_refused()
{
	make_image e.qcow2
	cp e.qcow2 dirty.qcow2
	patch dirty.qcow2 72 0000000000000001
	expect_exit "$EXIT_NOTSUP" vmc dump dirty.qcow2
	grep -q 'qemu-img check -r' last.err || fail "dirty: no remedy named"
	qemu_img_luks create -q -f qcow2 "${SEC[@]}" -o encryption=on,encrypt.key-secret=sec0 aes.qcow2 16M
	expect_exit "$EXIT_NOTSUP" vmc dump aes.qcow2
	grep -q 'legacy AES' last.err || fail "legacy AES: not named"
	cp e.qcow2 bad.qcow2
	patch bad.qcow2 20 0000001e # cluster_bits 30
	expect_exit "$EXIT_CORRUPT" vmc dump bad.qcow2
	cp e.qcow2 short.qcow2
	truncate -s 300000 short.qcow2
	expect_exit "$EXIT_CORRUPT" vmc dump short.qcow2
	cp e.qcow2 ext.qcow2
	patch ext.qcow2 72 0000000000000004 # external data file
	expect_exit "$EXIT_NOTSUP" vmc dump ext.qcow2
	# QEMU has it open: qemu-io holds its locks while it sleeps.
	qemu-io "${SEC[@]}" --image-opts "$(qopts e.qcow2)" -c 'sleep 4000' >/dev/null &
	sleep 1.5
	expect_exit "$EXIT_BUSY" vmc add-key --key-file "$PASS" --iter-time 10 e.qcow2 "$PASS2"
	grep -q 'QEMU has the image open' last.err || fail "busy: QEMU not named"
	wait
	expect_exit 0 vmc test-key --key-file "$PASS" e.qcow2
	echo "refused: dirty, legacy AES, external data file (7); bad cluster size, truncated (6); open in QEMU (5)"
}

case_read_only()
{
	local as_user=()
	[ "$(id -u)" -ne 0 ] || as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	if [ "${#as_user[@]}" -gt 0 ]; then
		requires setpriv
		"${as_user[@]}" true 2>/dev/null || skip "setpriv cannot switch to uid 65534"
	fi
	make_image e.qcow2
	chmod 0755 "$PWD" "$TMPDIR_TEST"
	chmod 0644 "$PASS" "$PASS2"
	chmod 0444 e.qcow2
	expect_unchanged e.qcow2 "${as_user[@]}" "$VMCRYPT" add-key --key-file "$PASS" \
		--iter-time 10 e.qcow2 "$PASS2" && fail "add-key on a read-only file succeeded"
	expect_exit "$EXIT_IO" "${as_user[@]}" "$VMCRYPT" add-key --key-file "$PASS" \
		--iter-time 10 e.qcow2 "$PASS2"
	expect_exit "$EXIT_IO" "${as_user[@]}" "$VMCRYPT" kill-slot --batch-mode e.qcow2 0
	expect_exit 0 "${as_user[@]}" "$VMCRYPT" test-key --key-file "$PASS" e.qcow2
	echo "read-only file: writing verbs exit 8, reading verbs work"
}

run_case "open, dump, decrypt" case_open
run_case "IV from the host offset" case_host_iv
run_case "keyslots with qemu-img amend" case_keyslots
run_case "layouts and snapshots" case_layouts
run_case "encrypt --format qcow2" case_encrypt
run_case "refused" case_refused
run_case "read-only" case_read_only
finish
