#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt rekey as a user meets it:
#  - a rekey stopped by SIGINT exits 9 and says how to resume; meanwhile the new
#    passphrase reads the right plaintext (vmcrypt decrypt) and the old one is refused
#    with a clear message; --resume (and a plain re-run) finish it;
#  - after a kill mid-step (crash state), reading waits for the recovery (or reads the
#    right plaintext); after cryptsetup repair, vmcrypt decrypt reads the right
#    plaintext while the re-encryption is still unfinished;
#  - --keep-keyslots keeps the passphrase; --cipher/--key-size/--sector-size change the
#    layout (cryptsetup agrees); a detached header; other passphrases are removed only
#    after a confirmation (or --batch-mode); a wrong passphrase and bad option
#    combinations change nothing.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# rekey_bg IMG ARGS...: the vmcrypt binary itself in the background (signals reach it).
rekey_bg()
{
	local img=$1
	shift
	"$VMCRYPT" rekey "$img" --batch-mode "${FAST_PBKDF2[@]}" "$@" >bg.out 2>&1 &
	BG_PID=$!
}

case_stop_and_read()
{
	local mode=$1 rc
	new_image t.img
	OLD_VK=$(volume_key t.img "$OLD")
	rekey_bg t.img --key-file "$OLD" --new-key-file "$NEW" --resilience "$mode" --hotzone-size 4K
	stop_midway "$BG_PID" INT || fail "SIGINT: exit $STOP_RC, not $EXIT_CANCELLED: $(cat bg.out)"
	echo "stopped: $(tail -1 bg.out)"
	[ "$(wc -l <bg.out)" -eq 1 ] || fail "more than one line on a stop: $(cat bg.out)"
	grep -q "vmcrypt rekey --resume t.img" bg.out || fail "no resume command in: $(cat bg.out)"
	pending t.img || fail "not unfinished after the stop"
	expect_eq "$(plain_of t.img "$NEW")" "$PLAIN_SHA" "plaintext mid-way, new passphrase"
	rc=0
	vmc decrypt t.img out --key-file "$OLD" 2>err || rc=$?
	expect_eq "$rc" "$EXIT_PASS" "decrypt mid-way with the old passphrase (exit status)"
	grep -q 'only one of the two volume keys' err || fail "unclear refusal: $(cat err)"
	[ ! -e out ] || fail "a refused decrypt left its output"
	# The image is read, not written, by decrypt.
	expect_unchanged t.img vmc decrypt t.img out2 --key-file "$NEW"
	rm -f out2
	if [ "$mode" = checksum ]; then
		# A plain re-run without --resume (and without new-key options) resumes too.
		expect_exit 0 rk t.img --key-file "$NEW"
	else
		expect_exit 0 rk t.img --resume --key-file "$NEW"
	fi
	expect_rekeyed t.img "$OLD_VK" "stopped ($mode), then resumed"
}

case_crash_and_read()
{
	local n rc
	new_image t.img
	OLD_VK=$(volume_key t.img "$OLD")
	# Find a write that leaves the crash state (a hotzone in flight).
	for n in $(seq 30 3 120); do
		cp t.img c.img
		rc=0
		VMCRYPT_FAULT=kill:$n rk c.img --key-file "$OLD" --new-key-file "$NEW" \
			--hotzone-size "$RK_HOTZONE" >/dev/null 2>&1 || rc=$?
		expect_eq "$rc" 137 "kill:$n"
		vmc dump c.img | grep -q 'in-reencryption' && break
	done
	vmc dump c.img | grep -q 'in-reencryption' || fail "no crash state found"
	echo "kill:$n left a hotzone in flight"
	rc=0
	expect_unchanged c.img vmc decrypt c.img out --key-file "$NEW" || rc=$?
	case $rc in
	0) expect_eq "$(sha256_range out 0 "$(filesize "$PLAIN")")" "$PLAIN_SHA" "plaintext in the crash state" ;;
	"$EXIT_BUSY") grep -q 'rekey --resume' last.err || fail "refusal without a way out: $(cat last.err)" ;;
	*) fail "decrypt in the crash state: exit $rc: $(cat last.err)" ;;
	esac
	echo "read-only decrypt in the crash state: exit $rc"
	# cryptsetup's recovery alone (no resume): still unfinished, and readable.
	cs repair --batch-mode --key-file "$NEW" c.img >repair.out 2>&1 ||
		{ cat repair.out >&2; fail "cryptsetup repair"; }
	pending c.img || fail "repair finished the whole re-encryption"
	if vmc dump c.img | grep -q 'in-reencryption'; then fail "still a crash state after repair"; fi
	expect_eq "$(plain_of c.img "$NEW")" "$PLAIN_SHA" "plaintext mid-way after cryptsetup's recovery"
	expect_exit 0 rk c.img --resume --key-file "$NEW"
	expect_rekeyed c.img "$OLD_VK" "crash state, repaired, resumed"
}

