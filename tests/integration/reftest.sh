#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Proves the reference decryptor refxts.py right against the real peers, so the
# other tests may use it as an oracle:
#  - qemu-img writes LUKS1 images (five cipher specs); refxts decrypts their payload
#    with the volume key cryptsetup reports, and data refxts encrypts into them is
#    read back by QEMU's luks driver;
#  - cryptsetup's offline reencryption (userspace data path, no dm) encrypts a file
#    as LUKS2 with 512 and 4096-byte sectors; refxts decrypts it, and cryptsetup
#    decrypts what refxts encrypted. This is also the proof of the IV rule:
#    IVs count 512-byte units even with 4096-byte sectors.
# vmcrypt is not used here.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires cryptsetup
requires_python_libcrypto

# QEMU options for each dm-crypt cipher spec refxts implements.
qemu_case()
{
	local spec=$1 opts=$2 off cipher
	make_plain plain 2048
	qemu_luks_create plain img "$PASS" "$opts"
	cs luksDump img >dump
	cipher=$(luksmeta field dump cipher)
	expect_eq "$cipher" "$spec" "cipher of qemu-img's image (cryptsetup luksDump)"
	off=$(luksmeta field dump data_offset)
	cs_volume_key img "$PASS" vk
	refxts decrypt --cipher "$spec" --key-file vk --offset "$off" \
		--length "$(filesize plain)" img dec
	expect_same dec plain "refxts decryption of qemu-img's $spec image vs. the raw input"
	# Other direction: refxts writes, QEMU reads.
	make_plain plain2 2048
	refxts encrypt --cipher "$spec" --key-file vk --offset "$off" plain2 img
	qemu_luks_read img "$PASS" back
	expect_same back plain2 "QEMU's reading of data refxts encrypted ($spec)"
}

if command -v qemu-img >/dev/null 2>&1; then
	run_case "qemu-img aes-xts-plain64" qemu_case aes-xts-plain64 \
		"cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain64"
	run_case "qemu-img aes-xts-plain" qemu_case aes-xts-plain \
		"cipher-alg=aes-256,cipher-mode=xts,ivgen-alg=plain"
	run_case "qemu-img aes-cbc-essiv:sha256" qemu_case aes-cbc-essiv:sha256 \
		"cipher-alg=aes-256,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256"
	run_case "qemu-img aes-cbc-plain64" qemu_case aes-cbc-plain64 \
		"cipher-alg=aes-256,cipher-mode=cbc,ivgen-alg=plain64"
	run_case "qemu-img aes-cbc-plain (aes-128)" qemu_case aes-cbc-plain \
		"cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=plain"
else
	echo "SKIP: qemu-img cases: qemu-img is not installed"
fi

# cryptsetup reencrypt --encrypt/--decrypt with a detached header: cryptsetup's
# own userspace implementation of the data path, on a plain file.
reencrypt_case()
{
	local ss=$1 cipher=$2 keybits=$3 wrong
	make_plain plain 4096
	cp plain data
	cs reencrypt --encrypt --batch-mode --type luks2 --header hdr --sector-size "$ss" \
		--cipher "$cipher" --key-size "$keybits" "${FAST_PBKDF2[@]}" --key-file "$PASS" \
		--force-offline-reencrypt data
	cs luksDump hdr >dump
	expect_eq "$(luksmeta field dump sector_size)" "$ss" "sector size cryptsetup used"
	expect_eq "$(luksmeta field dump data_offset)" 0 "data offset with a detached header"
	cs_volume_key hdr "$PASS" vk
	refxts decrypt --cipher "$cipher" --sector-size "$ss" --key-file vk data dec
	expect_same dec plain "refxts decryption of cryptsetup's $cipher/$ss encryption"
	if [ "$ss" -gt 512 ]; then
		# The IV rule is load-bearing: numbering IVs per 4096-byte sector must fail.
		wrong=$("$PYTHON" -S -c "
import sys; sys.path.insert(0, '$SRCDIR'); import refxts
c = refxts.SectorCipher(refxts.Crypto(), '$cipher', refxts.read_key('vk'), $ss, 0, False)
c.iv_per = c.iv
c.iv = lambda n: c.iv_per(n // ($ss // 512))
d = open('data', 'rb').read(2 * $ss)
print('same' if c.process(d, 0) == open('plain', 'rb').read(2 * $ss) else 'differs')")
		expect_eq "$wrong" differs "decryption with IVs counting ${ss}-byte sectors"
	fi
	# refxts encrypts new plaintext in place; cryptsetup decrypts it.
	make_plain plain2 4096
	refxts encrypt --cipher "$cipher" --sector-size "$ss" --key-file vk plain2 data
	cs reencrypt --decrypt --batch-mode --header hdr --key-file "$PASS" --force-offline-reencrypt data
	expect_same data plain2 "cryptsetup's decryption of refxts's $cipher/$ss encryption"
}

run_case "cryptsetup reencrypt luks2 aes-xts-plain64 sector 512" reencrypt_case 512 aes-xts-plain64 512
run_case "cryptsetup reencrypt luks2 aes-xts-plain64 sector 4096" reencrypt_case 4096 aes-xts-plain64 512
run_case "cryptsetup reencrypt luks2 aes-xts-plain64 sector 2048 (256-bit)" reencrypt_case 2048 aes-xts-plain64 256
run_case "cryptsetup reencrypt luks2 aes-cbc-essiv:sha256 sector 4096" reencrypt_case 4096 aes-cbc-essiv:sha256 256

finish
