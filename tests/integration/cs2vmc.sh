#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Images made by cryptsetup 2.6 open in vmcrypt, across the options a user can pick:
# PBKDF (argon2i, argon2id, pbkdf2 with sha1/sha256/sha512), sector sizes 512/4096,
# keyslots high up with other slots in use, label/subsystem, imported tokens,
# LUKS2 metadata sizes 16k..4m, detached headers, LUKS1 xts and cbc-essiv.
# For each image:
#  - vmcrypt test-key: right passphrase exit 0, wrong one exit 2 (image unchanged);
#  - vmcrypt dump agrees with cryptsetup luksDump (UUID, cipher, sector size, data
#    offset, keyslots, label, subsystem, key size, PBKDFs, tokens);
#  - LUKS2: vmcrypt dump --json equals the JSON area on disk (tokens kept as-is);
#  - vmcrypt dump --dump-volume-key equals cryptsetup luksDump --dump-volume-key;
#  - data the reference cipher (refxts.py, checked against peers by reftest.sh)
#    encrypts with cryptsetup's volume key is what vmcrypt decrypt returns.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires cryptsetup
requires_python_libcrypto
requires test -x "$VMCRYPT"

DATA_KIB=4096

# cs_image TYPE IMG [luksFormat options...]: a cryptsetup image whose data area is
# exactly DATA_KIB, passphrase $PASS.
cs_image()
{
	local type=$1 img=$2 off
	shift 2
	truncate -s 64M "$img"
	cs luksFormat --batch-mode --type "$type" --key-file "$PASS" "$@" "$img" 2>format.err ||
		{ cat format.err >&2; fail "cryptsetup luksFormat $* failed"; }
	cs luksDump "$img" >format.dump
	off=$(luksmeta field format.dump data_offset)
	truncate -s $((off + DATA_KIB * 1024)) "$img"
}

# check_image IMG [HEADER]: every check of this file's header comment.
check_image()
{
	local img=$1 hdr=${2:-} hopt=() hfile=$1 off ss cipher ver
	if [ -n "$hdr" ]; then
		hopt=(--header "$hdr")
		hfile=$hdr
	fi

	# test-key, right and wrong, and nothing written.
	expect_unchanged "$hfile" vmc test-key "$img" "${hopt[@]}" --key-file "$PASS" ||
		{ cat last.err >&2; fail "vmcrypt test-key with the right passphrase: exit $?"; }
	local rc=0
	expect_unchanged "$hfile" vmc test-key "$img" "${hopt[@]}" --key-file "$WRONG" || rc=$?
	[ "$rc" -eq "$EXIT_PASS" ] || { cat last.err >&2; fail "vmcrypt test-key with a wrong passphrase: exit $rc, expected $EXIT_PASS"; }

	# dump vs luksDump.
	cs luksDump "${hopt[@]}" "$img" >cs.dump
	expect_exit 0 vmc dump "$img" "${hopt[@]}"
	cp last.out vm.dump
	luksmeta compare cs.dump vm.dump ||
		fail "vmcrypt dump disagrees with cryptsetup luksDump (see above; files cs.dump vm.dump)"
	ver=$(luksmeta field cs.dump version)
	if [ "$ver" = 2 ]; then
		expect_exit 0 vmc dump --json "$img" "${hopt[@]}"
		cp last.out vm.json
		luksmeta check-json vm.json "$hfile" ||
			fail "vmcrypt dump --json disagrees with the header on disk (vm.json)"
	fi

	# Volume key.
	cs_volume_key "$img" "$PASS" cs.vk "${hopt[@]}"
	expect_unchanged "$hfile" vmc dump "$img" "${hopt[@]}" --dump-volume-key \
		--key-file "$PASS" --batch-mode ||
		{ cat last.err >&2; fail "vmcrypt dump --dump-volume-key: exit $?"; }
	cp last.out vm-vk.dump
	luksmeta volume-key vm-vk.dump >vm.vk || fail "no 'Volume key:' line in vmcrypt dump --dump-volume-key"
	expect_eq "$(cat vm.vk)" "$(cat cs.vk)" "volume key: vmcrypt dump --dump-volume-key vs cryptsetup luksDump --dump-volume-key"

	# Data: the reference cipher writes, vmcrypt reads.
	off=$(luksmeta field cs.dump data_offset)
	ss=$(luksmeta field cs.dump sector_size)
	cipher=$(luksmeta field cs.dump cipher)
	make_plain plain "$DATA_KIB"
	refxts encrypt --cipher "$cipher" --sector-size "$ss" --key-file cs.vk --offset "$off" plain "$img"
	expect_exit 0 vmc decrypt "$img" out "${hopt[@]}" --key-file "$PASS"
	expect_same out plain "vmcrypt decrypt of $cipher/$ss data (refxts-encrypted with cryptsetup's key) vs the plaintext"
	# The plaintext has 64 KiB zero runs: a sparse output file has holes there.
	if [ $(($(stat -c '%b * %B' out))) -ge "$(filesize out)" ]; then
		fail "vmcrypt decrypt output is not sparse: $(($(stat -c '%b * %B' out))) bytes allocated for $(filesize out)"
	fi
	# Same through stdout.
	"$VMCRYPT" decrypt "$img" - "${hopt[@]}" --key-file "$PASS" >out-stdout ||
		fail "vmcrypt decrypt IMG - failed: exit $?"
	expect_same out-stdout plain "vmcrypt decrypt to stdout vs the plaintext"
	# A wrong passphrase decrypts nothing and writes nothing.
	rm -f out-wrong
	rc=0
	expect_unchanged "$img" vmc decrypt "$img" out-wrong "${hopt[@]}" --key-file "$WRONG" || rc=$?
	[ "$rc" -eq "$EXIT_PASS" ] || fail "vmcrypt decrypt with a wrong passphrase: exit $rc, expected $EXIT_PASS"
	if [ -s out-wrong ]; then fail "vmcrypt decrypt with a wrong passphrase left output"; fi
}