case_keep_keyslots()
{
	local vk
	new_image t.img
	OLD_VK=$(volume_key t.img "$OLD")
	expect_exit 0 rk t.img --key-file "$OLD" --keep-keyslots --hotzone-size 1M
	vk=$(volume_key t.img "$OLD")
	if [ -z "$vk" ] || [ "$vk" = "$OLD_VK" ]; then fail "--keep-keyslots: the volume key did not change"; fi
	expect_eq "$(plain_of t.img "$OLD")" "$PLAIN_SHA" "plaintext with the kept passphrase"
	cs open --test-passphrase --key-file "$OLD" t.img || fail "cryptsetup refuses the kept passphrase"
}

case_layout_change()
{
	new_image t.img --sector-size 4096
	OLD_VK=$(volume_key t.img "$OLD")
	expect_exit 0 rk t.img --key-file "$OLD" --new-key-file "$NEW" --cipher aes-cbc-essiv:sha256 \
		--key-size 256 --sector-size 512 --resilience journal --hotzone-size 1M
	expect_rekeyed t.img "$OLD_VK" "cipher, key size and sector size changed"
	cs luksDump t.img >cs.dump
	expect_eq "$(luksmeta field cs.dump cipher)" "aes-cbc-essiv:sha256" "cipher (cryptsetup luksDump)"
	expect_eq "$(luksmeta field cs.dump sector_size)" 512 "sector size (cryptsetup luksDump)"
	cs_volume_key t.img "$NEW" vk.hex
	expect_eq "$(($(tr -d "\n" <vk.hex | wc -c) * 4))" 256 "volume key bits (cryptsetup)"
	refxts decrypt --cipher aes-cbc-essiv:sha256 --sector-size 512 --key-file vk.hex \
		--offset "$(luksmeta field cs.dump data_offset)" --length "$(filesize "$PLAIN")" t.img ref.out
	expect_eq "$(sha256 ref.out)" "$PLAIN_SHA" "plaintext by the reference cipher with cryptsetup's key"
}

case_detached()
{
	new_image t.img --header t.hdr
	OLD_VK=$(volume_key t.img "$OLD" --header t.hdr)
	rekey_bg t.img --header t.hdr --key-file "$OLD" --new-key-file "$NEW" --hotzone-size 4K
	stop_midway "$BG_PID" INT || fail "SIGINT: exit $STOP_RC: $(cat bg.out)"
	grep -q -- "--resume --header t.hdr t.img" bg.out || fail "resume command: $(cat bg.out)"
	expect_eq "$(plain_of t.img "$NEW" --header t.hdr)" "$PLAIN_SHA" "plaintext mid-way (detached)"
	cs_finish t.img --header t.hdr
	expect_rekeyed t.img "$OLD_VK" "detached header, finished by cryptsetup" --header t.hdr
}

case_other_passphrases()
{
	new_image t.img
	OLD_VK=$(volume_key t.img "$OLD")
	cs luksAddKey --batch-mode "${FAST_PBKDF2[@]}" --key-file "$OLD" t.img "$WRONG" ||
		fail "cryptsetup luksAddKey"
	# No terminal to confirm on, no --batch-mode: refused, nothing written.
	expect_unchanged t.img vmc rekey t.img --key-file "$OLD" --new-key-file "$NEW" \
		"${FAST_PBKDF2[@]}" && fail "rekey removed another passphrase without confirmation"
	grep -q 'batch-mode' last.err || fail "refusal does not name --batch-mode: $(cat last.err)"
	expect_exit 0 rk t.img --key-file "$OLD" --new-key-file "$NEW" --hotzone-size 1M
	expect_rekeyed t.img "$OLD_VK" "two passphrases before"
	if cs open --test-passphrase --key-file "$WRONG" t.img 2>/dev/null; then
		fail "the other passphrase still opens the image"
	fi
	expect_eq "$(vmc dump t.img | grep -c ': luks2$')" 1 "key slots after the rekey"
}

