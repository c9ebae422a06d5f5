#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Thin images stay thin: a re-key skips the holes of the data device (a hole holds no
# plaintext) and leaves them holes.
#  - a 4 GiB LUKS1 image made by qemu-img holding 32 MiB written by qemu-io: after
#    vmcrypt rekey, du within 10% (+1 MiB) of before, QEMU reads every written byte
#    back with the new passphrase, the old one is refused by QEMU and by cryptsetup;
#  - the same image as LUKS2 (vmcrypt convert), re-keyed with checksum and journal
#    resilience and small hotzones: du unchanged, cryptsetup opens it, QEMU reads the
#    data after the conversion back to LUKS1;
#  - kill -9 and power cuts at every write point of a thin LUKS2 re-key (data that
#    starts and ends inside file-system blocks, holes inside hotzones and whole hotzones
#    of hole), each resumed by vmcrypt (every tenth finished by cryptsetup): the data
#    is intact and the image is no fuller than after an uninterrupted run.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

requires qemu-img
requires qemu-io
THIN_POINTS=${THIN_POINTS:-120}

# The data of the big image: 8 chunks of 4 MiB, pattern k for chunk k.
BIG_OFFS=(0 100M 513M 1031M 2G 3068M 3584M 4092M)

# qemu_io IMG KEYFILE FMT-OPTS -c CMD...: qemu-io on a LUKS1 image with a secret.
qemu_io()
{
	local img=$1 key=$2
	shift 2
	qemu-io --object "secret,id=s0,file=$key" \
		--image-opts "driver=luks,key-secret=s0,file.filename=$img" "$@"
}

# qemu_luks IMG SIZE: an empty (sparse) LUKS1 image under OLD, made by qemu-img.
qemu_luks()
{
	qemu_img_luks create -q -f luks --object "secret,id=s0,file=$OLD" \
		-o key-secret=s0,iter-time=10 "$1" "$2"
}

# big_io IMG KEYFILE write|read: the 8 chunks of the big image.
big_io()
{
	local img=$1 key=$2 op=$3 k=1 o cmds=()
	for o in "${BIG_OFFS[@]}"; do
		cmds+=(-c "$op -q -P $((k * 17)) $o 4M")
		k=$((k + 1))
	done
	qemu_io "$img" "$key" "${cmds[@]}"
}

du_k()
{
	du -k "$1" | cut -f1
}

# expect_thin BEFORE_KIB IMG WHAT: du of IMG within 10% (+1 MiB) of BEFORE_KIB.
expect_thin()
{
	local before=$1 after
	after=$(du_k "$2")
	[ "$after" -le $((before + before / 10 + 1024)) ] ||
		fail "$3: du grew from $before to $after KiB"
	echo "$3: du $before -> $after KiB"
}

case_big_luks1()
{
	local before rc=0
	qemu_luks t.img 4G
	big_io t.img "$OLD" write
	before=$(du_k t.img)
	[ "$before" -lt 65536 ] || fail "the file system here keeps no holes (du $before KiB)"
	rk t.img --key-file "$OLD" --new-key-file "$NEW"
	expect_thin "$before" t.img "rekey of a 4 GiB LUKS1 image holding 32 MiB"
	vmc dump t.img | grep -q '^Version:[[:space:]]*1$' || fail "not LUKS1 after the rekey"
	big_io t.img "$NEW" read || fail "QEMU does not read back the data with the new passphrase"
	qemu_io t.img "$OLD" -c 'read -q 0 512' 2>/dev/null || rc=$?
	[ "$rc" -ne 0 ] || fail "QEMU still opens the image with the old passphrase"
	if cs open --test-passphrase --key-file "$OLD" t.img 2>/dev/null; then
		fail "cryptsetup still opens the image with the old passphrase"
	fi
	cs open --test-passphrase --key-file "$NEW" t.img || fail "cryptsetup refuses the new passphrase"
}

case_big_luks2()
{
	local before
	qemu_luks t.img 4G
	big_io t.img "$OLD" write
	vmc convert t.img --type luks2 --batch-mode
	before=$(du_k t.img)
	rk t.img --key-file "$OLD" --new-key-file "$NEW" --resilience checksum --hotzone-size 1M
	expect_thin "$before" t.img "LUKS2 rekey, checksum, 1 MiB hotzones"
	rk t.img --key-file "$NEW" --new-key-file "$NEW" --resilience journal --hotzone-size 1M
	expect_thin "$before" t.img "LUKS2 rekey, journal, 1 MiB hotzones"
	cs luksDump t.img >/dev/null || fail "cryptsetup luksDump refuses the re-keyed image"
	cs open --test-passphrase --key-file "$NEW" t.img || fail "cryptsetup refuses the new passphrase"
	vmc convert t.img --type luks1 --batch-mode
	big_io t.img "$NEW" read || fail "QEMU does not read back the data after two LUKS2 re-keys"
}

