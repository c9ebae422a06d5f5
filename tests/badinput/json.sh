#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad-input matrix: LUKS2 JSON metadata that is valid JSON with valid checksums (both
# copies rewritten by hdrtool.py) but wrong: values of the wrong type, huge sizes and
# counts, 64-bit numbers out of range, overlapping keyslot areas and segments, keyslot
# areas past the end of the file, ciphers, hashes and KDFs the engine does not support,
# broken cross-references between keyslots, digests and segments, and JSON that is not
# LUKS2 at all. Each edit is tried with every read verb. The header verdicts follow
# cryptsetup's: values it checks only when it opens a keyslot (KDF costs, salts, digest
# values) fail test-key and decrypt, not dump; validation.py compares each rule live.
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${BADINPUT_DIR:-$(dirname "$0")}/common.sh"
requires cryptsetup

# try WHAT DUMP_CODES KEY_CODES DECRYPT_CODES -- hdrtool args: one edit of a fresh copy.
try()
{
	local what=$1 dc=${2//,/ } kc=${3//,/ } xc=${4//,/ }
	shift 5
	cp "$BASE" img
	hdrtool "$1" img "${@:2}"
	attempt "$dc" img "$what: dump" vmc dump img
	attempt "$dc" img "$what: dump --json" vmc dump --json img
	attempt "$kc" img "$what: test-key" vmc test-key img --key-file "$PASS"
	rm -f out.raw
	attempt "$xc" img "$what: decrypt" vmc decrypt img out.raw --key-file "$PASS"
	if [ "$xc" != 0 ] && [ -s out.raw ]; then bad "$what" "decrypt failed but left output"; fi
	rm -f out.raw
}

U64MAX=18446744073709551615

case_types()
{
	BASE=$PWD/base.img
	cs_luks2 "$BASE"
	try "keyslot key_size as a string" 6 6 6 -- json-set keyslots.0.key_size '"64"'
	try "keyslot area offset as a number" 6 6 6 -- json-set keyslots.0.area.offset 32768
	try "keyslot area size as a number" 6 6 6 -- json-set keyslots.0.area.size 258048
	try "keyslot af stripes as a string" 6 6 6 -- json-set keyslots.0.af.stripes '"4000"'
	try "keyslot kdf iterations as a string" 6 6 6 -- json-set keyslots.0.kdf.iterations '"1000"'
	try "keyslot kdf salt as a number" 6 6 6 -- json-set keyslots.0.kdf.salt 123
	try "keyslot kdf salt not base64" 0 6 6 -- json-set keyslots.0.kdf.salt '"!!!"'
	try "keyslot priority as a string" 0 4 4 -- json-set keyslots.0.priority '"high"'
	try "keyslot as an array" 6 6 6 -- json-set keyslots.0 '[]'
	try "keyslots as an array" 6 6 6 -- json-set keyslots '[]'
	try "segment offset as a number" 6 6 6 -- json-set segments.0.offset 16777216
	try "segment size as a number" 6 6 6 -- json-set segments.0.size 4096
	try "segment iv_tweak as a number" 6 6 6 -- json-set segments.0.iv_tweak 0
	try "segment sector_size as a string" 6 6 6 -- json-set segments.0.sector_size '"4096"'
	try "segment sector_size 1000" 6 6 6 -- json-set segments.0.sector_size 1000
	try "segment encryption as a number" 6 6 6 -- json-set segments.0.encryption 5
	try "segment flags as an object" 6 6 6 -- json-set segments.0.flags '{}'
	try "digest keyslots as a string" 6 6 6 -- json-set digests.0.keyslots '"0"'
	try "digest keyslots with a number" 6 6 6 -- json-set digests.0.keyslots '[0]'
	try "digest iterations as a string" 0 0 0 -- json-set digests.0.iterations '"1000"'
	try "digest value as a number" 0 6 6 -- json-set digests.0.digest 5
	try "config json_size as a number" 6 6 6 -- json-set config.json_size 12288
	try "config keyslots_size as a number" 6 6 6 -- json-set config.keyslots_size 16744448
	try "config flags as a string" 6 6 6 -- json-set config.flags '"allow-discards"'
	try "config requirements mandatory as a string" 6 6 6 -- \
		json-set config.requirements '{"mandatory":"online-reencrypt-v2"}'
	try "tokens as an array" 6 6 6 -- json-set tokens '[]'
	try "token as a string" 6 6 6 -- json-set tokens.0 '"x"'
	try "keyslot id not a number" 6 6 6 -- json-set keyslots.abc '{"type":"luks2"}'
	try "keyslot id 32" 6 6 6 -- json-set keyslots.32 '{"type":"luks2"}'
	try "metadata is an array" 6 6 6 -- json-raw '[]'
	try "metadata is an empty object" 6 6 6 -- json-raw '{}'
	try "metadata is not JSON" 6 6 6 -- json-raw '{"keyslots":'
	try "trailing data after the metadata" 6 6 6 -- json-raw '{"keyslots":{}} {}'
	try "nesting deeper than the limit" 6 6 6 -- json-set tokens.0 \
		"$("$PYTHON" -S -c 'print("{\"type\":\"x\",\"keyslots\":[],\"d\":" + "[" * 30 + "]" * 30 + "}")')"
}

case_huge()
{
	BASE=$PWD/base.img
	cs_luks2 "$BASE"
	try "keyslot key_size 4096" 0 6 6 -- json-set keyslots.0.key_size 4096
	try "keyslot key_size 2^40" 6 6 6 -- json-set keyslots.0.key_size 1099511627776
	try "keyslot af stripes 10^9" 0 0 0 -- json-set keyslots.0.af.stripes 1000000000
	try "keyslot kdf iterations 2^40" 0 6 6 -- json-set keyslots.0.kdf.iterations 1099511627776
	try "digest iterations 2^31" 0 6 6 -- json-set digests.0.iterations 2147483648
	try "keyslot area size 2^64-1" 6 6 6 -- json-set keyslots.0.area.size "\"$U64MAX\""
	try "keyslot area offset 2^64-1" 6 6 6 -- json-set keyslots.0.area.offset "\"$U64MAX\""
	try "keyslot area offset 2^64 (21 digits)" 6 6 6 -- \
		json-set keyslots.0.area.offset '"18446744073709551616"'
	try "keyslot area offset negative" 6 6 6 -- json-set keyslots.0.area.offset '"-32768"'
	try "keyslot area offset with a plus sign" 6 6 6 -- json-set keyslots.0.area.offset '"+32768"'
	try "keyslot area offset with a space" 6 6 6 -- json-set keyslots.0.area.offset '" 32768"'
	try "segment size 2^64-1" 6 6 6 -- json-set segments.0.size "\"$U64MAX\""
	# A multiple of the sector size, far beyond the file: the data is not there.
	try "segment size 2^64-4096" 0 "0,6" "6,8" -- json-set segments.0.size '"18446744073709547520"'
	try "segment offset 2^64-4096" 0 0 6 -- json-set segments.0.offset '"18446744073709547520"'
	try "segment iv_tweak 2^64-1" 0 0 0 -- json-set segments.0.iv_tweak "\"$U64MAX\""
	try "config keyslots_size 2^64-1" 6 6 6 -- json-set config.keyslots_size "\"$U64MAX\""
	try "config json_size 2^64-1" 6 6 6 -- json-set config.json_size "\"$U64MAX\""
	# A long string is not an error in itself: it must just be carried.
	try "a 10000-byte string in a token" 0 0 0 -- json-set tokens.0 \
		"{\"type\":\"x\",\"keyslots\":[],\"s\":\"$(head -c 10000 /dev/zero | tr '\0' a)\"}"
}

case_argon2()
{
	BASE=$PWD/base.img
	# cs_luks2 uses PBKDF2; these fields need an Argon2id keyslot.
	truncate -s 20M "$BASE"
	cs luksFormat --batch-mode --type luks2 "${FAST_ARGON2ID[@]}" --key-file "$PASS" "$BASE"
	try "argon2 memory 2^33 KiB" 0 6 6 -- json-set keyslots.0.kdf.memory 8589934592
	try "argon2 memory 4 KiB" 0 6 6 -- json-set keyslots.0.kdf.memory 4
	try "argon2 time 2^40" 0 6 6 -- json-set keyslots.0.kdf.time 1099511627776
	try "argon2 time 0" 0 6 6 -- json-set keyslots.0.kdf.time 0
	try "argon2 cpus 1000" 0 6 6 -- json-set keyslots.0.kdf.cpus 1000
	try "argon2 memory as a string" 6 6 6 -- json-set keyslots.0.kdf.memory '"32"'
	try "kdf type scrypt" 0 7 7 -- json-set keyslots.0.kdf.type '"scrypt"'
}

case_layout()
{
	BASE=$PWD/base.img
	cs_luks2 "$BASE"
	try "two keyslots on one area" 6 6 6 -- json-set keyslots.1 "$(hdrtool get "$BASE" keyslots.0)"
	try "keyslot area over the binary header" 6 6 6 -- json-set keyslots.0.area.offset '"0"'
	try "keyslot area inside the secondary copy" 6 6 6 -- json-set keyslots.0.area.offset '"16384"'
	try "keyslot area overlapping the data" 6 6 6 -- json-set keyslots.0.area.offset '"16773120"'
	try "keyslot area smaller than its key material" 0 0 0 -- json-set keyslots.0.area.size '"4096"'
	try "segment overlapping the keyslots area" 6 6 6 -- json-set segments.0.offset '"32768"'
	try "segment size not a multiple of the sector" 6 6 6 -- json-set segments.0.size '"4097"'
	try "segment offset not sector aligned" 6 6 6 -- json-set segments.0.offset '"16777217"'
	# Two data segments over the same bytes.
	try "overlapping segments" 6 6 6 -- json-set segments.1 \
		'{"type":"crypt","offset":"16781312","size":"dynamic","iv_tweak":"0","encryption":"aes-xts-plain64","sector_size":4096}'
	try "overlapping segments (fixed sizes)" 6 6 6 -- json-set segments.1 \
		'{"type":"crypt","offset":"16777216","size":"4096","iv_tweak":"0","encryption":"aes-xts-plain64","sector_size":4096}'
	# The keyslots area made larger than the file, keyslot 0 moved past its end: as for
	# cryptsetup, the metadata and keyslots areas must fit the header device.
	cp "$BASE" big.img
	hdrtool json-set big.img config.keyslots_size '"67076096"'
	hdrtool json-set big.img segments.0.offset '"67108864"'
	BASE=$PWD/big.img
	try "keyslot area past the end of the file" 6 6 6 -- json-set keyslots.0.area.offset '"50331648"'
	BASE=$PWD/base.img
}

case_unsupported()
{
	local c
	BASE=$PWD/base.img
	cs_luks2 "$BASE"
	# Unknown or refused specs: the header is fine, using it is exit 7.
	for c in cipher_null-ecb aes-gcm-random aes-lrw-benbi "capi:xts(aes)-plain64" \
		aes-cbc-essiv:nosuchhash xchacha12,aes-adiantum-plain64 aes-hctr2-plain64 ""; do
		try "segment cipher '$c'" 0 "0,7" 7 -- json-set segments.0.encryption "\"$c\""
	done
	# Supported with the header's 512-bit key: the data just decrypts to other bytes.
	for c in serpent-xts-plain64 camellia-xts-plain64 aes-xts-essiv:sha256; do
		try "segment cipher '$c'" 0 0 0 -- json-set segments.0.encryption "\"$c\""
	done
	# Known ciphers no implementation keys with 64 bytes: the header reads, the data is
	# damaged (cryptsetup's test-passphrase opens only the keyslot).
	for c in twofish-cbc-essiv:sha256 aes-ecb cast5-cbc-plain64; do
		try "segment cipher '$c' with a 64-byte key" 0 0 6 -- \
			json-set segments.0.encryption "\"$c\""
	done
	# A supported area cipher, a wrong one: the passphrase no longer opens the slot.
	try "keyslot area cipher serpent" 0 2 2 -- json-set keyslots.0.area.encryption '"serpent-xts-plain64"'
	# AES-192-XTS is valid (QEMU writes it), so a 48-byte aes-xts key is no damage.
	try "keyslot area cipher aes-xts with a 48-byte key" 0 2 2 -- \
		json-set keyslots.0.area.key_size 48
	try "keyslot area cipher aes-xts with a 40-byte key" 0 6 6 -- \
		json-set keyslots.0.area.key_size 40
	try "keyslot key_size 48 for aes-xts" 0 2 2 -- json-set keyslots.0.key_size 48
	try "keyslot af hash md4" 0 7 7 -- json-set keyslots.0.af.hash '"md4"'
	try "keyslot kdf hash whirlpool" 0 2 2 -- json-set keyslots.0.kdf.hash '"whirlpool"'
	try "keyslot kdf hash md4" 0 7 7 -- json-set keyslots.0.kdf.hash '"md4"'
	try "digest hash unknown" 0 7 7 -- json-set digests.0.hash '"nosuchhash"'
	try "digest type argon2" 0 7 7 -- json-set digests.0.type '"argon2"'
	try "segment integrity" 6 6 6 -- json-set segments.0.integrity '{"type":"hmac(sha256)"}'
	try "segment type linear only" 0 0 7 -- json-set segments.0.type '"linear"'
	try "segment type unknown" 0 0 7 -- json-set segments.0.type '"verity"'
	try "unknown mandatory requirement" 0 0 7 -- \
		json-set config.requirements '{"mandatory":["vmcrypt-test-unknown"]}'
	try "keyslot of an unknown type" 0 4 4 -- json-set keyslots.0.type '"luks3"'
}

case_references()
{
	BASE=$PWD/base.img
	cs_luks2 "$BASE"
	try "digest names a missing keyslot" 6 6 6 -- json-set digests.0.keyslots '["0","5"]'
	try "digest names a missing segment" 6 6 6 -- json-set digests.0.segments '["0","3"]'
	# A luks2 keyslot is bound to exactly one digest, a crypt segment covered by one.
	try "keyslot with no digest" 6 6 6 -- json-set digests.0.keyslots '[]'
	try "segment with no digest" 6 6 6 -- json-set digests.0.segments '[]'
	try "no digests at all" 6 6 6 -- json-set digests '{}'
	try "no keyslots at all" 6 6 6 -- json-set keyslots '{}'
	try "no segments at all" 6 6 6 -- json-set segments '{}'
	try "digest value of 5 bytes" 0 6 6 -- json-set digests.0.digest '"AAAAAAA="'
	try "keyslot bound to two digests" 6 6 6 -- json-set digests.1 "$(hdrtool get "$BASE" digests.0)"
	try "keyslots section missing" 6 6 6 -- json-del keyslots
	try "config section missing" 6 6 6 -- json-del config
	try "tokens section missing" 6 6 6 -- json-del tokens
}

run_case "values of the wrong type" case_types
run_case "huge sizes and counts" case_huge
run_case "argon2 costs" case_argon2
run_case "overlaps and areas past the end" case_layout
run_case "unsupported ciphers, hashes, KDFs, types" case_unsupported
run_case "broken cross-references" case_references
finish_matrix
