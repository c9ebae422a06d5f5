#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every image vmcrypt writes (`vmcrypt encrypt` and `vmcrypt create`, LUKS1 and
# LUKS2, the same option matrix as cs2vmc.sh, detached headers too) is accepted by
# cryptsetup 2.6:
#  - cryptsetup luksDump succeeds and shows what was asked (cipher, sector size,
#    key size, keyslot, PBKDF, label, subsystem, UUID) and agrees with vmcrypt dump;
#  - cryptsetup open --test-passphrase opens it with the passphrase and refuses a
#    wrong one;
#  - cryptsetup repair --batch-mode finds nothing to do: the header area is
#    byte-identical afterwards;
#  - the volume key cryptsetup derives equals vmcrypt dump --dump-volume-key (and
#    the --volume-key-file given to vmcrypt);
#  - the data area, decrypted by refxts.py with cryptsetup's volume key, is the
#    plaintext fed to vmcrypt encrypt; with a detached LUKS2 header cryptsetup
#    itself decrypts the data (reencrypt --decrypt) to the same plaintext;
#  - cryptsetup can add a keyslot to it, and vmcrypt then opens that keyslot.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires cryptsetup
requires_python_libcrypto
requires test -x "$VMCRYPT"

DATA_KIB=4096

# check_cs IMG PLAIN [HEADER]: cryptsetup's view of a vmcrypt image. PLAIN is the
# expected plaintext at the start of the data segment ("" when unknown).
check_cs()
{
	local img=$1 plain=$2 hdr=${3:-} hopt=() hfile=$1 off ss cipher ver hdr_len before after rc
	if [ -n "$hdr" ]; then
		hopt=(--header "$hdr")
		hfile=$hdr
	fi

	cs luksDump "${hopt[@]}" "$img" >cs.dump 2>cs.err ||
		{ cat cs.err >&2; fail "cryptsetup luksDump rejects vmcrypt's image"; }
	if grep -qi 'warning\|error' cs.err; then
		cat cs.err >&2
		fail "cryptsetup luksDump warns about vmcrypt's image"
	fi
	expect_exit 0 vmc dump "$img" "${hopt[@]}"
	cp last.out vm.dump
	luksmeta compare cs.dump vm.dump ||
		fail "vmcrypt dump disagrees with cryptsetup luksDump (files cs.dump vm.dump)"
	ver=$(luksmeta field cs.dump version)
	if [ "$ver" = 2 ]; then
		expect_exit 0 vmc dump --json "$img" "${hopt[@]}"
		cp last.out vm.json
		luksmeta check-json vm.json "$hfile" ||
			fail "vmcrypt dump --json disagrees with its own header on disk (vm.json)"
	fi

	# Unlock through cryptsetup.
	expect_exit 0 cs open --test-passphrase "${hopt[@]}" --key-file "$PASS" "$img"
	rc=0
	cs open --test-passphrase "${hopt[@]}" --key-file "$WRONG" "$img" 2>/dev/null || rc=$?
	expect_eq "$rc" 2 "exit status of cryptsetup open --test-passphrase with a wrong passphrase"

	# repair must find nothing to change.
	off=$(luksmeta field cs.dump data_offset)
	if [ -n "$hdr" ]; then hdr_len=$(filesize "$hdr"); else hdr_len=$off; fi
	before=$(sha256_range "$hfile" 0 "$hdr_len")
	cs repair --batch-mode "${hopt[@]}" "$img" >repair.out 2>&1 ||
		{ cat repair.out >&2; fail "cryptsetup repair failed on vmcrypt's image"; }
	after=$(sha256_range "$hfile" 0 "$hdr_len")
	if [ "$before" != "$after" ]; then
		cat repair.out >&2
		fail "cryptsetup repair changed vmcrypt's header area (0..$hdr_len of $hfile): sha256 $before -> $after"
	fi

	# Volume key: cryptsetup's derivation vs vmcrypt's.
	cs_volume_key "$img" "$PASS" cs.vk "${hopt[@]}"
	expect_exit 0 vmc dump "$img" "${hopt[@]}" --dump-volume-key --key-file "$PASS" --batch-mode
	cp last.out vm-vk.dump
	luksmeta volume-key vm-vk.dump >vm.vk || fail "no 'Volume key:' line in vmcrypt dump --dump-volume-key"
	expect_eq "$(cat vm.vk)" "$(cat cs.vk)" "volume key: vmcrypt dump --dump-volume-key vs cryptsetup luksDump --dump-volume-key"

	# Data, decrypted by the reference cipher with cryptsetup's key.
	ss=$(luksmeta field cs.dump sector_size)
	cipher=$(luksmeta field cs.dump cipher)
	if [ -n "$plain" ]; then
		refxts decrypt --cipher "$cipher" --sector-size "$ss" --key-file cs.vk --offset "$off" \
			--length "$(filesize "$plain")" "$img" ref.out
		expect_same ref.out "$plain" "refxts decryption (cryptsetup's volume key, $cipher, sector $ss, offset $off) vs the plaintext given to vmcrypt"
	fi

	# cryptsetup writes a keyslot into vmcrypt's header; both still agree.
	cp "$hfile" hdr-copy
	cs luksAddKey --batch-mode "${FAST_PBKDF2[@]}" --key-file "$PASS" --key-slot 5 hdr-copy "$PASS2" ||
		fail "cryptsetup luksAddKey into vmcrypt's header failed"
	expect_exit 0 vmc test-key hdr-copy --key-file "$PASS2" --key-slot 5
	expect_exit 0 vmc test-key hdr-copy --key-file "$PASS"
}

