#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Crash safety of every header update: the verb is killed (SIGKILL) or loses power
# after its Nth storage write (VMCRYPT_FAULT, docs/FORMAT-NOTES.md), for every N it
# reaches. Afterwards vmcrypt and cryptsetup agree on which passphrases open the
# image, the old or the new one always does, and the data is intact.
. "$(dirname "$0")/lib.sh"

POINTS=$TMPDIR_TEST/points
: >"$POINTS"

# opens IMG KEYVAR: yes or no, the same for vmcrypt and for cryptsetup (which
# reads a copy: it may repair a damaged LUKS2 copy while loading).
opens()
{
	local img=$1 key=$2 a b
	a=$(vmc_opens "$img" "$key")
	[ -e cs-copy.img ] || cp --sparse=always "$img" cs-copy.img
	b=$(cs_opens cs-copy.img "$key")
	[ "$a" = "$b" ] || fail "$key: vmcrypt says $a, cryptsetup says $b"
	echo "$a"
}

# after_fault IMG POINT CHECK: what an interrupted verb must leave behind.
# With RECOVER=1 (convert), vmcrypt first rolls the interrupted conversion back
# from its journal (any open for writing does); how often cryptsetup alone could
# not open the image before that is counted in $TMPDIR_TEST/before-recovery.
RECOVER=0
after_fault()
{
	local img=$1 point=$2 check=$3 before
	rm -f cs-copy.img
	if [ "$RECOVER" = 1 ]; then
		cp --sparse=always "$img" cs-before.img
		[ "$(cs_opens cs-before.img K1)" = yes ] ||
			echo "$point" >>"$TMPDIR_TEST/before-recovery"
		rm -f cs-before.img
		vmc repair "$img" >/dev/null || fail "$point: vmcrypt cannot recover the image"
		[ ! -e "$img.vmcrypt-convert" ] || fail "$point: the journal is still there"
	fi
	cs luksDump "$img" >fault.dump 2>fault.err || {
		cat fault.err >&2
		fail "$point: cryptsetup luksDump rejects the image"
	}
	"$check" "$img" "$point"
	# Whatever copy the crash left outdated, repair makes both good again.
	vmc repair "$img" >/dev/null || fail "$point: vmcrypt repair fails"
	before=$(sha256 "$img")
	cs repair -q "$img" >/dev/null 2>&1 || fail "$point: cryptsetup repair fails after vmcrypt's"
	expect_eq "$(sha256 "$img")" "$before" "$point: cryptsetup repair after vmcrypt repair"
}

# fault_points MODE VERB CHECK FINAL: runs VERB IMG on a fresh copy of base.img with
# VMCRYPT_FAULT=MODE:N for N = 1, 2, ... until it completes; CHECK judges every
# interrupted image, FINAL the completed one.
fault_points()
{
	local mode=$1 verb=$2 check=$3 final=$4 n=1 rc
	while :; do
		cp --sparse=always base.img img
		rm -f img.vmcrypt-convert
		rc=0
		VMCRYPT_FAULT=$mode:$n "$verb" img >fault.out 2>&1 </dev/null || rc=$?
		if [ "$rc" -eq 0 ]; then
			rm -f cs-copy.img
			"$final" img
			expect_healthy img
			break
		fi
		if [ "$rc" -ne 137 ]; then
			cat fault.out >&2
			fail "$mode:$n: exit $rc, not killed"
		fi
		after_fault img "$mode:$n" "$check"
		echo "$verb $mode:$n" >>"$POINTS"
		n=$((n + 1))
		[ "$n" -le 200 ] || fail "$verb never completes"
	done
	echo "$verb: $mode at writes 1..$((n - 1)) and complete at $n"
}

run_faults()
{
	fault_points kill "$@"
	fault_points powercut "$@"
}

# --- the verbs, each with its invariant --------------------------------------------

# K1 in slot 0, K2 in slot 1, the known plaintext.
base_two_keys()
{
	new_image "$1" base.img
	add_key base.img K1 K2
}

do_add_key() { add_key "$1" K1 K3; }
check_add_key()
{
	expect_eq "$(opens "$1" K1)" yes "$2: the old passphrase"
	opens "$1" K3 >/dev/null
	expect_data "$1" K1
}
final_add_key() { expect_keys "$1" "K1=0 K2=1 K3=2"; }

do_change_key() { vmc change-key "${FAST_PBKDF2[@]}" --key-file "$K2" "$1" "$K3"; }
check_change_key()
{
	local old new
	old=$(opens "$1" K2)
	new=$(opens "$1" K3)
	# Atomic: exactly one of the two, never neither (and never both).
	[ "$old$new" = yesno ] || [ "$old$new" = noyes ] ||
		fail "$2: old passphrase $old, new passphrase $new"
	expect_eq "$(opens "$1" K1)" yes "$2: the other passphrase"
	if [ "$new" = yes ]; then expect_data "$1" K3; else expect_data "$1" K2; fi
}
final_change_key()
{
	if [ "$(vmc_opens "$1" K3 1)" = yes ]; then
		expect_keys "$1" "K1=0 K2=- K3=1"
	else
		expect_keys "$1" "K1=0 K2=- K3=2"
	fi
}

