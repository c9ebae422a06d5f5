#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every cipher and hash the peers write, against the peers' own implementations
# (QEMU 7.2's crypto is nettle through gnutls; cryptsetup 2.6's is OpenSSL):
#  - qemu-img makes LUKS1 in each cipher-alg/cipher-mode/ivgen/hash it offers
#    (serpent, twofish, cast5, aes-192 XTS among them): vmcrypt test-key and decrypt
#    return the raw input; QEMU's luks driver writes into images vmcrypt created with
#    those ciphers, and reads what vmcrypt encrypt --type luks1 wrote;
#  - cryptsetup encrypts a file in place (offline reencrypt --encrypt, LUKS2) with
#    each hash it accepts for PBKDF2, AF and the digest (whirlpool, sm3, ripemd160,
#    sha3-256, blake2b-512, blake2s-256, md5) and with the IVs it computes itself
#    (essiv:sha256 for XTS, plain64be, benbi, ecb): vmcrypt decrypts the original bytes;
#  - refused specs (adiantum, aes-hctr2, capi:) are exit 7 naming the spec, never 6;
#  - a non-AES re-key (aes -> serpent) and scan --image for a Serpent key.
# The default run takes a dozen QEMU combinations; VMCRYPT_LONG_TESTS=1 runs all 295
# (328 cases, about 23 minutes on two busy cores: qemu-img's PBKDF2 benchmark takes
# seconds per image whatever iter-time says), beyond meson's 300 s, so run it as
#   VMCRYPT_LONG_TESTS=1 meson test -C build --timeout-multiplier 12 ciphers
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires qemu-img
requires test -x "$VMCRYPT"

DATA_KIB=1024
HAVE_CS=0
command -v cryptsetup >/dev/null 2>&1 && HAVE_CS=1

# QEMU -> vmcrypt: qemu-img convert -O luks with OPTS; vmcrypt returns the input.
case_from_qemu()
{
	local opts=$1
	make_plain plain "$DATA_KIB"
	qemu_luks_create plain img "$PASS" "$opts"
	expect_exit 0 vmc test-key img --key-file "$PASS"
	expect_exit "$EXIT_PASS" vmc test-key img --key-file "$WRONG"
	expect_exit 0 vmc decrypt img out --key-file "$PASS"
	expect_same out plain "vmcrypt decrypt of qemu-img's LUKS1 image ($opts)"
}

# QEMU's luks driver writes into an image vmcrypt created with these options.
case_qemu_writes() { qemu_writes_into "$DATA_KIB" "$@"; }

# vmcrypt -> QEMU: encrypt --type luks1 with these options, read by QEMU's luks driver.
case_to_qemu() { qemu_reads "$DATA_KIB" "$@"; }

# cryptsetup encrypts in place (its own user-space crypto), vmcrypt decrypts.
case_from_cryptsetup()
{
	make_plain plain 4096
	cp plain img
	truncate -s 12M img
	cs reencrypt --encrypt --batch-mode --force-offline-reencrypt --disable-locks --type luks2 \
		"${FAST_PBKDF2[@]}" --reduce-device-size 8M --key-file "$PASS" "$@" img ||
		fail "cryptsetup reencrypt --encrypt $* failed"
	expect_exit 0 vmc test-key img --key-file "$PASS"
	expect_exit "$EXIT_PASS" vmc test-key img --key-file "$WRONG"
	expect_exit 0 vmc decrypt img out --key-file "$PASS"
	expect_eq "$(sha256_range out 0 "$(filesize plain)")" "$(sha256 plain)" \
		"vmcrypt's decryption of what cryptsetup encrypted ($*)"
}

# A header naming a spec we refuse: exit 7 with the spec named, never 6.
case_refused()
{
	local spec=$1 hex name
	expect_exit 0 vmc create img --type luks1 --size 1M --key-file "$PASS" --batch-mode \
		"${FAST_PBKDF2[@]}" --cipher aes-xts-plain64
	# Rewrite the LUKS1 cipher-name (offset 8) and cipher-mode (offset 40) fields.
	name=${spec%%-*}
	"$PYTHON" -S - img "$name" "${spec#*-}" <<'EOF'
import sys
path, name, mode = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
with open(path, "r+b") as f:
    f.seek(8); f.write(name.ljust(32, b"\0"))
    f.seek(40); f.write(mode.ljust(32, b"\0"))
EOF
	expect_exit 0 vmc dump img
	expect_exit "$EXIT_NOTSUP" vmc decrypt img out --key-file "$PASS"
	grep -qF "$spec" last.err || { cat last.err >&2; fail "the error does not name $spec"; }
	hex=$(cat last.err)
	echo "refused: $hex"
	expect_exit "$EXIT_NOTSUP" vmc create img2 --type luks2 --size 1M --key-file "$PASS" --batch-mode \
		"${FAST_PBKDF2[@]}" --cipher "$spec" --key-size 256
}

# aes -> serpent re-key in place, then QEMU reads the result (LUKS1) and vmcrypt scans for the key.
case_rekey_serpent()
{
	make_plain plain "$DATA_KIB"
	expect_exit 0 vmc encrypt plain img --type luks2 --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
	expect_exit 0 vmc rekey img --key-file "$PASS" --new-key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}" \
		--cipher serpent-xts-plain64 --key-size 512
	expect_exit 0 vmc dump img
	grep -q serpent-xts-plain64 last.out || fail "the re-keyed image does not say serpent"
	expect_exit 0 vmc decrypt img out --key-file "$PASS"
	expect_same out plain "decrypt after the aes -> serpent re-key"
	# scan --image: the raw Serpent key (no AES schedule to look for) in a file holding it.
	expect_exit 0 vmc dump img --dump-volume-key --key-file "$PASS" --batch-mode
	sed -n 's/^Volume key: //p' last.out >vk.hex
	[ "$(wc -c <vk.hex)" -eq 129 ] || fail "no 512-bit volume key in the dump"
	"$PYTHON" -S -c 'import os, sys; open("dump.bin", "wb").write(os.urandom(100000) + bytes.fromhex(open("vk.hex").read().strip()) + os.urandom(5000))'
	# Exit 11: key material found.
	expect_exit 11 vmc scan --image img --key-file "$PASS" dump.bin
	grep -q 'offset 100000 .*volume key (512 bits)' last.out ||
		{ cat last.out >&2; fail "scan --image did not find the Serpent key at 100000"; }
}