# The small image of the fault loop: 64 MiB, data in three places, one starting and
# ending inside a 4 KiB block, as LUKS2.
small_image()
{
	qemu_luks "$1" 64M
	qemu_io "$1" "$OLD" -c 'write -q -P 0x5a 0 3M' -c 'write -q -P 0xa5 20971776 1047552' \
		-c 'write -q -P 0x3c 60M 4M'
	vmc convert "$1" --type luks2 --batch-mode
}

# small_ok IMG KEYFILE: the data of small_image, read by vmcrypt.
small_ok()
{
	vmc decrypt "$1" small.raw --key-file "$2" --batch-mode 2>/dev/null || return 1
	"$PYTHON" -S - small.raw <<'EOF'
import sys
d = open(sys.argv[1], "rb").read()
ok = (d[0:3 << 20] == b"\x5a" * (3 << 20)
      and d[20971776:20971776 + 1047552] == b"\xa5" * 1047552
      and d[60 << 20:64 << 20] == b"\x3c" * (4 << 20))
sys.exit(0 if ok else 1)
EOF
	local rc=$?
	rm -f small.raw
	return "$rc"
}

# midway IMG: the re-encryption stands between two zones (more than one regular
# segment). cryptsetup 2.6 is handed only such states: given the state after the last
# zone's commit (one regular segment, the finish not written yet) its resume
# re-encrypts the whole device a second time; vmcrypt's resume finishes it.
midway()
{
	cs luksDump --dump-json-metadata "$1" | "$PYTHON" -S -c '
import json, sys
segs = json.load(sys.stdin)["segments"].values()
sys.exit(0 if sum(1 for s in segs if not s.get("flags")) > 1 else 1)'
}

thin_run()
{
	cp --sparse=always base.img t.img
	rk t.img --key-file "$OLD" --new-key-file "$NEW" --hotzone-size 1M --resilience checksum
}

case_thin_faults()
{
	local fault=$1 total points n idx=0 rc bad=() ref
	small_image base.img
	thin_run
	ref=$(du_k t.img)
	small_ok t.img "$NEW" || fail "an uninterrupted thin rekey loses data"
	total=$(count_writes thin_run)
	points=$(fault_points "$total" "$THIN_POINTS")
	echo "a thin rekey of 64 MiB holding 8 MiB makes $total writes; du after it: $ref KiB"
	for n in $points; do
		idx=$((idx + 1))
		rc=0
		VMCRYPT_FAULT=$fault:$n thin_run >kill.out 2>&1 || rc=$?
		[ "$rc" -eq 137 ] || { cat kill.out >&2; fail "$fault:$n: exit $rc, not cut"; }
		rc=0
		if pending t.img; then
			if [ $((idx % 10)) -eq 0 ] && midway t.img; then
				cs_finish t.img
			else
				rk t.img --resume --key-file "$NEW" --hotzone-size 1M >resume.out 2>&1 || rc=$?
			fi
		elif small_ok t.img "$OLD"; then
			rk t.img --key-file "$OLD" --new-key-file "$NEW" >resume.out 2>&1 || rc=$?
		else
			rk t.img --resume --key-file "$NEW" >resume.out 2>&1 || true
		fi
		if [ "$rc" -ne 0 ] || ! small_ok t.img "$NEW" || pending t.img; then
			cat resume.out >&2 2>/dev/null || true
			bad+=("$n")
			[ "${#bad[@]}" -lt 5 ] || break
			continue
		fi
		# cryptsetup rewrites the holes it meets: only vmcrypt's runs must stay thin.
		[ $((idx % 10)) -eq 0 ] || expect_thin "$ref" t.img "$fault:$n" >/dev/null
	done
	echo "$fault: $idx points resumed, data intact"
	[ "${#bad[@]}" -eq 0 ] || fail "thin rekey: wrong result after $fault at write(s) ${bad[*]}"
}

run_case "big-luks1" case_big_luks1
run_case "big-luks2" case_big_luks2
run_case "thin-kill" case_thin_faults kill
run_case "thin-powercut" case_thin_faults powercut
finish
