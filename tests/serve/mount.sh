#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt mount (FUSE), against the real peers:
#  - DIR/disk.raw reads as the plaintext (sha256, cat and qemu-img convert), and
#    DIR/disk.vmdk is a VMDK that qemu-img opens with the same size and contents,
#    whose extent and geometry agree with the image size;
#  - dd conv=fsync into disk.raw, then fusermount3 -u: vmcrypt decrypt (and, for
#    LUKS1, QEMU's own luks driver) read the new data; SIGTERM to the mount process
#    unmounts with everything flushed; --foreground works the same;
#  - --read-only refuses writes and shares the image with readers; a busy image
#    gives exit 5, a wrong passphrase exit 2, and nothing is mounted.
# Skips (77) when this sandbox has no usable /dev/fuse or fusermount3.
. "${SRCDIR:?}/../serve/functions.sh"

requires_fuse
requires qemu-img
requires test -x "$VMCRYPT"

DATA_KIB=32768

# One real mount first: a sandbox may have the device yet forbid mounting.
probe_mount()
{
	local dir
	dir=$(mktemp -d "$TMPDIR_TEST/probe.XXXXXX")
	cd "$dir"
	make_plain plain 64
	new_image img plain luks2
	mkdir mnt
	if ! "$VMCRYPT" mount img mnt --key-file "$PASS" >out 2>err </dev/null; then
		skip "FUSE mounts do not work here: $(tail -1 err)"
	fi
	fusermount3 -u mnt
	cd "$TMPDIR_TEST"
}
probe_mount

case_read()
{
	local type=$1 size sectors
	shift
	trap case_cleanup EXIT
	make_plain plain "$DATA_KIB"
	new_image img plain "$type" "$@"
	mkdir mnt
	mount_start img mnt --key-file "$PASS"
	expect_eq "$(cd mnt && echo *)" "disk.raw disk.vmdk" "the files of the mount"
	expect_same mnt/disk.raw plain "disk.raw ($type)"
	qemu-img convert -f raw -O raw mnt/disk.raw out1
	expect_same out1 plain "qemu-img convert of disk.raw ($type)"
	qemu-img convert -f vmdk -O raw mnt/disk.vmdk out2
	expect_same out2 plain "qemu-img convert of disk.vmdk ($type)"
	size=$(qemu-img info --output=json mnt/disk.vmdk | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
	expect_eq "$size" "$(filesize plain)" "virtual size of disk.vmdk"
	sectors=$(sed -n 's/^RW \([0-9]*\) FLAT "disk.raw" 0$/\1/p' mnt/disk.vmdk)
	expect_eq "$((sectors * 512))" "$(filesize plain)" "extent size in disk.vmdk"
	python3 - mnt/disk.vmdk "$sectors" <<'PY' || fail "inconsistent geometry: $(cat mnt/disk.vmdk)"
import re, sys
t = open(sys.argv[1]).read()
g = {k: int(v) for k, v in re.findall(r'ddb\.geometry\.(\w+) = "(\d+)"', t)}
sys.exit(0 if g["heads"] == 16 and g["sectors"] == 63 and
         0 < g["cylinders"] * 16 * 63 <= int(sys.argv[2]) and g["cylinders"] <= 16383 else 1)
PY
	mount_stop mnt
	mountpoint -q mnt && fail "still mounted"
	return 0
}

case_write()
{
	local type=$1
	trap case_cleanup EXIT
	make_plain plain "$DATA_KIB"
	new_image img plain "$type"
	mkdir mnt
	mount_start img mnt --key-file "$PASS"
	make_plain new "$DATA_KIB"
	dd if=new of=mnt/disk.raw bs=1M conv=fsync,notrunc status=none
	expect_same mnt/disk.raw new "disk.raw after dd"
	mount_stop mnt
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec new "vmcrypt decrypt after dd into disk.raw ($type)"
	if [ "$type" = luks1 ]; then
		qemu_luks_read img "$PASS" qemu.raw
		expect_same qemu.raw new "QEMU's luks driver after dd into disk.raw"
	fi
}

# SIGTERM unmounts; writes without fsync are flushed on the way out.
case_sigterm()
{
	trap case_cleanup EXIT
	make_plain plain 8192
	new_image img plain luks2
	mkdir mnt
	mount_start img mnt --key-file "$PASS"
	make_plain new 8192
	dd if=new of=mnt/disk.raw bs=64K conv=notrunc status=none
	kill -TERM "$MOUNT_PID"
	wait_for sh -c "! kill -0 $MOUNT_PID 2>/dev/null" || fail "SIGTERM did not end the mount"
	mountpoint -q mnt && fail "still mounted after SIGTERM"
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec new "written before SIGTERM"
}

case_foreground()
{
	local pid rc=0
	trap case_cleanup EXIT
	make_plain plain 4096
	new_image img plain luks1
	mkdir mnt
	MOUNTS+=(mnt)
	"$VMCRYPT" mount img mnt --key-file "$PASS" --foreground >fg.out 2>fg.err </dev/null &
	pid=$!
	BG_PIDS+=("$pid")
	wait_for grep -q '^Mounted' fg.out || { cat fg.err >&2; fail "no mount in the foreground"; }
	make_plain new 4096
	cp new mnt/disk.raw
	sync mnt/disk.raw
	fusermount3 -u mnt
	wait "$pid" || rc=$?
	expect_eq "$rc" 0 "exit status of vmcrypt mount --foreground"
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec new "cp into disk.raw of a foreground mount"
}

case_read_only()
{
	trap case_cleanup EXIT
	make_plain plain 4096
	new_image img plain luks2
	mkdir mnt
	mount_start img mnt --key-file "$PASS" --read-only
	expect_same mnt/disk.raw plain "read-only disk.raw"
	if dd if=plain of=mnt/disk.raw bs=1M conv=notrunc status=none 2>/dev/null; then
		fail "wrote into a read-only mount"
	fi
	grep -q '^RDONLY ' mnt/disk.vmdk || fail "the VMDK extent of a read-only mount is not RDONLY"
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec plain "vmcrypt decrypt beside a read-only mount"
	mount_stop mnt
}

case_errors()
{
	trap case_cleanup EXIT
	make_plain plain 1024
	new_image img plain luks2
	mkdir mnt mnt2
	expect_exit "$EXIT_PASS" vmc mount img mnt --key-file "$WRONG"
	mountpoint -q mnt && fail "mounted with a wrong passphrase"
	expect_exit "$EXIT_USAGE" vmc mount img plain --key-file "$PASS"
	mount_start img mnt --key-file "$PASS"
	expect_exit "$EXIT_BUSY" vmc mount img mnt2 --key-file "$PASS"
	grep -q 'in use by another process' last.err || fail "no clear message: $(cat last.err)"
	mountpoint -q mnt2 && fail "mounted a busy image"
	mount_stop mnt
}

run_case "read-luks2-4096" case_read luks2 --sector-size 4096
run_case "read-luks1" case_read luks1
run_case "write-luks2" case_write luks2
run_case "write-luks1" case_write luks1
run_case "sigterm" case_sigterm
run_case "foreground" case_foreground
run_case "read-only" case_read_only
run_case "errors" case_errors
finish