# The QEMU matrix: cipher-alg,mode,ivgen[,ivgen-hash],hash.
qemu_opts()
{
	local alg=$1 mode=$2 iv=$3 hash=$4 o
	o="cipher-alg=$alg,cipher-mode=$mode,hash-alg=$hash"
	case $iv in
	essiv:*) o="$o,ivgen-alg=essiv,ivgen-hash-alg=${iv#essiv:}" ;;
	*) o="$o,ivgen-alg=$iv" ;;
	esac
	echo "$o"
}

run_qemu()
{
	run_case "qemu-img -> vmcrypt: $1 $2 $3 $4" case_from_qemu "$(qemu_opts "$@")"
}

# A dozen that cover each cipher, mode, IV generator and a few hashes.
run_qemu aes-192 xts plain64 sha256
run_qemu serpent-256 xts plain64 sha256
run_qemu serpent-128 cbc essiv:sha256 sha1
run_qemu serpent-256 ecb plain64 sha512
run_qemu serpent-192 xts plain64 sha256
run_qemu twofish-256 xts plain64 sha512
run_qemu twofish-128 cbc plain sha256
run_qemu twofish-256 xts essiv:sha256 ripemd160
run_qemu cast5-128 cbc plain64 sha256
run_qemu cast5-128 cbc essiv:md5 sha1
run_qemu aes-256 ctr plain64 md5
run_qemu aes-128 xts essiv:sha256 sha384
run_qemu serpent-256 ctr plain sha224

if [ "${VMCRYPT_LONG_TESTS:-0}" = 1 ]; then
	# Everything QEMU 7.2 offers here (nettle: no camellia, no sm4). A 192-bit key
	# outside XTS makes qemu-img assert: 24 x 4000 stripes of AF material is not a
	# whole number of sectors.
	for alg in aes-128 aes-256 serpent-128 serpent-192 serpent-256 twofish-128 twofish-192 \
		twofish-256 cast5-128 aes-192; do
		for mode in xts cbc ecb ctr; do
			case $alg/$mode in
			cast5-128/xts | *-192/cbc | *-192/ecb | *-192/ctr) continue ;;
			twofish-192/*) continue ;; # libgcrypt has no Twofish-192: refused, below
			esac
			for iv in plain plain64 essiv:sha256; do
				[ "$alg/$iv" != cast5-128/essiv:sha256 ] || iv=essiv:md5
				[ "$mode" != ecb ] || [ "$iv" = plain64 ] || continue
				for hash in sha1 sha256 sha512 ripemd160; do
					run_qemu "$alg" "$mode" "$iv" "$hash"
				done
			done
		done
	done
	for hash in md5 sha224 sha384; do
		run_qemu aes-256 xts plain64 "$hash"
	done
fi

# Twofish-192 is a key size QEMU writes and libgcrypt lacks: refused as unsupported, not corrupt.
case_twofish192()
{
	make_plain plain 64
	qemu_luks_create plain img "$PASS" "$(qemu_opts twofish-192 xts plain64 sha256)"
	expect_exit "$EXIT_NOTSUP" vmc decrypt img out --key-file "$PASS"
	grep -q twofish last.err || fail "the error does not name twofish"
}
run_case "qemu-img twofish-192: exit 7" case_twofish192

run_case "QEMU writes into vmcrypt luks1 serpent-xts-plain64" case_qemu_writes \
	--cipher serpent-xts-plain64 --key-size 512
run_case "QEMU writes into vmcrypt luks1 twofish-cbc-essiv:sha256" case_qemu_writes \
	--cipher twofish-cbc-essiv:sha256 --key-size 256
run_case "vmcrypt -> QEMU: luks1 aes-xts-plain64 384-bit (AES-192)" case_to_qemu \
	--cipher aes-xts-plain64 --key-size 384
run_case "vmcrypt -> QEMU: luks1 cast5-cbc-plain64 sha1" case_to_qemu \
	--cipher cast5-cbc-plain64 --key-size 128 --hash sha1
run_case "vmcrypt -> QEMU: luks1 serpent-xts-plain64 ripemd160" case_to_qemu \
	--cipher serpent-xts-plain64 --key-size 512 --hash ripemd160

if [ "$HAVE_CS" = 1 ]; then
	for hash in whirlpool sm3 ripemd160 sha3-256 blake2b-512 blake2s-256; do
		run_case "cryptsetup -> vmcrypt: luks2 --hash $hash" case_from_cryptsetup --hash "$hash"
	done
	for c in aes-xts-essiv:sha256 aes-cbc-plain64be aes-cbc-benbi aes-ecb; do
		run_case "cryptsetup -> vmcrypt: luks2 --cipher $c" case_from_cryptsetup --cipher "$c"
	done
else
	echo "SKIP: cryptsetup cases: cryptsetup is missing"
fi

for spec in xchacha12,aes-adiantum-plain64 aes-hctr2-plain64 "capi:xts(aes)-plain64"; do
	run_case "refused: $spec" case_refused "$spec"
done
run_case "rekey aes -> serpent, scan --image" case_rekey_serpent

finish
