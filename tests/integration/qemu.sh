#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# LUKS1 interchange with QEMU 7.2 (qemu-img and its luks block driver) and, when
# installed, nbdkit 1.32's luks filter, in both directions:
#  - qemu-img convert -O luks writes an image (payload at sector 4040, or wherever
#    QEMU puts it for the cipher): vmcrypt test-key, dump (vs cryptsetup luksDump)
#    and decrypt agree, and decrypt returns the raw input byte for byte;
#  - QEMU writes plaintext through its luks driver into an image vmcrypt created
#    (qemu-img convert -n --target-image-opts): vmcrypt decrypt returns it;
#  - vmcrypt encrypt --type luks1 output is read by QEMU's luks driver
#    (qemu-img convert --image-opts driver=luks ... -O raw) as the original bytes;
#  - the same through nbdkit's luks filter (read with nbdcopy, and written).
# Passphrases reach qemu-img and nbdkit through files, never argv.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires qemu-img
requires test -x "$VMCRYPT"

DATA_KIB=4096
HAVE_CS=0
command -v cryptsetup >/dev/null 2>&1 && HAVE_CS=1
HAVE_NBD=0
if command -v nbdkit >/dev/null 2>&1 && command -v nbdcopy >/dev/null 2>&1 &&
	nbdkit --filter=luks null --help >/dev/null 2>&1; then
	HAVE_NBD=1
fi

# QEMU -> vmcrypt: qemu-img creates the image from raw data.
case_from_qemu()
{
	local opts=$1 off
	make_plain plain "$DATA_KIB"
	qemu_luks_create plain img "$PASS" "$opts"
	expect_unchanged img vmc test-key img --key-file "$PASS" ||
		{ cat last.err >&2; fail "vmcrypt test-key on qemu-img's image: exit $?"; }
	expect_exit "$EXIT_PASS" vmc test-key img --key-file "$WRONG"
	expect_exit 0 vmc dump img
	cp last.out vm.dump
	expect_eq "$(luksmeta field vm.dump version)" 1 "LUKS version vmcrypt dump reports for qemu-img's image"
	if [ "$HAVE_CS" = 1 ]; then
		cs luksDump img >cs.dump
		luksmeta compare cs.dump vm.dump ||
			fail "vmcrypt dump disagrees with cryptsetup luksDump on qemu-img's image"
		off=$(luksmeta field cs.dump data_offset)
		echo "qemu-img payload offset: $off bytes ($((off / 512)) sectors)"
	fi
	expect_unchanged img vmc decrypt img out --key-file "$PASS" ||
		{ cat last.err >&2; fail "vmcrypt decrypt of qemu-img's image: exit $?"; }
	expect_same out plain "vmcrypt decrypt of qemu-img's LUKS1 image ($opts) vs the raw input"
}

# QEMU's luks driver writes into an image vmcrypt created.
case_qemu_writes() { qemu_writes_into "$DATA_KIB" "$@"; }

# vmcrypt -> QEMU.
case_to_qemu() { qemu_reads "$DATA_KIB" "$@"; }

# nbdkit luks filter: reads vmcrypt's image, writes into it.
case_nbdkit()
{
	make_plain plain "$DATA_KIB"
	expect_exit 0 vmc encrypt plain img --type luks1 --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}" "$@"
	# shellcheck disable=SC2016 # $uri is nbdkit's, expanded by its --run shell
	nbdkit -U - --filter=luks file img passphrase=+"$PASS" --run 'nbdcopy "$uri" out' ||
		fail "nbdkit's luks filter cannot read vmcrypt's image"
	expect_same out plain "nbdkit luks filter's reading of vmcrypt's LUKS1 image vs the plaintext"
	make_plain plain2 "$DATA_KIB"
	# shellcheck disable=SC2016
	nbdkit -U - --filter=luks file img passphrase=+"$PASS" --run 'nbdcopy plain2 "$uri"' ||
		fail "nbdkit's luks filter cannot write into vmcrypt's image"
	expect_exit 0 vmc decrypt img out2 --key-file "$PASS"
	expect_same out2 plain2 "vmcrypt decrypt of data nbdkit's luks filter wrote"
}

run_case "qemu-img -> vmcrypt: aes-xts-plain64 (defaults)" case_from_qemu ""
run_case "qemu-img -> vmcrypt: aes-256-cbc-essiv:sha256" case_from_qemu \
	"cipher-alg=aes-256,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256"
run_case "qemu-img -> vmcrypt: aes-128-xts-plain, sha1" case_from_qemu \
	"cipher-alg=aes-128,cipher-mode=xts,ivgen-alg=plain,hash-alg=sha1"
run_case "qemu-img -> vmcrypt: aes-256-cbc-plain64, sha512" case_from_qemu \
	"cipher-alg=aes-256,cipher-mode=cbc,ivgen-alg=plain64,hash-alg=sha512"
run_case "QEMU writes into vmcrypt create --type luks1" case_qemu_writes
run_case "QEMU writes into vmcrypt create --type luks1 aes-cbc-essiv:sha256" case_qemu_writes \
	--cipher aes-cbc-essiv:sha256 --key-size 256
run_case "vmcrypt -> QEMU: luks1 defaults" case_to_qemu
run_case "vmcrypt -> QEMU: luks1 aes-cbc-essiv:sha256" case_to_qemu --cipher aes-cbc-essiv:sha256 --key-size 256
run_case "vmcrypt -> QEMU: luks1 aes-xts-plain64 256-bit sha1" case_to_qemu --key-size 256 --hash sha1
run_case "vmcrypt -> QEMU: luks1 sha512, key slot 7" case_to_qemu --hash sha512 --key-slot 7
if [ "$HAVE_NBD" = 1 ]; then
	run_case "vmcrypt <-> nbdkit luks filter: luks1 defaults" case_nbdkit
	# (nbdkit 1.32 implements only the plain/plain64 IV generators, not essiv.)
	run_case "vmcrypt <-> nbdkit luks filter: aes-cbc-plain64 sha512" case_nbdkit --cipher aes-cbc-plain64 --key-size 256 --hash sha512
else
	echo "SKIP: nbdkit luks filter cases: nbdkit, its luks filter or nbdcopy is missing"
fi

finish