# check_cs_decrypt HDR DATA PLAIN: cryptsetup's own data path (offline decryption,
# LUKS2 with a detached header at data offset 0) on copies of vmcrypt's files.
check_cs_decrypt()
{
	local hdr=$1 data=$2 plain=$3
	cp "$hdr" hdr-dec
	cp "$data" data-dec
	cs reencrypt --decrypt --batch-mode --header hdr-dec --key-file "$PASS" \
		--force-offline-reencrypt data-dec >dec.out 2>&1 ||
		{ cat dec.out >&2; fail "cryptsetup reencrypt --decrypt of vmcrypt's image failed"; }
	expect_eq "$(sha256_range data-dec 0 "$(filesize "$plain")")" "$(sha256 "$plain")" \
		"sha256 of cryptsetup's decryption of vmcrypt's data vs the plaintext"
}

# expect_fact FIELD VALUE: cryptsetup's luksDump of the last check shows it.
expect_fact()
{
	expect_eq "$(luksmeta field cs.dump "$1")" "$2" "cryptsetup luksDump: $1 of vmcrypt's image"
}

# case_encrypt "FACT=VALUE ..." vmcrypt-options...: vmcrypt encrypt, then check.
case_encrypt()
{
	local facts=$1 f
	shift
	make_plain plain "$DATA_KIB"
	expect_exit 0 vmc encrypt plain img --key-file "$PASS" --batch-mode "$@"
	check_cs img plain
	for f in $facts; do
		expect_fact "${f%%=*}" "${f#*=}"
	done
}

case_detached()
{
	local type=$1
	shift
	make_plain plain "$DATA_KIB"
	expect_exit 0 vmc encrypt plain data --header hdr --type "$type" --key-file "$PASS" --batch-mode "$@"
	check_cs data plain hdr
	expect_fact data_offset 0
	if [ "$type" = luks2 ]; then check_cs_decrypt hdr data plain; fi
	expect_exit "$EXIT_NOTLUKS" vmc test-key data --key-file "$PASS"
}

case_volume_key()
{
	local type=$1 bytes=$2
	shift 2
	head -c "$bytes" /dev/urandom >vk.bin
	make_plain plain "$DATA_KIB"
	expect_exit 0 vmc encrypt plain img --type "$type" --volume-key-file vk.bin --key-file "$PASS" \
		--batch-mode "$@"
	check_cs img plain
	expect_eq "$(cat cs.vk)" "$(od -An -v -tx1 vk.bin | tr -d ' \n')" \
		"volume key cryptsetup derives vs the --volume-key-file given to vmcrypt"
}