do_kill_slot() { vmc kill-slot --batch-mode "$1" 1; }
do_remove_key() { vmc remove-key --key-file "$K2" "$1"; }
check_removed()
{
	expect_eq "$(opens "$1" K1)" yes "$2: the remaining passphrase"
	opens "$1" K2 >/dev/null
	expect_data "$1" K1
}
final_removed() { expect_keys "$1" "K1=0 K2=-"; }

do_label() { vmc config --label "after the crash" "$1"; }
check_label()
{
	local label
	label=$(luksmeta field fault.dump label)
	[ "$label" = "" ] || [ "$label" = "after the crash" ] || fail "$2: label '$label'"
	expect_eq "$(opens "$1" K1)" yes "$2: the passphrase"
	expect_data "$1" K1
}
final_label()
{
	cs luksDump "$1" >final.dump
	expect_eq "$(luksmeta field final.dump label)" "after the crash" "label"
}

do_token() { vmc token import --json-file "$TMPDIR_TEST/tok.json" "$1"; }
check_token()
{
	local tokens
	tokens=$(luksmeta field fault.dump tokens)
	case $tokens in
	"") ;;
	0:crash-test)
		cs token export --token-id 0 "$1" >tok.out
		expect_same tok.out "$TMPDIR_TEST/tok.json" "$2: token"
		;;
	*) fail "$2: tokens '$tokens'" ;;
	esac
	expect_eq "$(opens "$1" K1)" yes "$2: the passphrase"
	expect_data "$1" K1
}
final_token()
{
	cs token export --token-id 0 "$1" >tok.out
	expect_same tok.out "$TMPDIR_TEST/tok.json" "token"
}

do_erase() { vmc erase --batch-mode "$1"; }
check_erase()
{
	local k1 k2
	# No passphrase is promised here, but both tools must agree and the header stay valid.
	k1=$(opens "$1" K1)
	k2=$(opens "$1" K2)
	[ "$k1" = no ] || expect_data "$1" K1
	[ "$k2" = no ] || expect_data "$1" K2
}
final_erase() { expect_keys "$1" "K1=- K2=-"; }

# The backup holds K1 and K2; the image K1 and K3 when it is restored.
do_restore() { vmc header restore --batch-mode "$1" backup.hdr; }
check_restore()
{
	expect_eq "$(opens "$1" K1)" yes "$2: the passphrase in both headers"
	opens "$1" K2 >/dev/null
	opens "$1" K3 >/dev/null
	expect_data "$1" K1
}
final_restore() { expect_keys "$1" "K1=0 K2=1 K3=-"; }

# LUKS1 <-> LUKS2 (512-byte sectors); after recovery the image is in either format.
do_convert() { vmc convert --batch-mode --type "luks$CONVERT_TO" "$1"; }
check_convert()
{
	local ver
	ver=$(luksmeta field fault.dump version)
	[ "$ver" = 1 ] || [ "$ver" = 2 ] || fail "$2: version '$ver'"
	expect_eq "$(opens "$1" K1)" yes "$2: K1"
	expect_eq "$(opens "$1" K2)" yes "$2: K2"
	expect_data "$1" K2
}
final_convert()
{
	cs luksDump "$1" >final.dump
	expect_eq "$(luksmeta field final.dump version)" "$CONVERT_TO" "version"
	expect_keys "$1" "K1=0 K2=1"
	[ ! -e "$1.vmcrypt-convert" ] || fail "the journal was left behind"
}

case_faults()
{
	local v=$1 verb=$2
	[ "$verb" = convert ] || base_two_keys "$v"
	case $verb in
	add-key) run_faults do_add_key check_add_key final_add_key ;;
	change-key) run_faults do_change_key check_change_key final_change_key ;;
	kill-slot) run_faults do_kill_slot check_removed final_removed ;;
	remove-key) run_faults do_remove_key check_removed final_removed ;;
	config-label) run_faults do_label check_label final_label ;;
	token-import) run_faults do_token check_token final_token ;;
	erase) run_faults do_erase check_erase final_erase ;;
	header-restore)
		vmc header backup base.img backup.hdr
		vmc kill-slot base.img 1
		add_key base.img K1 K3
		run_faults do_restore check_restore final_restore
		;;
	convert)
		RECOVER=1 CONVERT_TO=$((3 - v))
		vmc encrypt --type "luks$v" --sector-size 512 --key-file "$K1" \
			"${FAST_PBKDF2[@]}" "$PLAIN" base.img
		add_key base.img K1 K2
		run_faults do_convert check_convert final_convert
		;;
	esac
}

printf '{"type":"crash-test","keyslots":["0"],"pad":"%s"}' "$(head -c 3000 /dev/zero | tr '\0' x)" \
	>"$TMPDIR_TEST/tok.json"

for verb in add-key change-key kill-slot remove-key config-label token-import erase; do
	run_case "LUKS2 $verb" case_faults 2 "$verb"
done
for verb in add-key change-key kill-slot remove-key erase header-restore convert; do
	run_case "LUKS1 $verb" case_faults 1 "$verb"
done

echo "fault points (kill and powercut) checked: $(wc -l <"$POINTS")"
if [ -s "$TMPDIR_TEST/before-recovery" ]; then
	echo "interrupted conversions cryptsetup alone could not open before vmcrypt's" \
		"roll-back: $(wc -l <"$TMPDIR_TEST/before-recovery")"
fi
[ "$(wc -l <"$POINTS")" -ge 100 ] || [ "${#FAILED_CASES[@]}" -gt 0 ] ||
	fail "fewer than 100 fault points"
finish
