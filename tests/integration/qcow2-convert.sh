#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt convert SRC DST between QEMU's encrypted qcow2 and a raw LUKS image, with the
# peers on both sides:
#  - a qemu-img-made encrypted qcow2 (extended_l2=on,cluster_size=128k, data written by
#    qemu-io at scattered offsets, holes, a zeroed range) -> --type luks1: cryptsetup
#    luksDump and open --test-passphrase accept it, QEMU's luks driver reads the plaintext
#    qemu-img convert -O raw gives, the volume key is the qcow2's;
#  - -> --type luks2: cryptsetup accepts it; vmcrypt decrypt, and refxts.py (independent
#    of vmcrypt) with the volume key cryptsetup dumps, read that plaintext;
#  - --new-volume-key (--new-key-file): a new key, only the new passphrase opens DST;
#  - a cryptsetup-made LUKS2 (reencrypt --encrypt, 4096-byte sectors) and a vmcrypt LUKS1
#    with two passphrases -> --format qcow2: qemu-img check clean, info says encrypted
#    luks, QEMU reads the same plaintext, the file is thin, the volume key is kept (LUKS1:
#    both passphrases open it in QEMU), or with --new-volume-key is new;
#  - internal snapshots: the active disk, with a warning;
#  - refused: a wrong passphrase (2), DST exists (1), a backing chain (7), a qcow2 to
#    --format qcow2 (1); a full disk part-way (VMCRYPT_FAULT=enospc:N) both ways is exit 8;
#    none leaves a DST behind;
#  - no plaintext on disk: a marker written into the source is in no output file and no
#    file is left next to DST.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires qemu-img
requires qemu-io
requires cryptsetup
requires test -x "$VMCRYPT"
requires_python_libcrypto

SEC=("${QEMU_SECRETS[@]}")
MARKER=vmcrypt-convert-plaintext-marker-7f3a
SIZE_MIB=24

# qcreate IMG SIZE [OPTS]: a new encrypted qcow2 (retried: QEMU's PBKDF benchmark).
qcreate()
{
	qemu_img_luks create -q -f qcow2 "${SEC[@]}" \
		-o "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10${3:+,$3}" "$1" "$2"
}

# qread IMG OUT [KEYID]: the plaintext QEMU's qcow2 driver reads.
qread()
{
	rm -f "$2"
	qemu-img convert "${SEC[@]}" --image-opts "$(qcow2_opts "$1" "${3:-sec0}")" -O raw "$2"
}

# The source: scattered data (the marker among it), a subcluster boundary, holes, zeros.
make_qcow2()
{
	local img=$1 m=$MARKER
	qcreate "$img" "${SIZE_MIB}M" extended_l2=on,cluster_size=128k
	printf '%s' "$m" >marker
	qemu-io "${SEC[@]}" --image-opts "$(qcow2_opts "$img")" -c 'write -P 0x5a 0 1M' \
		-c 'write -P 0x11 4097 5000' -c 'write -z 2M 128k' -c 'write -P 0x33 5M 64k' \
		-c 'write -P 0x44 9437184 4096' -c "write -s marker 3M ${#m}" \
		-c 'write -P 0x77 23M 1M' >/dev/null
	qread "$img" ref.raw
	grep -q "$MARKER" ref.raw || fail "the marker is not in the source's plaintext"
}

# no_plaintext FILE...: the marker is in none of them, and no stray file is left here.
no_plaintext()
{
	local f
	for f in "$@"; do
		if grep -q "$MARKER" "$f"; then fail "plaintext marker found in $f"; fi
	done
	if ls ./*.vmcrypt-convert* >/dev/null 2>&1; then fail "a conversion journal was left behind"; fi
}

# vmc_vk IMG KEYFILE: the volume key as vmcrypt dumps it.
vmc_vk()
{
	vmc dump --dump-volume-key --batch-mode --key-file "$2" "$1" 2>/dev/null |
		sed -n 's/^Volume key:[[:space:]]*//p' | tr -d ' :\n'
}