case_keyfile_range()
{
	local type=$1
	shift
	# Passphrase = bytes 7..7+20 of a longer key file.
	head -c 64 /dev/urandom >kf
	make_plain plain "$DATA_KIB"
	expect_exit 0 vmc encrypt plain img --type "$type" --key-file kf --keyfile-offset 7 \
		--keyfile-size 20 --batch-mode "$@"
	expect_exit 0 cs open --test-passphrase --key-file kf --keyfile-offset 7 --keyfile-size 20 img
	dd if=kf of=kf-part bs=1 skip=7 count=20 status=none
	expect_exit 0 cs open --test-passphrase --key-file kf-part img
	expect_exit 0 vmc test-key img --key-file kf --keyfile-offset 7 --keyfile-size 20
	expect_exit "$EXIT_PASS" vmc test-key img --key-file kf
}

# A binary key file (NUL bytes, newlines, 8 KiB) is used byte for byte by both.
case_binary_keyfile()
{
	local type=$1
	shift
	{ head -c 3000 /dev/urandom; printf '\n\0\n'; head -c 5188 /dev/urandom; printf '\n'; } >kf
	make_plain plain 1024
	expect_exit 0 vmc encrypt plain img --type "$type" --key-file kf --batch-mode "$@"
	expect_exit 0 cs open --test-passphrase --key-file kf img
	head -c 8191 kf >kf-short
	expect_exit 2 cs open --test-passphrase --key-file kf-short img
	expect_exit "$EXIT_PASS" vmc test-key img --key-file kf-short
}

# vmcrypt create: a blank image. Both readers must agree on its contents.
case_create()
{
	local type=$1 off ss cipher
	shift
	expect_exit 0 vmc create img --size 4M --type "$type" --key-file "$PASS" --batch-mode "$@"
	check_cs img ""
	expect_exit 0 vmc decrypt img out --key-file "$PASS"
	expect_eq "$(filesize out)" $((4 * 1024 * 1024)) "plaintext size of a vmcrypt create --size 4M image"
	off=$(luksmeta field cs.dump data_offset)
	ss=$(luksmeta field cs.dump sector_size)
	cipher=$(luksmeta field cs.dump cipher)
	refxts decrypt --cipher "$cipher" --sector-size "$ss" --key-file cs.vk --offset "$off" \
		--length $((4 * 1024 * 1024)) img ref.out
	expect_same out ref.out "vmcrypt decrypt vs refxts decryption of a new image"
}

UUID=3f6c1a52-7a3e-4c9b-9d0a-5d1e2f3a4b5c

run_case "luks2 defaults (argon2id, sector 4096)" case_encrypt \
	"version=2 cipher=aes-xts-plain64 sector_size=4096 key_bits=512 keyslot_pbkdf=0:argon2id data_offset=16777216" \
	--type luks2 "${FAST_ARGON2ID[@]}"
run_case "luks2 argon2i sector 512" case_encrypt "sector_size=512 keyslot_pbkdf=0:argon2i" \
	--type luks2 "${FAST_ARGON2I[@]}" --sector-size 512
run_case "luks2 pbkdf2 sha1" case_encrypt "keyslot_pbkdf=0:pbkdf2" \
	--type luks2 "${FAST_PBKDF2[@]}" --hash sha1
run_case "luks2 pbkdf2 sha256 sector 4096" case_encrypt "sector_size=4096" \
	--type luks2 "${FAST_PBKDF2[@]}" --hash sha256 --sector-size 4096
run_case "luks2 pbkdf2 sha512 sector 2048" case_encrypt "sector_size=2048" \
	--type luks2 "${FAST_PBKDF2[@]}" --hash sha512 --sector-size 2048
run_case "luks2 aes-xts-plain64 256-bit sector 512" case_encrypt "key_bits=256 sector_size=512" \
	--type luks2 "${FAST_ARGON2ID[@]}" --key-size 256 --sector-size 512