case_refusals()
{
	local rc
	new_image t.img
	expect_unchanged t.img vmc rekey t.img --key-file "$WRONG" --new-key-file "$NEW" \
		"${FAST_PBKDF2[@]}" --batch-mode || rc=$?
	expect_eq "${rc:-0}" "$EXIT_PASS" "wrong passphrase (exit status)"
	rc=0
	expect_unchanged t.img vmc rekey t.img --key-file "$OLD" --new-key-file "$NEW" --keep-keyslots || rc=$?
	expect_eq "$rc" "$EXIT_USAGE" "--keep-keyslots with --new-key-file"
	rc=0
	expect_unchanged t.img vmc rekey t.img --resume --key-file "$OLD" || rc=$?
	expect_eq "$rc" "$EXIT_NOTLUKS" "--resume without an unfinished re-encryption"
	grep -q 'no unfinished re-encryption' last.err || fail "message: $(cat last.err)"
	rc=0
	expect_unchanged t.img vmc rekey t.img --key-file "$OLD" --resilience sideways || rc=$?
	expect_eq "$rc" "$EXIT_USAGE" "--resilience sideways"
	# Unfinished: new settings are refused until it is resumed.
	rekey_bg t.img --key-file "$OLD" --new-key-file "$NEW" --hotzone-size 4K
	stop_midway "$BG_PID" TERM || fail "SIGTERM: exit $STOP_RC: $(cat bg.out)"
	rc=0
	expect_unchanged t.img vmc rekey t.img --key-file "$NEW" --new-key-file "$OLD" --batch-mode || rc=$?
	expect_eq "$rc" "$EXIT_USAGE" "a new rekey over an unfinished one"
	grep -q -- '--resume' last.err || fail "message: $(cat last.err)"
	rc=0
	expect_unchanged t.img vmc rekey t.img --resume --key-file "$OLD" || rc=$?
	expect_eq "$rc" "$EXIT_PASS" "resume with the old passphrase (opens one key only)"
	expect_exit 0 rk t.img --resume --key-file "$NEW"
	expect_eq "$(plain_of t.img "$NEW")" "$PLAIN_SHA" "plaintext at the end"
}

case_help()
{
	expect_exit 0 vmc rekey --help
	grep -q -- '--resume' last.out || fail "rekey --help does not mention --resume"
	grep -q 'exit status 9' last.out || fail "rekey --help does not mention exit status 9"
	expect_exit 0 vmc help
	grep -q '^  rekey' last.out || fail "vmcrypt help does not list rekey"
}