# refxts_read IMG VKHEX OUT: the raw LUKS data area decrypted by the reference cipher,
# with the offset and sector size cryptsetup's dump gives.
refxts_read()
{
	local img=$1 vk=$2 out=$3 off ss
	cs luksDump "$img" >cs.dump
	off=$(sed -n 's/^[[:space:]]*offset: \([0-9]*\) \[bytes\]/\1/p' cs.dump | head -1)
	ss=$(sed -n 's/^[[:space:]]*sector: \([0-9]*\) \[bytes\]/\1/p' cs.dump | head -1)
	if [ -z "$off" ]; then # LUKS1: the payload offset in sectors, 512-byte sectors
		off=$(($(sed -n 's/^Payload offset:[[:space:]]*//p' cs.dump) * 512))
		ss=512
	fi
	refxts decrypt --cipher aes-xts-plain64 --key-file "$vk" --sector-size "$ss" \
		--offset "$off" "$img" "$out"
}

# cs_accepts IMG KEYFILE: cryptsetup's luksDump and open --test-passphrase accept it.
cs_accepts()
{
	cs luksDump "$1" >/dev/null || fail "cryptsetup luksDump refuses $1"
	cs open --test-passphrase --key-file "$2" "$1" || fail "cryptsetup: $2 does not open $1"
}

case_to_luks1()
{
	make_qcow2 src.qcow2
	expect_exit 0 vmc convert src.qcow2 dst.img --type luks1 --key-file "$PASS"
	cs_accepts dst.img "$PASS"
	cs luksDump dst.img | grep -q '^Version:[[:space:]]*1' || fail "DST is not LUKS1"
	qemu_luks_read dst.img "$PASS" got.raw
	expect_same got.raw ref.raw "QEMU's luks driver on DST vs qemu-img's plaintext of SRC"
	cs_volume_key dst.img "$PASS" cs.vk
	expect_eq "$(cat cs.vk)" "$(vmc_vk src.qcow2 "$PASS")" "cryptsetup's volume key of DST vs SRC's"
	no_plaintext dst.img
}

case_to_luks2()
{
	make_qcow2 src.qcow2
	expect_exit 0 vmc convert src.qcow2 dst.img --type luks2 --key-file "$PASS"
	cs_accepts dst.img "$PASS"
	cs luksDump dst.img | grep -q '^Version:[[:space:]]*2' || fail "DST is not LUKS2"
	expect_exit 0 vmc decrypt dst.img got.raw --key-file "$PASS"
	expect_same got.raw ref.raw "vmcrypt decrypt of DST vs qemu-img's plaintext of SRC"
	cs_volume_key dst.img "$PASS" cs.vk
	expect_eq "$(cat cs.vk)" "$(vmc_vk src.qcow2 "$PASS")" "cryptsetup's volume key of DST vs SRC's"
	refxts_read dst.img cs.vk ref-got.raw
	expect_same ref-got.raw ref.raw "refxts.py with cryptsetup's key on DST vs SRC's plaintext"
	no_plaintext dst.img
}

case_to_luks_new_key()
{
	local type=$1
	make_qcow2 src.qcow2
	expect_exit 0 vmc convert src.qcow2 dst.img --type "$type" --key-file "$PASS" \
		--new-volume-key --new-key-file "$PASS2" "${FAST_PBKDF2[@]}"
	cs_accepts dst.img "$PASS2"
	expect_exit "$EXIT_PASS" vmc test-key dst.img --key-file "$PASS"
	cs_volume_key dst.img "$PASS2" cs.vk
	[ "$(cat cs.vk)" != "$(vmc_vk src.qcow2 "$PASS")" ] || fail "--new-volume-key kept the key"
	refxts_read dst.img cs.vk got.raw
	expect_same got.raw ref.raw "refxts.py with DST's new key vs SRC's plaintext"
	no_plaintext dst.img
}

