#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# cryptsetup 2.6's offline LUKS2 reencryption (its own userspace data path) on
# images vmcrypt wrote, and vmcrypt reading the results:
#  - cryptsetup re-keys a vmcrypt image (same cipher; a cipher change to
#    aes-cbc-essiv; 512 and 4096-byte sectors; a detached header): vmcrypt decrypt
#    returns the original plaintext, and vmcrypt's volume key is cryptsetup's new
#    one (refxts decrypts the data with it too);
#  - cryptsetup encrypts a plain image in place with the header in front
#    (--reduce-device-size): vmcrypt decrypt returns the original bytes;
#  - an unfinished reencryption (cryptsetup --init-only, or interrupted by SIGINT
#    part-way): vmcrypt either returns the right plaintext or refuses with exit 7,
#    never wrong data, and writes nothing; after cryptsetup --resume-only
#    finishes it, vmcrypt reads the plaintext.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires cryptsetup
requires_python_libcrypto
requires test -x "$VMCRYPT"

cs_reenc()
{
	cs reencrypt --batch-mode --force-offline-reencrypt "${FAST_PBKDF2[@]}" "$@"
}

# vmcrypt's decryption of IMG must equal PLAIN, or (when ALLOW_REFUSE) be refused with 7.
expect_plaintext_or_refusal()
{
	local img=$1 plain=$2 what=$3 rc=0
	shift 3
	rm -f out
	expect_unchanged "$img" vmc decrypt "$img" out --key-file "$PASS" "$@" || rc=$?
	case $rc in
	0)
		expect_eq "$(sha256_range out 0 "$(filesize "$plain")")" "$(sha256 "$plain")" \
			"sha256 of vmcrypt's plaintext of $what vs the original plaintext"
		echo "$what: vmcrypt decrypted it correctly"
		;;
	"$EXIT_NOTSUP")
		[ ! -s out ] || fail "vmcrypt refused $what but left $(filesize out) bytes of output"
		echo "$what: vmcrypt refused it (exit 7): $(head -c 200 last.err)"
		;;
	*)
		cat last.err >&2
		fail "vmcrypt decrypt of $what: exit $rc (expected 0 with the right plaintext, or 7)"
		;;
	esac
}

case_rekey()
{
	local hdr=$1 hopt=()
	shift
	if [ "$hdr" = detached ]; then hopt=(--header hdr); fi
	make_plain plain 4096
	expect_exit 0 vmc encrypt plain img "${hopt[@]}" --type luks2 --key-file "$PASS" --batch-mode \
		"${FAST_PBKDF2[@]}" "$@"
	cs_volume_key img "$PASS" old.vk "${hopt[@]}"
	cs_reenc "${hopt[@]}" --key-file "$PASS" img "${REENC_ARGS[@]}" ||
		fail "cryptsetup reencrypt of vmcrypt's image failed"
	cs luksDump "${hopt[@]}" img >cs.dump
	cs_volume_key img "$PASS" new.vk "${hopt[@]}"
	[ "$(cat old.vk)" != "$(cat new.vk)" ] || fail "precondition: cryptsetup reencrypt kept the volume key"
	expect_exit 0 vmc dump img "${hopt[@]}" --dump-volume-key --key-file "$PASS" --batch-mode
	cp last.out vm-vk.dump
	expect_eq "$(luksmeta volume-key vm-vk.dump)" "$(cat new.vk)" "vmcrypt's volume key after cryptsetup reencrypt"
	expect_exit 0 vmc dump img "${hopt[@]}"
	cp last.out vm.dump
	luksmeta compare cs.dump vm.dump || fail "vmcrypt dump disagrees with cryptsetup luksDump after reencrypt"
	expect_exit 0 vmc decrypt img out "${hopt[@]}" --key-file "$PASS"
	expect_same out plain "vmcrypt decrypt after cryptsetup re-keyed vmcrypt's image"
	refxts decrypt --cipher "$(luksmeta field cs.dump cipher)" --sector-size "$(luksmeta field cs.dump sector_size)" \
		--key-file new.vk --offset "$(luksmeta field cs.dump data_offset)" --length "$(filesize plain)" img ref.out
	expect_same ref.out plain "refxts decryption with cryptsetup's new volume key"
}

