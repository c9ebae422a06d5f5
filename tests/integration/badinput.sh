#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad input gets the documented exit status, never a crash, and never a write:
#  - a file that is not LUKS, an empty file, a missing file: exit 4;
#  - images truncated inside the header, the keyslot area or the data area;
#  - a flipped byte in the LUKS2 binary header (or JSON area) of both copies:
#    exit 6; of one copy only: still opens, with a warning on stderr;
#  - ciphers vmcrypt cannot do (create: exit 7; a header naming one, made from a
#    cryptsetup image with valid checksums: exit 7), unknown mandatory requirements;
#  - wrong passphrase: exit 2 from every verb that unlocks;
#  - read-only images (0444, and a read-only bind mount when possible): every
#    read-only verb works and the bytes stay the same.
# Every image's sha256 is checked after every command that must not write.
# Headers are made by cryptsetup; corruptions are single precise edits (luksmeta.py).
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires cryptsetup
requires "$PYTHON"
requires test -x "$VMCRYPT"

# expect_status "CODES" FILE CMD...: CMD exits with one of CODES (space-separated),
# prints a message on stderr, and leaves FILE's bytes unchanged.
expect_status()
{
	local codes=$1 file=$2 rc=0 c
	shift 2
	expect_unchanged "$file" "$@" || rc=$?
	for c in $codes; do
		if [ "$rc" -eq "$c" ]; then
			if [ "$rc" -ne 0 ] && [ ! -s last.err ]; then
				fail "$* exited $rc without a message on stderr"
			fi
			return 0
		fi
	done
	echo "stdout:" >&2
	head -c 1500 last.out >&2
	echo "stderr:" >&2
	head -c 1500 last.err >&2
	fail "$*: exit $rc, expected one of: $codes"
}

# The read-only verbs, each expected to end with one of CODES and write nothing.
all_verbs_status()
{
	local codes=$1 img=$2
	shift 2
	expect_status "$codes" "$img" vmc test-key "$img" --key-file "$PASS" "$@"
	expect_status "$codes" "$img" vmc dump "$img" "$@"
	rm -f out
	expect_status "$codes" "$img" vmc decrypt "$img" out --key-file "$PASS" "$@"
	if [ -s out ]; then fail "vmcrypt decrypt left output although it failed"; fi
}

luks2_image()
{
	truncate -s 20M "$1"
	cs luksFormat --batch-mode --type luks2 "${FAST_PBKDF2[@]}" --key-file "$PASS" "$1"
}

luks1_image()
{
	truncate -s 4M "$1"
	cs luksFormat --batch-mode --type luks1 "${FAST_PBKDF2[@]}" --key-file "$PASS" "$1"
}

case_not_luks()
{
	head -c 4194304 /dev/urandom >random.img
	all_verbs_status "$EXIT_NOTLUKS" random.img
	: >empty.img
	all_verbs_status "$EXIT_NOTLUKS" empty.img
	head -c 1048576 /dev/zero >zero.img
	all_verbs_status "$EXIT_NOTLUKS" zero.img
	expect_status "$EXIT_NOTLUKS" random.img vmc test-key does-not-exist.img --key-file "$PASS"
	expect_status "$EXIT_NOTLUKS" random.img vmc dump does-not-exist.img
	# A detached header that is not LUKS.
	expect_status "$EXIT_NOTLUKS" random.img vmc test-key random.img --header zero.img --key-file "$PASS"
}