# check_qcow2 DST REF KEYID: what QEMU says of and reads from a converted qcow2.
check_qcow2()
{
	local dst=$1 ref=$2 key=$3
	qemu-img check "${SEC[@]}" --image-opts "$(qcow2_opts "$dst" "$key")" >check.out 2>&1 ||
		fail "qemu-img check $dst: $(cat check.out)"
	grep -q "No errors were found" check.out || fail "qemu-img check $dst: $(cat check.out)"
	qemu-img info "$dst" >info.out
	grep -q 'encrypted: yes' info.out || fail "qemu-img info: $dst is not encrypted"
	grep -q 'format: luks' info.out || fail "qemu-img info: $dst is not LUKS-encrypted"
	qread "$dst" got.raw "$key"
	expect_same got.raw "$ref" "QEMU's plaintext of $dst vs the source's"
}

# A sparse plaintext: zeros but for a few scattered blocks and the marker.
make_sparse_plain()
{
	"$PYTHON" -S - plain "$MARKER" <<'EOF'
import os, sys
data = bytearray(8 << 20)
for off in (0, 65536 * 7 + 512, 3 << 20, (8 << 20) - 65536):
    data[off:off + 65536] = os.urandom(65536)
data[5 << 20:(5 << 20) + len(sys.argv[2])] = sys.argv[2].encode()
open(sys.argv[1], "wb").write(data)
EOF
}

# thin FILE MAX_KIB: allocated at most MAX_KIB.
thin()
{
	local kib
	kib=$(du -k "$1" | cut -f1)
	[ "$kib" -le "$2" ] || fail "$1 is not thin: $kib KiB allocated (at most $2 expected)"
}

case_cs_luks2_to_qcow2()
{
	make_sparse_plain
	cp plain src.img
	truncate -s 16M src.img
	cs reencrypt --encrypt --batch-mode --force-offline-reencrypt --type luks2 \
		"${FAST_PBKDF2[@]}" --sector-size 4096 --reduce-device-size 8M --key-file "$PASS" \
		src.img >/dev/null || fail "cryptsetup reencrypt --encrypt failed"
	# The first 8 MiB moved up by 4 MiB and encrypted; the last 4 MiB were given up.
	truncate -s 12M src.img
	expect_exit 0 vmc convert src.img dst.qcow2 --format qcow2 --key-file "$PASS" \
		"${FAST_PBKDF2[@]}"
	check_qcow2 dst.qcow2 plain sec0
	# 4 data blocks of 64 KiB (5 clusters), a 2 MiB LUKS header area, metadata.
	thin dst.qcow2 3072
	expect_eq "$(vmc_vk dst.qcow2 "$PASS")" "$(vmc_vk src.img "$PASS")" "volume key of DST vs SRC"
	no_plaintext dst.qcow2
}

case_luks1_to_qcow2()
{
	local new=${1:-}
	make_sparse_plain
	expect_exit 0 vmc encrypt plain src.img --type luks1 --key-file "$PASS" --batch-mode \
		"${FAST_PBKDF2[@]}"
	vmc add-key src.img "$PASS2" --key-file "$PASS" "${FAST_PBKDF2[@]}" >/dev/null ||
		fail "add-key"
	if [ -n "$new" ]; then
		expect_exit 0 vmc convert src.img dst.qcow2 --format qcow2 --key-file "$PASS" \
			--new-volume-key --new-key-file "$PASS2" "${FAST_PBKDF2[@]}"
		check_qcow2 dst.qcow2 plain sec1
		[ "$(vmc_vk dst.qcow2 "$PASS2")" != "$(vmc_vk src.img "$PASS")" ] ||
			fail "--new-volume-key kept the key"
		if qemu-io "${SEC[@]}" --image-opts "$(qcow2_opts dst.qcow2 sec0)" \
			-c 'read 0 512' >/dev/null 2>&1; then
			fail "the old passphrase opens DST made with --new-volume-key"
		fi
	else
		expect_exit 0 vmc convert src.img dst.qcow2 --format qcow2 --key-file "$PASS"
		check_qcow2 dst.qcow2 plain sec0
		# Both keyslots carried over: QEMU opens DST with the second passphrase too.
		check_qcow2 dst.qcow2 plain sec1
		expect_eq "$(vmc_vk dst.qcow2 "$PASS")" "$(vmc_vk src.img "$PASS")" \
			"volume key of DST vs SRC"
	fi
	thin dst.qcow2 3072
	no_plaintext dst.qcow2
}

