#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A guest-FDE whole-disk image re-keyed on the host before first boot, by partition:
# a GPT (and an MBR) disk with an unencrypted /boot-like ext4 partition holding a file
# and a LUKS2 partition (a vmcrypt image of known plaintext put into it with dd).
#  - vmcrypt rekey DISK@2 (and --partition 2), stopped by SIGINT and resumed, killed
#    mid-step and resumed: the plaintext of partition 2 is unchanged, the new key in
#    force;
#  - every byte outside the LUKS partition (partition tables, the primary and backup
#    GPT, /boot, the gaps) is byte-identical afterwards;
#  - dump, test-key, decrypt, add-key and remove-key take --partition N and DISK@N; a
#    partition that does not exist is a clear error.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

requires sfdisk
requires mkfs.ext4
requires debugfs

MIB=$((1024 * 1024))

# make_disk LABEL: disk.img with partition 1 (/boot, ext4, a file) and partition 2
# (the LUKS2 image luks.img); sets P2_START and P2_SIZE (bytes).
make_disk()
{
	local label=$1 luks_mib
	new_image luks.img
	luks_mib=$(($(filesize luks.img) / MIB))
	truncate -s $((1 + 16 + luks_mib + 3))M disk.img
	if [ "$label" = gpt ]; then
		printf 'label: gpt\nstart=1MiB, size=16MiB, type=linux, name=boot\nstart=17MiB, size=%sMiB, type=linux, name=root\n' \
			"$luks_mib" | sfdisk --quiet disk.img
	else
		printf 'label: dos\nstart=1MiB, size=16MiB, type=83\nstart=17MiB, size=%sMiB, type=83\n' \
			"$luks_mib" | sfdisk --quiet disk.img
	fi
	mkdir -p bootfs
	echo "kernel and initramfs would be here" >bootfs/vmlinuz
	head -c 300000 /dev/urandom >bootfs/initrd.img
	truncate -s 16M boot.img
	mkfs.ext4 -q -F -d bootfs -L boot boot.img
	dd if=boot.img of=disk.img bs=1M seek=1 conv=notrunc status=none
	dd if=luks.img of=disk.img bs=1M seek=17 conv=notrunc status=none
	P2_START=$((17 * MIB))
	P2_SIZE=$(filesize luks.img)
	rm -f luks.img boot.img
}

# outside_sha DISK: sha256 of everything but partition 2.
outside_sha()
{
	"$PYTHON" -S - "$1" "$P2_START" "$P2_SIZE" <<'EOF'
import hashlib, sys
path, start, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
h = hashlib.sha256()
with open(path, "rb") as f:
    h.update(f.read(start))
    f.seek(start + size)
    h.update(f.read())
print(h.hexdigest())
EOF
}

case_rekey_partition()
{
	local label=$1 before pid rc old_vk
	make_disk "$label"
	before=$(outside_sha disk.img)
	sfdisk --dump disk.img >table.before
	# The other verbs, by --partition and by DISK@N.
	expect_exit 0 vmc test-key disk.img --partition 2 --key-file "$OLD"
	expect_exit 0 vmc dump disk.img@2
	grep -q '^Version:[[:space:]]*2$' last.out || fail "dump disk.img@2: $(head -3 last.out)"
	expect_eq "$(plain_of disk.img@2 "$OLD")" "$PLAIN_SHA" "plaintext of partition 2 before"
	expect_exit "$EXIT_NOTLUKS" vmc dump disk.img --partition 1
	expect_exit "$EXIT_NOTLUKS" vmc dump disk.img@7
	grep -q 'no partition 7' last.err || fail "message for a missing partition: $(cat last.err)"
	expect_exit "$EXIT_USAGE" vmc dump disk.img@2 --partition 1
	old_vk=$(volume_key disk.img@2 "$OLD")
	# Stopped by SIGINT part-way, resumed with --partition.
	"$VMCRYPT" rekey disk.img@2 --batch-mode "${FAST_PBKDF2[@]}" --key-file "$OLD" \
		--new-key-file "$NEW" --hotzone-size 4K >bg.out 2>&1 &
	pid=$!
	stop_midway "$pid" INT || fail "SIGINT: exit $STOP_RC: $(cat bg.out)"
	grep -q 'rekey --resume disk.img@2' bg.out || fail "resume command: $(cat bg.out)"
	expect_eq "$(outside_sha disk.img)" "$before" "bytes outside partition 2, mid-way"
	expect_eq "$(plain_of disk.img@2 "$NEW")" "$PLAIN_SHA" "plaintext of partition 2 mid-way"
	expect_exit 0 vmc rekey disk.img --partition 2 --resume --key-file "$NEW"
	expect_rekeyed disk.img@2 "$old_vk" "partition 2 re-keyed ($label)"
	dd if=disk.img of=p2.img bs=1M skip=17 count=$((P2_SIZE / MIB)) status=none
	cs open --test-passphrase --key-file "$NEW" p2.img || fail "cryptsetup: new passphrase (partition copy)"
	if cs open --test-passphrase --key-file "$OLD" p2.img 2>/dev/null; then
		fail "cryptsetup: the old passphrase still opens partition 2"
	fi
	# Killed mid-step, resumed by DISK@2.
	old_vk=$(volume_key disk.img@2 "$NEW")
	rc=0
	VMCRYPT_FAULT=kill:45 vmc rekey disk.img@2 --batch-mode "${FAST_PBKDF2[@]}" --key-file "$NEW" \
		--new-key-file "$OLD" --hotzone-size 64K >/dev/null 2>&1 || rc=$?
	expect_eq "$rc" 137 "killed"
	pending disk.img@2 || fail "partition 2: not unfinished after the kill"
	expect_exit 0 vmc rekey disk.img@2 --resume --key-file "$OLD"
	expect_eq "$(plain_of disk.img@2 "$OLD")" "$PLAIN_SHA" "plaintext of partition 2 after kill + resume"
	[ "$(volume_key disk.img@2 "$OLD")" != "$old_vk" ] || fail "the volume key did not change"
	# The key slot verbs by partition too.
	expect_exit 0 vmc add-key disk.img --partition 2 --key-file "$OLD" --new-key-file "$WRONG" \
		"${FAST_PBKDF2[@]}"
	expect_exit 0 vmc test-key disk.img@2 --key-file "$WRONG"
	expect_exit 0 vmc remove-key disk.img@2 --key-file "$WRONG"
	expect_exit "$EXIT_PASS" vmc test-key disk.img --partition 2 --key-file "$WRONG"
	expect_eq "$(outside_sha disk.img)" "$before" "bytes outside partition 2 afterwards"
	sfdisk --dump disk.img >table.after
	expect_same table.before table.after "partition table"
	[ "$label" != gpt ] || sfdisk --verify disk.img >/dev/null || fail "sfdisk --verify"
	dd if=disk.img of=boot.img bs=1M skip=1 count=16 status=none
	debugfs -R 'cat /initrd.img' boot.img 2>/dev/null >initrd.out
	expect_same initrd.out bootfs/initrd.img "/boot/initrd.img read back from partition 1"
}

run_case "GPT disk: rekey partition 2" case_rekey_partition gpt
run_case "MBR disk: rekey partition 2" case_rekey_partition dos
finish