case_truncated()
{
	local type=$1 size
	"${type}_image" orig.img
	cs luksDump orig.img >orig.dump
	# Inside the binary header (LUKS2) / the phdr (LUKS1): a LUKS magic, but no header.
	cp orig.img t.img
	truncate -s 300 t.img
	all_verbs_status "$EXIT_NOTLUKS $EXIT_CORRUPT" t.img
	# Headers complete, keyslot material cut off.
	cp orig.img t.img
	if [ "$type" = luks2 ]; then size=$((32768 + 4096)); else size=8192; fi
	truncate -s "$size" t.img
	expect_status "$EXIT_CORRUPT $EXIT_IO" t.img vmc test-key t.img --key-file "$PASS"
	expect_status "$EXIT_CORRUPT $EXIT_IO" t.img vmc decrypt t.img out --key-file "$PASS"
	# Everything up to the data offset, no data: opens, decrypts to nothing.
	cp orig.img t.img
	truncate -s "$(luksmeta field orig.dump data_offset)" t.img
	expect_status 0 t.img vmc test-key t.img --key-file "$PASS"
	expect_status "0 $EXIT_IO $EXIT_CORRUPT" t.img vmc decrypt t.img out --key-file "$PASS"
	if [ -e out ] && [ -s out ]; then fail "decrypt of an image without data produced $(filesize out) bytes"; fi
}

# flip a byte of the binary header (OFFSET) or JSON area in COPIES.
case_flip()
{
	local offset=$1 copies=$2 c
	luks2_image img
	for c in $copies; do luksmeta flip img "$c" "$offset"; done
	if [ "$copies" = "0 1" ]; then
		# Make sure the peer agrees this header is beyond use.
		if cs luksDump img >/dev/null 2>&1; then
			fail "precondition: cryptsetup still accepts the header after the flip"
		fi
		all_verbs_status "$EXIT_CORRUPT" img
		expect_status "$EXIT_CORRUPT" img vmc dump --json img
	else
		expect_status 0 img vmc test-key img --key-file "$PASS"
		[ -s last.err ] || fail "vmcrypt test-key opened an image with a damaged header copy ($copies) without a warning"
		echo "warning seen: $(head -c 300 last.err)"
		expect_status 0 img vmc dump img
		expect_status 0 img vmc decrypt img out --key-file "$PASS"
		expect_eq "$(filesize out)" $((4 * 1024 * 1024)) "plaintext size with one damaged copy"
	fi
}

case_luks1_corrupt()
{
	luks1_image img
	# key_bytes (offset 108, be32) = 0.
	printf '\0\0\0\0' | dd of=img bs=1 seek=108 conv=notrunc status=none
	if cs luksDump img >/dev/null 2>&1; then
		fail "precondition: cryptsetup accepts a LUKS1 header with key_bytes 0"
	fi
	all_verbs_status "$EXIT_CORRUPT" img
	# Keyslot 0's key material offset (offset 208+40, be32) pointing past the file.
	luks1_image img2
	printf '\0\1\0\0' | dd of=img2 bs=1 seek=$((208 + 40)) conv=notrunc status=none
	expect_status "$EXIT_CORRUPT $EXIT_IO" img2 vmc test-key img2 --key-file "$PASS"
}

case_unsupported_create()
{
	local c
	for c in blowfish-cbc-plain64 aes-hctr2-plain64 xchacha12,aes-adiantum-plain64; do
		rm -f new.img
		expect_status "$EXIT_NOTSUP" "$PASS" vmc create new.img --size 4M --cipher "$c" \
			--key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
		[ ! -e new.img ] || fail "vmcrypt create --cipher $c failed but left new.img behind"
		expect_status "$EXIT_NOTSUP" "$PASS" vmc create new.img --type luks1 --size 4M --cipher "$c" \
			--key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
		[ ! -e new.img ] || fail "vmcrypt create --type luks1 --cipher $c failed but left new.img behind"
	done
	# LUKS1 has no room for sector sizes other than 512.
	rm -f new.img
	expect_status "$EXIT_NOTSUP $EXIT_USAGE" "$PASS" vmc create new.img --type luks1 --size 4M \
		--sector-size 4096 --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
}