case_encrypt_in_place()
{
	make_plain plain 8192
	cp plain img
	truncate -s 16M img
	cs reencrypt --encrypt --batch-mode --force-offline-reencrypt --type luks2 "${FAST_PBKDF2[@]}" \
		--reduce-device-size 8M --key-file "$PASS" img ||
		fail "cryptsetup reencrypt --encrypt failed"
	cs luksDump img >cs.dump
	echo "cryptsetup put the data at $(luksmeta field cs.dump data_offset), sector $(luksmeta field cs.dump sector_size)"
	expect_exit 0 vmc decrypt img out --key-file "$PASS"
	expect_eq "$(sha256_range out 0 "$(filesize plain)")" "$(sha256 plain)" \
		"sha256 of vmcrypt's decryption of an image cryptsetup encrypted in place vs the original"
}

case_unfinished()
{
	local how=$1 pid delay state tk_rc=0
	make_plain plain 16384
	expect_exit 0 vmc encrypt plain img --type luks2 --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
	if [ "$how" = init-only ]; then
		cs_reenc --init-only --key-file "$PASS" img || fail "cryptsetup reencrypt --init-only failed"
	else
		# Interrupt part-way; slow it down with a small hotzone and a journal.
		for delay in 0.2 0.1 0.05 0.4; do
			cp img img.try
			# cryptsetup itself in the background (not a shell function), so the
			# signal reaches it; it saves its progress on SIGINT.
			cryptsetup --disable-locks reencrypt --batch-mode --force-offline-reencrypt \
				"${FAST_PBKDF2[@]}" --hotzone-size 64k --resilience journal --key-file "$PASS" \
				img.try >reenc.out 2>&1 &
			pid=$!
			sleep "$delay"
			kill -INT "$pid" 2>/dev/null || true
			wait "$pid" || true
			cs luksDump img.try >try.dump
			if grep -q 'online-reencrypt' try.dump &&
				[ "$(grep -c '^  [0-9]*: crypt' try.dump)" -ge 4 ]; then
				mv img.try img
				break
			fi
		done
	fi
	cs luksDump img >cs.dump
	state=unfinished
	grep -q 'online-reencrypt' cs.dump || state=finished
	echo "state after $how: $state; segments: $(grep -c '^  [0-9]*: crypt' cs.dump)"
	[ "$state" = unfinished ] || fail "precondition: could not leave a reencryption unfinished ($how)"
	expect_plaintext_or_refusal img plain "an unfinished cryptsetup reencryption ($how)"
	expect_unchanged img vmc test-key img --key-file "$PASS" || tk_rc=$?
	echo "vmcrypt test-key on it: exit $tk_rc"
	cs_reenc --resume-only --key-file "$PASS" img >resume.out 2>&1 ||
		{ cat resume.out >&2; fail "cryptsetup could not resume its own reencryption"; }
	cs luksDump img >cs2.dump
	if grep -q 'online-reencrypt' cs2.dump; then fail "precondition: reencryption still unfinished after resume"; fi
	expect_exit 0 vmc decrypt img out2 --key-file "$PASS"
	expect_same out2 plain "vmcrypt decrypt after cryptsetup finished the reencryption"
}

REENC_ARGS=()
run_case "cryptsetup re-keys vmcrypt luks2 (sector 4096)" case_rekey attached
run_case "cryptsetup re-keys vmcrypt luks2 (sector 512)" case_rekey attached --sector-size 512
REENC_ARGS=(--cipher aes-cbc-essiv:sha256 --key-size 256)
run_case "cryptsetup re-keys vmcrypt luks2 to aes-cbc-essiv:sha256" case_rekey attached
REENC_ARGS=()
run_case "cryptsetup re-keys vmcrypt luks2 with a detached header" case_rekey detached
run_case "cryptsetup encrypts in place (header in front), vmcrypt decrypts" case_encrypt_in_place
run_case "unfinished reencryption: --init-only" case_unfinished init-only
run_case "unfinished reencryption: interrupted by SIGINT" case_unfinished sigint

finish