run_case "luks2 aes-cbc-essiv:sha256" case_encrypt "cipher=aes-cbc-essiv:sha256 key_bits=256" \
	--type luks2 "${FAST_PBKDF2[@]}" --cipher aes-cbc-essiv:sha256 --key-size 256
run_case "luks2 label, subsystem, uuid" case_encrypt \
	"label=vm-disk:test/1 subsystem=vmcrypt-tests uuid=$UUID" \
	--type luks2 "${FAST_ARGON2ID[@]}" --label "vm-disk:test/1" --subsystem vmcrypt-tests --uuid "$UUID"
run_case "luks2 key slot 20" case_encrypt "keyslots=20" \
	--type luks2 "${FAST_PBKDF2[@]}" --key-slot 20
for md in 16k 64k 1m 4m; do
	run_case "luks2 metadata size $md keyslots 2m" case_encrypt "" \
		--type luks2 "${FAST_PBKDF2[@]}" --luks2-metadata-size "$md" --luks2-keyslots-size 2m
done
run_case "luks2 detached header" case_detached luks2 "${FAST_ARGON2ID[@]}"
run_case "luks2 detached header sector 512" case_detached luks2 "${FAST_PBKDF2[@]}" --sector-size 512
run_case "luks2 --volume-key-file" case_volume_key luks2 64 "${FAST_PBKDF2[@]}"
run_case "luks2 --keyfile-offset/--keyfile-size" case_keyfile_range luks2 "${FAST_PBKDF2[@]}"
run_case "luks2 create (blank)" case_create luks2 "${FAST_ARGON2ID[@]}"
run_case "luks2 binary key file" case_binary_keyfile luks2 "${FAST_ARGON2ID[@]}"
run_case "luks2 pbkdf2 benchmarked (--iter-time 50)" case_encrypt "keyslot_pbkdf=0:pbkdf2" \
	--type luks2 --pbkdf pbkdf2 --iter-time 50
run_case "luks2 argon2id benchmarked (--iter-time 50, 64 MiB)" case_encrypt "keyslot_pbkdf=0:argon2id" \
	--type luks2 --pbkdf argon2id --iter-time 50 --pbkdf-memory 65536 --pbkdf-parallel 2

run_case "luks1 defaults (aes-xts-plain64 sha256)" case_encrypt \
	"version=1 cipher=aes-xts-plain64 sector_size=512 key_bits=512 hash=sha256 keyslots=0" \
	--type luks1 "${FAST_PBKDF2[@]}"
run_case "luks1 aes-cbc-essiv:sha256" case_encrypt "cipher=aes-cbc-essiv:sha256 key_bits=256" \
	--type luks1 "${FAST_PBKDF2[@]}" --cipher aes-cbc-essiv:sha256 --key-size 256
run_case "luks1 aes-xts-plain64 256-bit sha1" case_encrypt "key_bits=256 hash=sha1" \
	--type luks1 "${FAST_PBKDF2[@]}" --key-size 256 --hash sha1
run_case "luks1 sha512 uuid" case_encrypt "hash=sha512 uuid=$UUID" \
	--type luks1 "${FAST_PBKDF2[@]}" --hash sha512 --uuid "$UUID"
run_case "luks1 key slot 7" case_encrypt "keyslots=7" --type luks1 "${FAST_PBKDF2[@]}" --key-slot 7
run_case "luks1 detached header" case_detached luks1 "${FAST_PBKDF2[@]}"
run_case "luks1 --volume-key-file" case_volume_key luks1 64 "${FAST_PBKDF2[@]}"
run_case "luks1 --keyfile-offset/--keyfile-size" case_keyfile_range luks1 "${FAST_PBKDF2[@]}"
run_case "luks1 create (blank)" case_create luks1 "${FAST_PBKDF2[@]}"
run_case "luks1 binary key file" case_binary_keyfile luks1 "${FAST_PBKDF2[@]}"
run_case "luks1 benchmarked (--iter-time 50)" case_encrypt "version=1" --type luks1 --iter-time 50

finish