case_snapshots()
{
	make_qcow2 src.qcow2
	qemu-img snapshot "${SEC[@]}" -c s1 --image-opts "$(qcow2_opts src.qcow2)"
	qemu-io "${SEC[@]}" --image-opts "$(qcow2_opts src.qcow2)" -c 'write -P 0x99 1M 64k' >/dev/null
	qread src.qcow2 ref.raw
	expect_exit 0 vmc convert src.qcow2 dst.img --type luks1 --key-file "$PASS"
	grep -q 'snapshot' last.err || fail "no warning about the snapshot: $(cat last.err)"
	qemu_luks_read dst.img "$PASS" got.raw
	expect_same got.raw ref.raw "QEMU's plaintext of DST vs SRC's active disk"
}

case_refused()
{
	make_qcow2 src.qcow2
	expect_unchanged src.qcow2 \
		vmc convert src.qcow2 dst.img --type luks2 --key-file "$WRONG" || rc=$?
	expect_eq "${rc:-0}" "$EXIT_PASS" "exit status with a wrong passphrase"
	[ ! -e dst.img ] || fail "a wrong passphrase left DST behind"
	echo keep >dst.img
	expect_exit "$EXIT_USAGE" vmc convert src.qcow2 dst.img --type luks1 --key-file "$PASS"
	expect_eq "$(cat dst.img)" keep "an existing DST"
	expect_exit "$EXIT_USAGE" vmc convert src.qcow2 new.qcow2 --format qcow2 --key-file "$PASS"
	[ ! -e new.qcow2 ] || fail "a refused conversion left DST behind"
	qemu_img_luks create -q -f qcow2 "${SEC[@]}" -b src.qcow2 -F qcow2 \
		-o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10 top.qcow2
	expect_exit "$EXIT_NOTSUP" vmc convert top.qcow2 top.img --type luks1 --key-file "$PASS"
	grep -q 'backing file' last.err || fail "the backing chain is not named: $(cat last.err)"
	[ ! -e top.img ] || fail "a refused conversion left DST behind"
	# A full disk part-way through (the 8th write fails with ENOSPC): exit 8, no DST.
	rc=0
	VMCRYPT_FAULT=enospc:8 "$VMCRYPT" convert src.qcow2 full.img --type luks2 \
		--key-file "$PASS" --batch-mode </dev/null >run.out 2>&1 || rc=$?
	expect_eq "$rc" "$EXIT_IO" "exit status on a full disk: $(cat run.out)"
	[ ! -e full.img ] || fail "a conversion cut by a full disk left DST behind"
	vmc convert src.qcow2 mid.img --type luks1 --key-file "$PASS"
	rc=0
	VMCRYPT_FAULT=enospc:8 "$VMCRYPT" convert mid.img full.qcow2 --format qcow2 \
		--key-file "$PASS" --batch-mode </dev/null >run.out 2>&1 || rc=$?
	expect_eq "$rc" "$EXIT_IO" "exit status on a full disk, to qcow2: $(cat run.out)"
	[ ! -e full.qcow2 ] || fail "a conversion to qcow2 cut by a full disk left DST behind"
}

run_case "qcow2 to luks1" case_to_luks1
run_case "qcow2 to luks2" case_to_luks2
run_case "qcow2 to luks1 new volume key" case_to_luks_new_key luks1
run_case "qcow2 to luks2 new volume key" case_to_luks_new_key luks2
run_case "cryptsetup luks2 to qcow2" case_cs_luks2_to_qcow2
run_case "vmcrypt luks1 to qcow2" case_luks1_to_qcow2
run_case "vmcrypt luks1 to qcow2 new volume key" case_luks1_to_qcow2 new
run_case "snapshots" case_snapshots
run_case "refused" case_refused
finish
