#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Never a container for a disk: images made by qemu-img in every container format it
# writes (qcow2 plain, with the layouts image builders use and encrypted; qcow; VMDK
# sparse, stream-optimised and as a descriptor; VDI; VHDX; VHD; QED) and a Ceph RBD
# layered-clone header are refused by every verb that opens an IMAGE (and by create
# into DISK@N, and in-place encryption), with exit 7 and one line naming the format;
# the file is untouched. encrypt refuses a container SRC the same way. --format raw
# (--source-format raw for SRC) takes the bytes as they are.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires qemu-img
requires test -x "$VMCRYPT"

# make_containers: one image per format in the current directory, listed in CONTAINERS
# as FILE:WORD (WORD: what the refusal must name).
make_containers()
{
	local i
	printf 'qemu secret' >qsec
	qemu-img create -q -f qcow2 plain.qcow2 64M
	qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=128k,preallocation=metadata \
		builder.qcow2 64M
	for i in 1 2 3; do
		qemu-img create -q -f qcow2 --object secret,id=s0,file=qsec \
			-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 enc.qcow2 64M && break
	done
	qemu-img create -q -f qcow old.qcow 64M
	qemu-img create -q -f vmdk sparse.vmdk 64M
	qemu-img create -q -f vmdk -o subformat=streamOptimized stream.vmdk 64M
	qemu-img create -q -f vmdk -o subformat=monolithicFlat desc.vmdk 8M
	qemu-img create -q -f vdi disk.vdi 64M
	qemu-img create -q -f vhdx disk.vhdx 64M
	qemu-img create -q -f vpc disk.vhd 64M
	qemu-img create -q -f qed disk.qed 64M
	printf 'RBDL\272\276' >clone.rbd
	truncate -s 1M clone.rbd
	CONTAINERS=(plain.qcow2:qcow2 builder.qcow2:qcow2 "enc.qcow2:encrypted qcow2"
		old.qcow:qcow sparse.vmdk:VMDK stream.vmdk:VMDK "desc.vmdk:VMDK descriptor"
		disk.vdi:VDI disk.vhdx:VHDX disk.vhd:VHD disk.qed:QED "clone.rbd:Ceph RBD")
}

# refused WORD FILE CMD...: CMD exits 7 with one line naming WORD; FILE is unchanged.
refused()
{
	local word=$1 file=$2 before rc=0
	shift 2
	before=$(sha256 "$file")
	"$@" >out 2>err </dev/null || rc=$?
	expect_eq "$rc" "$EXIT_NOTSUP" "$* (exit status)"
	[ "$(wc -l <err)" -eq 1 ] || fail "$*: not one line: $(cat err)"
	grep -q -- "$word" err || fail "$*: the message does not name '$word': $(cat err)"
	expect_eq "$(sha256 "$file")" "$before" "$*: the file is unchanged"
}

case_image_verbs()
{
	local c f w
	make_containers
	printf 'secret' >k
	for c in "${CONTAINERS[@]}"; do
		f=${c%%:*} w=${c#*:}
		refused "$w" "$f" "$VMCRYPT" dump "$f"
		refused "$w" "$f" "$VMCRYPT" dump "$f@1"
		refused "$w" "$f" "$VMCRYPT" test-key "$f" --key-file k
		refused "$w" "$f" "$VMCRYPT" rekey "$f" --key-file k --batch-mode "${FAST_PBKDF2[@]}"
		refused "$w" "$f" "$VMCRYPT" rekey "$f@4" --key-file k --batch-mode "${FAST_PBKDF2[@]}"
		refused "$w" "$f" "$VMCRYPT" add-key "$f" --key-file k --new-key-file k "${FAST_PBKDF2[@]}"
		refused "$w" "$f" "$VMCRYPT" decrypt "$f" out.raw --key-file k
		[ ! -e out.raw ] || fail "decrypt of $f left an output"
		refused "$w" "$f" "$VMCRYPT" create "$f@1" --size 1M --key-file k --batch-mode \
			--force "${FAST_PBKDF2[@]}"
		refused "$w" "$f" "$VMCRYPT" encrypt --in-place "$f" --header "$f.hdr" --key-file k \
			--batch-mode "${FAST_PBKDF2[@]}"
		[ ! -e "$f.hdr" ] || fail "encrypt --in-place of $f left a header file"
	done
	echo "${#CONTAINERS[@]} containers refused by dump, test-key, rekey, add-key, decrypt, create DISK@N, encrypt --in-place"
}

run_case "image-verbs" case_image_verbs
finish