# In place: encrypt with a new header and with a data shift, stop one by SIGINT and
# resume it with rekey --resume, decrypt back both ways; refusals of what is LUKS.
case_in_place()
{
	local rc
	# Detached header, stopped and resumed.
	cp "$PLAIN" d.img
	"$VMCRYPT" encrypt --in-place d.img --header d.hdr --key-file "$NEW" --batch-mode \
		"${FAST_PBKDF2[@]}" --hotzone-size 4K >bg.out 2>&1 &
	stop_midway $! INT || fail "SIGINT: exit $STOP_RC: $(cat bg.out)"
	grep -q -- "rekey --resume --header d.hdr d.img" bg.out || fail "resume command: $(cat bg.out)"
	expect_eq "$(plain_of d.img "$NEW" --header d.hdr)" "$PLAIN_SHA" "plaintext mid-way (encrypt, detached)"
	expect_exit "$EXIT_USAGE" vmc encrypt --in-place d.img --header d.hdr --key-file "$NEW" --batch-mode
	grep -q 'rekey --resume' last.err || fail "message: $(cat last.err)"
	expect_exit 0 vmc rekey d.img --resume --header d.hdr --key-file "$NEW"
	expect_eq "$(plain_of d.img "$NEW" --header d.hdr)" "$PLAIN_SHA" "plaintext (encrypt, detached)"
	expect_exit 0 vmc decrypt --in-place d.img --header d.hdr --key-file "$NEW" --batch-mode
	expect_same d.img "$PLAIN" "decrypted in place with its detached header"
	# Data shift: the data moves up by 1 MiB, a copy of the first chunk at the end.
	cp "$PLAIN" s.img
	truncate -s +2M s.img
	expect_exit 0 vmc encrypt --in-place s.img --reduce-size 2M --key-file "$NEW" --batch-mode "${FAST_PBKDF2[@]}"
	expect_eq "$(plain_of s.img "$NEW")" "$PLAIN_SHA" "plaintext (encrypt, data shift)"
	cs open --test-passphrase --key-file "$NEW" s.img || fail "cryptsetup does not open it"
	expect_exit "$EXIT_USAGE" vmc encrypt --in-place s.img --reduce-size 2M --key-file "$NEW" --batch-mode
	grep -q 'LUKS image already' last.err || fail "message: $(cat last.err)"
	# Back, with the header moved out: needs data of at least twice the data offset.
	rc=0
	vmc decrypt --in-place s.img --header s.hdr --key-file "$NEW" --batch-mode 2>err || rc=$?
	echo "decrypt --in-place of a 9 MiB image with a 1 MiB data offset: exit $rc"
	if [ "$rc" -eq 0 ]; then
		expect_eq "$(sha256_range s.img 0 "$(filesize "$PLAIN")")" "$PLAIN_SHA" "decrypted in place (shift)"
	else
		expect_eq "$rc" "$EXIT_NOTSUP" "decrypt --in-place refused (exit status)"
	fi
	# A non-zero tail is refused (it may hold data); nothing is written. (The library
	# reports it as -ENOSPC: exit status 8.)
	cp "$PLAIN" t.img
	rc=0
	expect_unchanged t.img vmc encrypt --in-place t.img --reduce-size 2M --key-file "$NEW" --batch-mode || rc=$?
	[ "$rc" -ne 0 ] || fail "a tail that is not free was accepted"
	grep -q 'not free' last.err || fail "message: $(cat last.err)"
	# No --batch-mode and no terminal: refused.
	expect_unchanged t.img vmc encrypt --in-place t.img --header t.hdr --key-file "$NEW" && fail "no confirmation"
	[ ! -e t.hdr ] || fail "a refused encrypt --in-place left a header file"
}

# The data shift when the data is smaller than half the reduction (the shift): the result
# must be the plaintext (cryptsetup gets it right), or a refusal.
case_in_place_small()
{
	local rc=0
	cp "$PLAIN" s.img
	truncate -s +32M s.img
	vmc encrypt --in-place s.img --reduce-size 32M --key-file "$NEW" --batch-mode "${FAST_PBKDF2[@]}" 2>err || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "refused (exit $rc): $(cat err)"
		return 0
	fi
	expect_eq "$(plain_of s.img "$NEW")" "$PLAIN_SHA" "plaintext after encrypt --in-place --reduce-size 32M of 8 MiB of data"
}

run_case "rekey stopped by SIGINT (checksum): readable mid-way, re-run resumes" case_stop_and_read checksum
run_case "rekey stopped by SIGINT (journal): readable mid-way, --resume" case_stop_and_read journal
run_case "crash state: read, cryptsetup repair, read mid-way, resume" case_crash_and_read
run_case "--keep-keyslots" case_keep_keyslots
run_case "cipher, key size, sector size change" case_layout_change
run_case "detached header: stop, cryptsetup finishes" case_detached
run_case "other passphrases: confirmation, then removed" case_other_passphrases
run_case "refusals change nothing" case_refusals
run_case "help" case_help
if in_place_supported; then
	run_case "encrypt and decrypt --in-place" case_in_place
	run_case "encrypt --in-place: data smaller than the shift" case_in_place_small
else
	echo "SKIP: in place: this vmcrypt has no --in-place"
fi
finish