case_luks2()
{
	cs_image luks2 img "$@"
	check_image img
}

case_luks1()
{
	cs_image luks1 img "$@"
	check_image img
}

# Passphrase in keyslot SLOT, PASS2 in the other listed slots.
case_slots()
{
	local type=$1 slot=$2 s
	shift 2
	truncate -s 64M img
	cs luksFormat --batch-mode --type "$type" "${FAST_PBKDF2[@]}" --key-slot 1 --key-file "$PASS2" img
	cs luksDump img >format.dump
	truncate -s $(($(luksmeta field format.dump data_offset) + DATA_KIB * 1024)) img
	for s in "$@"; do
		cs luksAddKey --batch-mode "${FAST_PBKDF2[@]}" --key-file "$PASS2" --key-slot "$s" img "$PASS2"
	done
	cs luksAddKey --batch-mode "${FAST_PBKDF2[@]}" --key-file "$PASS2" --key-slot "$slot" img "$PASS"
	cs luksDump img >slots.dump
	luksmeta field slots.dump keyslots >slots
	echo "keyslots in use: $(cat slots), passphrase in $slot"
	check_image img
	expect_exit 0 vmc test-key img --key-file "$PASS" --key-slot "$slot"
	expect_exit "$EXIT_PASS" vmc test-key img --key-file "$PASS" --key-slot 1
	expect_exit 0 vmc test-key img --key-file "$PASS2" --key-slot 1
	expect_exit "$EXIT_PASS" vmc test-key img --key-file "$PASS2" --key-slot "$slot"
}

case_token()
{
	cs_image luks2 img "${FAST_ARGON2ID[@]}"
	cs luksAddKey --batch-mode "${FAST_PBKDF2[@]}" --key-file "$PASS" --key-slot 2 img "$PASS2"
	printf '%s' '{"type":"vmcrypt-test","keyslots":["2"],"vmcrypt_note":"kept as-is","n":[1,2,3]}' |
		cs token import img --token-id 5
	printf '%s' '{"type":"luks2-keyring","keyslots":["0"],"key_description":"vmcrypt:test"}' |
		cs token import img --token-id 0
	check_image img
	expect_exit 0 vmc dump --json img
	"$PYTHON" -S - last.out <<'EOF' || fail "tokens missing from vmcrypt dump --json"
import json, sys
j = json.load(open(sys.argv[1]))
t = j["tokens"]
assert t["5"]["type"] == "vmcrypt-test" and t["5"]["vmcrypt_note"] == "kept as-is", t
assert t["5"]["n"] == [1, 2, 3] and t["5"]["keyslots"] == ["2"], t
assert t["0"]["type"] == "luks2-keyring" and t["0"]["key_description"] == "vmcrypt:test", t
EOF
}

