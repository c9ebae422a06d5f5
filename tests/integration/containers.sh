#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Never a container for a disk: images made by qemu-img in every container format it
# writes (qcow2 plain, with the layouts image builders use and encrypted; qcow; VMDK
# sparse, stream-optimised and as a descriptor; VDI; VHDX; VHD; QED) and a Ceph RBD
# layered-clone header. Those QEMU reads are opened as the disk their guest sees (here
# empty: every verb that opens an IMAGE says "not a LUKS image", exit 4, and the file
# is untouched); the others (qcow2 with the legacy AES encryption, the RBD clone header)
# are refused by every verb, SRC included, with exit 7 and one line naming the format.
# QEMU's encrypted qcow2 is an encrypted image vmcrypt opens itself (dump works), never
# a disk: as SRC or DISK@N it is refused the same way, and encrypt --in-place says it
# is encrypted already (its own verbs are tests/integration/qcow2-crypt.sh's). --format raw (--source-format raw
# for SRC) takes the bytes as they are. The containers holding LUKS images are
# tests/integration/qemu-formats.sh's.
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
	qemu-img create -q -f qcow2 --object secret,id=s0,file=qsec \
		-o encryption=on,encrypt.key-secret=s0 aes.qcow2 64M
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
	READABLE=(plain.qcow2 builder.qcow2 old.qcow sparse.vmdk stream.vmdk desc.vmdk disk.vdi
		disk.vhdx disk.vhd disk.qed)
	REFUSED=("aes.qcow2:legacy AES" "clone.rbd:Ceph RBD")
}

# exits STATUS WORD FILE CMD...: CMD exits STATUS with one line naming WORD; FILE is unchanged.
exits()
{
	local status=$1 word=$2 file=$3 before rc=0
	shift 3
	before=$(sha256 "$file")
	"$@" >out 2>err </dev/null || rc=$?
	expect_eq "$rc" "$status" "$* (exit status)"
	[ "$(wc -l <err)" -eq 1 ] || fail "$*: not one line: $(cat err)"
	grep -q -- "$word" err || fail "$*: the message does not name '$word': $(cat err)"
	expect_eq "$(sha256 "$file")" "$before" "$*: the file is unchanged"
}

refused()
{
	exits "$EXIT_NOTSUP" "$@"
}

case_refused()
{
	local c f w
	make_containers
	printf 'secret' >k
	for c in "${REFUSED[@]}"; do
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
		refused "$w" "$f" "$VMCRYPT" encrypt "$f" out.img --key-file k "${FAST_PBKDF2[@]}"
		[ ! -e out.img ] || fail "encrypt of $f left an output"
	done
	echo "${#REFUSED[@]} containers refused by dump, test-key, rekey, add-key, decrypt, create DISK@N, encrypt (SRC and --in-place)"
}

# QEMU's encrypted qcow2: an image (dump), never a disk.
case_encrypted()
{
	local w="encrypted qcow2" f=enc.qcow2
	make_containers
	printf 'secret' >k
	"$VMCRYPT" dump enc.qcow2 >out </dev/null || fail "dump of an encrypted qcow2"
	grep -q "qcow2" out || fail "dump does not say qcow2"
	refused "$w" "$f" "$VMCRYPT" dump "$f@1"
	refused "$w" "$f" "$VMCRYPT" create "$f@1" --size 1M --key-file k --batch-mode \
		--force "${FAST_PBKDF2[@]}"
	exits "$EXIT_USAGE" "LUKS image already" "$f" "$VMCRYPT" encrypt --in-place "$f" \
		--header "$f.hdr" --key-file k --batch-mode "${FAST_PBKDF2[@]}"
	[ ! -e "$f.hdr" ] || fail "encrypt --in-place of $f left a header file"
	refused "$w" "$f" "$VMCRYPT" encrypt "$f" out.img --key-file k "${FAST_PBKDF2[@]}"
	[ ! -e out.img ] || fail "encrypt of $f left an output"
	echo "encrypted qcow2: dump opens it; DISK@N, SRC and --in-place refuse it"
}

case_readable()
{
	local f
	requires qemu-storage-daemon --version
	make_containers
	printf 'secret' >k
	for f in "${READABLE[@]}"; do
		exits "$EXIT_NOTLUKS" "not a LUKS image" "$f" "$VMCRYPT" dump "$f"
		exits "$EXIT_NOTLUKS" "no partition table" "$f" "$VMCRYPT" dump "$f@1"
		exits "$EXIT_NOTLUKS" "not a LUKS image" "$f" "$VMCRYPT" test-key "$f" --key-file k
		exits "$EXIT_NOTLUKS" "not a LUKS image" "$f" "$VMCRYPT" rekey "$f" --key-file k \
			--batch-mode "${FAST_PBKDF2[@]}"
		exits "$EXIT_NOTLUKS" "not a LUKS image" "$f" "$VMCRYPT" add-key "$f" --key-file k \
			--new-key-file k "${FAST_PBKDF2[@]}"
		exits "$EXIT_NOTLUKS" "not a LUKS image" "$f" "$VMCRYPT" decrypt "$f" out.raw --key-file k
		[ ! -e out.raw ] || fail "decrypt of $f left an output"
	done
	if pgrep -f "qemu-storage-daemon.*$TMPDIR_TEST" >/dev/null; then
		fail "a qemu-storage-daemon outlived vmcrypt"
	fi
	echo "${#READABLE[@]} containers opened through QEMU by dump, test-key, rekey, add-key, decrypt"
}

case_format_raw()
{
	make_containers
	printf 'secret' >k
	# The container's own bytes: no LUKS magic at offset 0.
	exits "$EXIT_NOTLUKS" "not a LUKS image" plain.qcow2 "$VMCRYPT" dump plain.qcow2 --format raw
	"$VMCRYPT" encrypt plain.qcow2 bytes.img --source-format raw --key-file k "${FAST_PBKDF2[@]}" \
		</dev/null || fail "encrypt --source-format raw of a qcow2"
	"$VMCRYPT" decrypt bytes.img bytes.raw --key-file k </dev/null || fail "decrypt bytes.img"
	cmp -n "$(stat -c %s plain.qcow2)" bytes.raw plain.qcow2 ||
		fail "--source-format raw: the plaintext is not the container's bytes"
	exits "$EXIT_USAGE" "not a format name" plain.qcow2 "$VMCRYPT" dump plain.qcow2 --format 'Q,x'
}

run_case "refused" case_refused
run_case "encrypted" case_encrypted
run_case "readable" case_readable
run_case "format-raw" case_format_raw
finish
