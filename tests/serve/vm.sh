#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# End to end with a real VM: the tests/vm guest (Debian kernel, busybox initramfs,
# TCG) gets a LUKS2 vmcrypt image as its only disk, through `vmcrypt serve` (QEMU's
# NBD client, the -drive line serve printed, pasted as is) and through `vmcrypt mount`
# (DIR/disk.raw as a raw disk). The guest makes an ext2 file system on it, writes a
# text file and 4 MiB of random data, prints the data's sha256, unmounts and powers
# off. The host then reads that file system out of `vmcrypt decrypt`'s plaintext with
# e2fsprogs (e2fsck -fn, debugfs) and finds both files, the data with the guest's hash.
# Skips (77) when tests/vm/setup.sh cannot make a guest here.
. "${SRCDIR:?}/../serve/functions.sh"

requires_plugin
requires qemu-system-x86_64
requires cpio
requires debugfs
requires e2fsck
requires modprobe
requires test -x "$VMCRYPT"

VMDIR=$(cd "$SRCDIR/../vm" && pwd)
setup_out=$("$VMDIR/setup.sh" --quiet 2>setup.err) || {
	rc=$?
	[ "$rc" -eq 77 ] && skip "no guest: $(sed -n 's/^setup.sh: SKIP: //p' setup.err | tail -n 1)"
	cat setup.err >&2
	fail "tests/vm/setup.sh failed (exit $rc)"
}
KVER=$(sed -n 's/^kver=//p' <<<"$setup_out")
KERNEL=$(sed -n 's/^kernel=//p' <<<"$setup_out")
INITRAMFS=$(sed -n 's/^initramfs=//p' <<<"$setup_out")
MODROOT=$(dirname "$KERNEL")
[ -e "$KERNEL" ] && [ -e "$INITRAMFS" ] || fail "setup.sh gave no kernel or initramfs: $setup_out"

# The guest's /init for this test, in a second cpio archive appended to the harness's
# initramfs (the kernel unpacks both; the later /init wins), with ext4 (it mounts ext2)
# and its dependencies.
make_initrd()
{
	local ov=$TMPDIR_TEST/overlay line path kind
	mkdir -p "$ov/lib/modules/e2e" "$ov/etc"
	: >"$ov/etc/e2e-modules.list"
	modprobe -d "$MODROOT" -S "$KVER" --show-depends ext4 >deps.txt ||
		skip "cannot resolve the ext4 module of $KVER"
	while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		case $path in
		*.ko) cp "$path" "$ov/lib/modules/e2e/" ;;
		*.ko.xz) xz -dc "$path" >"$ov/lib/modules/e2e/$(basename "$path" .xz)" ;;
		*.ko.zst) zstd -qdc "$path" >"$ov/lib/modules/e2e/$(basename "$path" .zst)" ;;
		*) continue ;;
		esac
		line=$(basename "$path")
		echo "${line%.ko*}.ko" >>"$ov/etc/e2e-modules.list"
	done <deps.txt
	cat >"$ov/init" <<'INIT'
#!/bin/sh
# shellcheck shell=sh
PATH=/bin:/sbin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 >/proc/sys/kernel/printk
done_() { echo "E2E-DONE"; sync; poweroff -f; sleep 5; exit 1; }
echo "E2E-BOOTED $(uname -r)"
while read -r name kind; do insmod "/lib/modules/$name" 2>/dev/null; done </etc/modules.list
while read -r name; do insmod "/lib/modules/e2e/$name" 2>/dev/null; done </etc/e2e-modules.list
i=0
while [ ! -b /dev/vda ]; do
	i=$((i + 1)); [ $i -gt 100 ] && { echo "E2E-ERROR no disk"; done_; }
	sleep 0.1
done
mkdir -p /mnt
if ! mke2fs -q /dev/vda >/tmp/err 2>&1; then echo "E2E-ERROR mke2fs: $(cat /tmp/err)"; done_; fi
if ! mount -t ext2 /dev/vda /mnt 2>/tmp/err; then echo "E2E-ERROR mount: $(cat /tmp/err)"; done_; fi
echo "written by the guest through vmcrypt" >/mnt/hello.txt
dd if=/dev/urandom of=/mnt/random.bin bs=65536 count=64 2>/dev/null
echo "E2E-SHA $(sha256sum /mnt/random.bin | cut -d' ' -f1)"
umount /mnt || echo "E2E-ERROR umount"
sync
echo "E2E-OK"
done_
INIT
	chmod +x "$ov/init"
	(cd "$ov" && find . | cpio -o -H newc --quiet) >overlay.cpio
	cat "$INITRAMFS" overlay.cpio >"$TMPDIR_TEST/initrd.cpio"
}
make_initrd

# boot DRIVE-ARGS...: runs the guest (TCG) with the given disk; console in console.log.
boot()
{
	timeout -k 10 300 qemu-system-x86_64 -machine pc -accel tcg -cpu max -m 512 -smp 2 \
		-nodefaults -display none -no-reboot -serial file:console.log \
		-kernel "$KERNEL" -initrd "$TMPDIR_TEST/initrd.cpio" \
		-append "console=ttyS0 panic=-1 quiet cryptomgr.notests=1" "$@" </dev/null ||
		{ tail -20 console.log >&2; fail "the guest did not power off cleanly"; }
	tr -d '\r' <console.log >console.txt
	grep -q '^E2E-OK' console.txt || { tail -30 console.txt >&2; fail "the guest failed"; }
	GUEST_SHA=$(sed -n 's/^E2E-SHA //p' console.txt)
}

# The host reads the guest's file system out of the decrypted image.
host_check()
{
	vmc decrypt img dec --key-file "$PASS"
	e2fsck -fn dec >fsck.txt 2>&1 || { cat fsck.txt >&2; fail "e2fsck finds the guest's file system damaged"; }
	debugfs -R "cat /hello.txt" dec 2>/dev/null >hello.txt
	expect_eq "$(cat hello.txt)" "written by the guest through vmcrypt" "hello.txt written by the guest"
	debugfs -R "dump /random.bin $PWD/random.bin" dec 2>/dev/null
	expect_eq "$(sha256 random.bin)" "$GUEST_SHA" "sha256 of random.bin, host vs guest"
	expect_eq "$(filesize random.bin)" 4194304 "size of random.bin"
}

case_nbd()
{
	local drive
	trap case_cleanup EXIT
	vmc create img --size 64M --key-file "$PASS" "${FAST_PBKDF2[@]}" --batch-mode >/dev/null
	serve_start img --key-file "$PASS" --socket "$PWD/s.sock"
	drive=$(grep '^-drive file=nbd+unix' serve.out)
	# shellcheck disable=SC2086 # the printed arguments, as pasted
	boot $drive
	serve_stop
	host_check
}

case_fuse()
{
	requires_fuse
	trap case_cleanup EXIT
	vmc create img --size 64M --key-file "$PASS" "${FAST_PBKDF2[@]}" --batch-mode >/dev/null
	mkdir mnt
	mount_start img mnt --key-file "$PASS"
	boot -drive "file=$PWD/mnt/disk.raw,format=raw,if=virtio"
	mount_stop mnt
	host_check
}

run_case "guest-over-nbd" case_nbd
run_case "guest-over-fuse" case_fuse
finish