case_detached()
{
	local type=$1 off
	shift
	truncate -s $((DATA_KIB * 1024)) data
	[ "$type" = luks1 ] && truncate -s 2M hdr
	cs luksFormat --batch-mode --type "$type" --key-file "$PASS" --header hdr "$@" data
	cs luksDump --header hdr data >det.dump
	off=$(luksmeta field det.dump data_offset)
	expect_eq "$off" 0 "data offset of a detached-header image"
	check_image data hdr
	# Without the header the data file is not LUKS.
	expect_exit "$EXIT_NOTLUKS" vmc test-key data --key-file "$PASS"
}

case_binary_keyfile()
{
	local type=$1
	shift
	{ head -c 3000 /dev/urandom; printf '\n\0\n'; head -c 5188 /dev/urandom; printf '\n'; } >kf
	truncate -s 20M img
	cs luksFormat --batch-mode --type "$type" --key-file kf "$@" img
	expect_exit 0 vmc test-key img --key-file kf
	head -c 8191 kf >kf-short
	expect_exit "$EXIT_PASS" vmc test-key img --key-file kf-short
	expect_exit 0 vmc test-key img --key-file kf --keyfile-size 8192
}

run_case "luks2 argon2id sector 4096 (defaults)" case_luks2 "${FAST_ARGON2ID[@]}"
run_case "luks2 argon2i sector 512" case_luks2 "${FAST_ARGON2I[@]}" --sector-size 512
run_case "luks2 argon2id sector 512 aes-xts 256-bit" case_luks2 "${FAST_ARGON2ID[@]}" --sector-size 512 --key-size 256
run_case "luks2 pbkdf2 sha1" case_luks2 "${FAST_PBKDF2[@]}" --hash sha1
run_case "luks2 pbkdf2 sha256 sector 4096" case_luks2 "${FAST_PBKDF2[@]}" --hash sha256 --sector-size 4096
run_case "luks2 pbkdf2 sha512 sector 2048" case_luks2 "${FAST_PBKDF2[@]}" --hash sha512 --sector-size 2048
run_case "luks2 aes-cbc-essiv:sha256 sector 4096" case_luks2 "${FAST_PBKDF2[@]}" --cipher aes-cbc-essiv:sha256 --key-size 256 --sector-size 4096
run_case "luks2 label and subsystem" case_luks2 "${FAST_ARGON2ID[@]}" --label "vm disk: test/1" --subsystem "vmcrypt-tests"
run_case "luks2 keyslot 20 with slots 1,3,7 in use" case_slots luks2 20 3 7
run_case "luks2 keyslot 31 with slots 1,0 in use" case_slots luks2 31 0
run_case "luks1 keyslot 7 with slots 1,2,5 in use" case_slots luks1 7 2 5
run_case "luks2 tokens imported by cryptsetup" case_token
for md in 16k 64k 1m 4m; do
	run_case "luks2 metadata size $md" case_luks2 "${FAST_PBKDF2[@]}" \
		--luks2-metadata-size "$md" --luks2-keyslots-size 2m
done
run_case "luks2 metadata 32k keyslots 4m argon2id" case_luks2 "${FAST_ARGON2ID[@]}" \
	--luks2-metadata-size 32k --luks2-keyslots-size 4m
run_case "luks2 detached header" case_detached luks2 "${FAST_ARGON2ID[@]}"
run_case "luks2 detached header sector 512" case_detached luks2 "${FAST_PBKDF2[@]}" --sector-size 512
run_case "luks1 detached header" case_detached luks1 --pbkdf-force-iterations 1000
run_case "luks1 aes-xts-plain64 sha256" case_luks1 --pbkdf-force-iterations 1000 --cipher aes-xts-plain64 --key-size 512
run_case "luks1 aes-xts-plain64 256-bit sha1" case_luks1 --pbkdf-force-iterations 1000 --cipher aes-xts-plain64 --key-size 256 --hash sha1
run_case "luks1 aes-cbc-essiv:sha256" case_luks1 --pbkdf-force-iterations 1000 --cipher aes-cbc-essiv:sha256 --key-size 256
run_case "luks2 binary key file" case_binary_keyfile luks2 "${FAST_ARGON2ID[@]}"
run_case "luks1 binary key file" case_binary_keyfile luks1 "${FAST_PBKDF2[@]}"
run_case "luks1 aes-cbc-plain64 sha512" case_luks1 --pbkdf-force-iterations 1000 --cipher aes-cbc-plain64 --key-size 256 --hash sha512

finish