case_unsupported_header()
{
	# A valid header (checksums recomputed) whose data segment uses blowfish.
	luks2_image img
	luksmeta edit-json img segments.0.encryption '"blowfish-cbc-plain64"'
	cs luksDump img >d || fail "precondition: cryptsetup rejects the edited header"
	expect_eq "$(luksmeta field d cipher)" blowfish-cbc-plain64 "precondition: edited segment cipher"
	rm -f out
	expect_status "$EXIT_NOTSUP" img vmc decrypt img out --key-file "$PASS"
}

case_unknown_requirement()
{
	# Unknown mandatory requirement: cryptsetup refuses to touch it; vmcrypt must not use it.
	luks2_image img2
	luksmeta edit-json img2 config.requirements '{"mandatory":["vmcrypt-test-unknown"]}'
	cs luksDump img2 >d2 || fail "precondition: cryptsetup rejects the edited header"
	cp img2 img2-copy
	if cs luksAddKey --batch-mode "${FAST_PBKDF2[@]}" --key-file "$PASS" img2-copy "$PASS2" 2>/dev/null; then
		fail "precondition: cryptsetup luksAddKey ignores an unknown mandatory requirement"
	fi
	rm -f out
	expect_status "$EXIT_NOTSUP" img2 vmc decrypt img2 out --key-file "$PASS"
	[ ! -s out ] || fail "vmcrypt decrypt wrote plaintext of an image with unmet mandatory requirements"
}

case_luks1_unsupported()
{
	# LUKS1 naming a cipher vmcrypt cannot do (no checksum in LUKS1).
	luks1_image img3
	printf 'blowfish\0' | dd of=img3 bs=1 seek=8 conv=notrunc status=none
	cs luksDump img3 >d3 || fail "precondition: cryptsetup rejects the edited LUKS1 header"
	expect_status "$EXIT_NOTSUP" img3 vmc test-key img3 --key-file "$PASS"
	expect_status "$EXIT_NOTSUP" img3 vmc decrypt img3 out --key-file "$PASS"
}

case_wrong_pass()
{
	local type=$1
	"${type}_image" img
	expect_status "$EXIT_PASS" img vmc test-key img --key-file "$WRONG"
	expect_status "$EXIT_PASS" img vmc test-key img --key-file "$WRONG" --key-slot 0
	rm -f out
	expect_status "$EXIT_PASS" img vmc decrypt img out --key-file "$WRONG"
	[ ! -s out ] || fail "decrypt with a wrong passphrase left output"
	expect_status "$EXIT_PASS" img vmc dump img --dump-volume-key --key-file "$WRONG" --batch-mode
	if grep -qi 'volume key' last.out; then fail "dump --dump-volume-key printed a key line after a wrong passphrase"; fi
	# The right passphrase in an empty slot.
	expect_status "$EXIT_PASS 4" img vmc test-key img --key-file "$PASS" --key-slot 3
	# Usage errors.
	expect_status "$EXIT_USAGE" img vmc test-key
	expect_status "$EXIT_USAGE" img vmc test-key img --key-file "$PASS" --no-such-option
	expect_status "$EXIT_USAGE" img vmc no-such-verb img
}

case_no_overwrite()
{
	make_plain plain 1024
	head -c 1048576 /dev/urandom >existing.img
	local rc=0
	expect_unchanged existing.img vmc encrypt plain existing.img --key-file "$PASS" --batch-mode \
		"${FAST_PBKDF2[@]}" || rc=$?
	[ "$rc" -ne 0 ] || fail "vmcrypt encrypt overwrote an existing file without --force"
	rc=0
	expect_unchanged existing.img vmc create existing.img --size 4M --key-file "$PASS" --batch-mode \
		"${FAST_PBKDF2[@]}" || rc=$?
	[ "$rc" -ne 0 ] || fail "vmcrypt create overwrote an existing file without --force"
}

