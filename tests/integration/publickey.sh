#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Public-key images (what contrib/image ships) and LUKS2 in a partition of a disk
# image, checked against cryptsetup: the public passphrase opens what vmcrypt makes
# with --public-key, the label says so, rekey --public-key leaves a private image
# that cryptsetup opens only with the new passphrase (label cleared in the finishing
# header write; a re-key that keeps the public passphrase stays marked), and bad combinations are
# refused (status 1) with nothing written.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires cryptsetup
requires sfdisk

# disk: a 96 MiB GPT disk image, partition 2 (64 MiB) for LUKS.
make_disk()
{
	truncate -s 96M disk
	sfdisk -q disk <<-EOF
		label: gpt
		start=1MiB, size=16MiB, type=L
		size=64MiB, type=CA7D7CCB-63ED-4C53-861C-1742536059CC
	EOF
}

# part2 DISK OUT: a copy of partition 2, for cryptsetup (it cannot open a partition of a file).
part2()
{
	dd if="$1" of="$2" bs=1M skip=17 count=64 status=none
}

case_public_file()
{
	make_plain plain 8192
	"$VMCRYPT" encrypt plain img --public-key
	"$VMCRYPT" dump img >dump.txt
	grep -q '^WARNING: PUBLIC KEY' dump.txt || fail "dump does not warn about the public key"
	grep -q '^Label:.*vmcrypt:public-key NOT SECRET' dump.txt || fail "label is not the public one"
	printf public >pub
	cs open --test-passphrase --key-file pub img || fail "cryptsetup refuses 'public'"
	cs luksDump img | grep -q 'PBKDF:.*pbkdf2' || fail "the public keyslot is not PBKDF2"
	"$VMCRYPT" test-key img --public-key
	"$VMCRYPT" decrypt img out --public-key
	expect_same plain out "decrypt --public-key"
}

case_partition_rekey()
{
	make_disk
	make_plain plain 32768
	cp disk disk.orig
	# A partition is formatted only with --force (it always exists).
	expect_exit "$EXIT_USAGE" "$VMCRYPT" encrypt plain disk@2 --public-key
	cmp -s disk disk.orig || fail "a refused encrypt changed the disk"
	"$VMCRYPT" encrypt plain disk@2 --public-key --force --batch-mode
	# Nothing outside partition 2 was written: partition 1 and the GPT are as they were.
	cmp -s <(head -c 17M disk) <(head -c 17M disk.orig) || fail "bytes before partition 2 changed"
	cmp -s <(tail -c 15M disk) <(tail -c 15M disk.orig) || fail "bytes after partition 2 changed"
	part2 disk p2
	printf public >pub
	cs open --test-passphrase --key-file pub p2 || fail "cryptsetup: 'public' does not open p2"
	"$VMCRYPT" dump --json disk@2 >before.json

	printf 'my new passphrase' >new
	"$VMCRYPT" rekey disk --partition 2 --public-key --new-key-file new "${FAST_PBKDF2[@]}" \
		--batch-mode
	"$VMCRYPT" dump disk@2 >dump.txt
	if grep -q 'PUBLIC KEY\|vmcrypt:public-key' dump.txt; then
		fail "after rekey --public-key the image still says public"
	fi
	"$VMCRYPT" dump --json disk@2 >after.json
	cmp -s before.json after.json && fail "rekey left the header as it was"
	expect_exit "$EXIT_PASS" "$VMCRYPT" test-key disk@2 --public-key
	"$VMCRYPT" test-key disk@2 --key-file new
	part2 disk p2
	cs open --test-passphrase --key-file new p2 || fail "cryptsetup: new passphrase refused"
	if cs open --test-passphrase --key-file pub p2 2>/dev/null; then
		fail "cryptsetup still opens the re-keyed image with 'public'"
	fi
	"$VMCRYPT" decrypt disk@2 out --key-file new
	head -c 32M out >out32
	expect_same plain out32 "plaintext after rekey --public-key"
}

# Re-keyed but still on the public passphrase (--keep-keyslots): still public, and says so.
case_keep_public()
{
	make_plain plain 4096
	"$VMCRYPT" encrypt plain img --public-key
	printf public >pub
	"$VMCRYPT" rekey img --key-file pub --keep-keyslots --batch-mode
	"$VMCRYPT" dump img >dump.txt
	grep -q '^Label:.*vmcrypt:public-key' dump.txt || fail "the label no longer says public"
	"$VMCRYPT" test-key img --public-key
	cs open --test-passphrase --key-file pub img || fail "cryptsetup refuses 'public'"
}

case_refusals()
{
	make_plain plain 1024
	printf x >k
	expect_exit "$EXIT_USAGE" "$VMCRYPT" encrypt plain img --public-key --key-file k
	[ ! -e img ] || fail "a refused encrypt left img behind"
	expect_exit "$EXIT_USAGE" "$VMCRYPT" encrypt plain img --public-key --type luks1
	[ ! -e img ] || fail "a refused LUKS1 --public-key left img behind"
	"$VMCRYPT" encrypt plain img --key-file k "${FAST_PBKDF2[@]}"
	cp img img.orig
	expect_exit "$EXIT_USAGE" "$VMCRYPT" rekey img --public-key --keep-keyslots
	expect_exit "$EXIT_USAGE" "$VMCRYPT" rekey img --public-key --resume
	# A private image: the public passphrase is simply wrong, and nothing changes.
	expect_exit "$EXIT_PASS" "$VMCRYPT" rekey img --public-key --new-key-file k --batch-mode
	cmp -s img img.orig || fail "a refused rekey changed the image"
	grep -q 'no key available' last.err || fail "rekey with a wrong public passphrase: no reason given"
}

run_case public-file case_public_file
run_case partition-rekey case_partition_rekey
run_case keep-public case_keep_public
run_case refusals case_refusals
finish