# Every read-only verb on IMG works and writes nothing.
read_only_verbs()
{
	local img=$1 outdir=$2
	expect_status 0 "$img" vmc test-key "$img" --key-file "$PASS"
	expect_status 0 "$img" vmc dump "$img"
	expect_status 0 "$img" vmc dump --json "$img"
	expect_status 0 "$img" vmc dump "$img" --dump-volume-key --key-file "$PASS" --batch-mode
	expect_status 0 "$img" vmc decrypt "$img" "$outdir/out" --key-file "$PASS"
	expect_same "$outdir/out" plain "decrypt of a read-only image"
	expect_status "$EXIT_PASS" "$img" vmc test-key "$img" --key-file "$WRONG"
}

case_read_only()
{
	local here
	here=$(pwd)
	make_plain plain 4096
	mkdir ro
	expect_exit 0 vmc encrypt plain ro/img --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
	chmod 0444 ro/img
	read_only_verbs ro/img "$here"
	# A read-only file system, through a private read-only bind mount.
	if unshare -m true 2>/dev/null; then
		cat >ro-run.sh <<EOF
set -eu
mount --bind -o ro '$here/ro' '$here/ro'
exec "\$@"
EOF
		for verb in "test-key ro/img --key-file $PASS" "dump ro/img" \
			"dump ro/img --dump-volume-key --key-file $PASS --batch-mode"; do
			# shellcheck disable=SC2086 # verb is a word list on purpose
			expect_status 0 ro/img unshare -m sh ro-run.sh "$VMCRYPT" $verb
		done
		expect_status 0 ro/img unshare -m sh ro-run.sh "$VMCRYPT" decrypt ro/img "$here/out2" --key-file "$PASS"
		expect_same out2 plain "decrypt of an image on a read-only mount"
	else
		echo "note: unshare -m not permitted here; read-only mount part skipped"
	fi
	# As an unprivileged user, when we can become one: only 0444 and no write access.
	if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
		chmod 0711 "$TMPDIR_TEST"
		chmod 0755 "$here" ro
		chmod 0644 "$PASS"
	fi
	if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
		echo "note: not root or no setpriv/nobody; the unprivileged part is skipped"
	elif ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$VMCRYPT" -a -r ro/img; then
		echo "note: user nobody cannot reach $VMCRYPT or the image; the unprivileged part is skipped"
	else
		mkdir -m 0777 out-nobody
		expect_status 0 ro/img setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$VMCRYPT" decrypt ro/img out-nobody/out --key-file "$PASS"
		expect_same out-nobody/out plain "decrypt of a 0444 image as user nobody"
		expect_status 0 ro/img setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$VMCRYPT" test-key ro/img --key-file "$PASS"
	fi
}

run_case "not LUKS, empty, zeros, missing" case_not_luks
run_case "truncated luks2" case_truncated luks2
run_case "truncated luks1" case_truncated luks1
run_case "luks2 binary header byte flipped in both copies (uuid)" case_flip 170 "0 1"
run_case "luks2 binary header byte flipped in both copies (checksum)" case_flip 450 "0 1"
run_case "luks2 JSON area byte flipped in both copies" case_flip 4100 "0 1"
run_case "luks2 binary header byte flipped in the primary only" case_flip 170 "0"
run_case "luks2 binary header byte flipped in the secondary only" case_flip 170 "1"
run_case "luks2 JSON area byte flipped in the primary only" case_flip 4100 "0"
run_case "luks1 header corrupt" case_luks1_corrupt
run_case "create with an unsupported cipher" case_unsupported_create
run_case "luks2 header naming an unsupported segment cipher" case_unsupported_header
run_case "luks2 header with an unknown mandatory requirement" case_unknown_requirement
run_case "luks1 header naming an unsupported cipher" case_luks1_unsupported
run_case "wrong passphrase luks2" case_wrong_pass luks2
run_case "wrong passphrase luks1" case_wrong_pass luks1
run_case "no overwrite without --force" case_no_overwrite
run_case "read-only image" case_read_only

finish
