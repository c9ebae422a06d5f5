#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every keyslot and header verb of vmcrypt, LUKS1 and LUKS2, checked by cryptsetup:
# exactly the right passphrases open exactly the right slots, luksDump accepts the
# result, cryptsetup repair finds nothing to fix, and the data is intact.
. "$(dirname "$0")/lib.sh"

case_add_key()
{
	local v=$1
	new_image "$v" img
	# Positional NEW_KEY_FILE, then --new-key-file with --key-slot.
	add_key img K1 K2
	vmc add-key "${FAST_PBKDF2[@]}" --key-file "$K2" --new-key-file "$K3" --key-slot 5 img
	# Both passphrases as lines on a non-terminal stdin (K1 and K4 have no newline).
	printf '%s\n%s\n' "$(cat "$K1")" "$(cat "$K4")" | vmc add-key "${FAST_PBKDF2[@]}" img
	expect_keys img "K1=0 K2=1 K3=5 K4=2"
	if [ "$v" = 2 ]; then
		# An Argon2id slot with a part of a key file.
		vmc add-key "${FAST_ARGON2ID[@]}" --key-file "$K1" --new-key-file "$K3" \
			--new-keyfile-offset 3 --new-keyfile-size 20 --key-slot 31 img
		cs open --test-passphrase --keyfile-offset 3 --keyfile-size 20 --key-file "$K3" \
			--key-slot 31 img
		cs luksDump img >d.txt
		case ",$(luksmeta field d.txt keyslot_pbkdf)," in
		*",31:argon2id,"*) ;;
		*) fail "slot 31 is not argon2id: $(luksmeta field d.txt keyslot_pbkdf)" ;;
		esac
		vmc kill-slot img 31
	fi
	expect_healthy img
	expect_data img K4
	# Refusals leave the image alone: a wrong passphrase, a used slot, a slot
	# beyond the format, no free slot (LUKS1 with 8).
	expect_refused "$EXIT_PASS" img add_key img WRONG K3
	expect_refused "$EXIT_USAGE" img add_key img K1 K3 --key-slot 1
	if [ "$v" = 1 ]; then
		expect_refused "$EXIT_USAGE" img add_key img K1 K3 --key-slot 8
		for _ in 3 4 6 7; do add_key img K1 K3; done
		expect_refused "$EXIT_IO" img add_key img K1 K3
		expect_keys img "K1=0 K2=1 K3=3,4,5,6,7 K4=2"
	fi
}

case_change_key()
{
	local v=$1
	new_image "$v" img
	add_key img K1 K2
	vmc change-key "${FAST_PBKDF2[@]}" --key-file "$K2" img "$K3"
	if [ "$v" = 2 ]; then
		expect_keys img "K1=0 K2=- K3=1" # LUKS2 keeps the slot
	else
		expect_keys img "K1=0 K2=- K3=2" # LUKS1 moves to a free slot
	fi
	vmc change-key "${FAST_PBKDF2[@]}" --key-file "$K1" --key-slot 0 --new-key-file "$K4" img
	if [ "$v" = 2 ]; then
		expect_keys img "K1=- K3=1 K4=0"
	else
		expect_keys img "K1=- K3=2 K4=1"
	fi
	expect_healthy img
	expect_data img K4
	expect_refused "$EXIT_PASS" img vmc change-key --key-file "$WRONG" img "$K2"
	# --key-slot names the slot: K3's passphrase does not open K4's slot.
	expect_refused "$EXIT_PASS" img vmc change-key --key-file "$K3" --key-slot $((v == 2 ? 0 : 1)) \
		img "$K2"
	expect_refused "$EXIT_USAGE" img vmc change-key --key-file - img -
}

case_remove_key()
{
	local v=$1
	new_image "$v" img
	add_key img K1 K2
	add_key img K1 K3
	vmc remove-key --key-file "$K2" img
	expect_keys img "K1=0 K2=- K3=2"
	expect_refused "$EXIT_PASS" img vmc remove-key --key-file "$K2" img
	vmc remove-key --key-file "$K3" --key-slot 2 img
	expect_keys img "K1=0 K3=-"
	# The last slot: refused without --force; with it but without a terminal, the
	# confirmation needs --batch-mode.
	expect_refused "$EXIT_USAGE" img vmc remove-key --key-file "$K1" img
	grep -q 'last key slot' last.err || fail "no warning about the last key slot"
	expect_refused "$EXIT_USAGE" img vmc remove-key --force --key-file "$K1" img
	vmc remove-key --force --batch-mode --key-file "$K1" img 2>err.txt
	grep -q 'warning: removing the last key slot' err.txt || fail "no warning printed"
	expect_keys img "K1=-"
	expect_healthy img
}

case_kill_slot()
{
	local v=$1
	new_image "$v" img
	add_key img K1 K2
	add_key img K1 K3
	vmc kill-slot img 1
	expect_keys img "K1=0 K2=- K3=2"
	expect_refused "$EXIT_NOTLUKS" img vmc kill-slot img 1
	expect_refused "$EXIT_USAGE" img vmc kill-slot img 32
	expect_refused "$EXIT_USAGE" img vmc kill-slot img x
	[ "$v" = 2 ] || expect_refused "$EXIT_USAGE" img vmc kill-slot img 8
	vmc kill-slot --batch-mode img 0
	expect_keys img "K1=- K3=2"
	expect_refused "$EXIT_USAGE" img vmc kill-slot img 2
	expect_refused "$EXIT_USAGE" img vmc kill-slot --force img 2
	vmc kill-slot --force --batch-mode img 2
	expect_keys img "K3=-"
	expect_healthy img
}

case_erase()
{
	local v=$1 before
	new_image "$v" img
	add_key img K1 K2
	vmc header backup img backup.hdr
	expect_refused "$EXIT_USAGE" img vmc erase img
	vmc erase --batch-mode img
	expect_keys img "K1=- K2=-"
	expect_healthy img
	# Crypto-shred: the old key material is gone, not just unlinked: the backup
	# header, written over the erased one minus its key areas, does not open.
	"$PYTHON" -S - img backup.hdr "$v" <<'EOF'
import sys
img, bak, v = sys.argv[1], sys.argv[2], int(sys.argv[3])
hdr = 4096 if v == 1 else 2 * 16384
with open(bak, "rb") as f:
    head = f.read(hdr)
with open(img, "r+b") as f:
    f.write(head)
EOF
	before=$(sha256 img)
	expect_eq "$(cs_opens img K1)" no "erased key material"
	expect_eq "$(vmc_opens img K1)" no "erased key material"
	# The whole backup restores access (that is what a backup is for).
	vmc header restore --batch-mode img backup.hdr
	expect_keys img "K1=0 K2=1"
	expect_data img K2
}

case_header_backup_restore()
{
	local v=$1
	new_image "$v" img
	add_key img K1 K2
	vmc header backup img vmc.hdr
	cs luksHeaderBackup img --header-backup-file cs.hdr
	if [ "$v" = 2 ]; then
		expect_same vmc.hdr cs.hdr "vmcrypt and cryptsetup header backups"
	else
		# cryptsetup stops at the end of the key material (sector 4040), vmcrypt
		# at the payload (sector 4096): the bytes both hold are the same.
		expect_eq "$(sha256_range vmc.hdr 0 "$(filesize cs.hdr)")" "$(sha256 cs.hdr)" \
			"vmcrypt's LUKS1 header backup, up to the size of cryptsetup's"
	fi
	[ "$(stat -c %a vmc.hdr)" = 600 ] || fail "backup mode $(stat -c %a vmc.hdr), not 600"
	expect_refused "$EXIT_USAGE" vmc.hdr vmc header backup img vmc.hdr
	vmc kill-slot img 0
	add_key img K2 K3
	expect_keys img "K1=- K2=1 K3=0"
	vmc header restore --batch-mode img vmc.hdr
	expect_keys img "K1=0 K2=1 K3=-"
	expect_healthy img
	expect_data img K1
	# Without a terminal, the confirmation needs --batch-mode.
	expect_refused "$EXIT_USAGE" img vmc header restore img vmc.hdr
	# A detached header is backed up and restored through --header.
	vmc encrypt --type "luks$v" --header det.hdr --key-file "$K1" "${FAST_PBKDF2[@]}" \
		"$PLAIN" det.img
	vmc header backup --header det.hdr det.img det.bak
	vmc header restore --batch-mode --header det.hdr det.img det.bak
	cs open --test-passphrase --header det.hdr --key-file "$K1" det.img
}

case_repair()
{
	local v=$1 before
	new_image "$v" img
	add_key img K1 K2
	before=$(sha256 img)
	vmc repair img >report.txt
	grep -q 'nothing to repair' report.txt || fail "repair of a good header: $(cat report.txt)"
	expect_eq "$(sha256 img)" "$before" "image after repairing a good header"
	[ "$v" = 2 ] || return 0
	# Damage one copy at a time (a checksum byte): repair rewrites it from the other.
	for copy in 1 0; do
		luksmeta flip img "$copy" 450 # in the SHA-256 checksum
		vmc repair img >report.txt
		grep -q 'rewritten' report.txt || fail "repair of copy $copy: $(cat report.txt)"
		expect_healthy img
		expect_keys img "K1=0 K2=1"
	done
	expect_data img K2
}

case_config()
{
	local v=$1 uuid=0c6c9a8e-64c4-4e3e-9d3b-0d9a1c7a5e11
	new_image "$v" img
	add_key img K1 K2
	vmc config --uuid "$uuid" img
	expect_eq "$(cs luksUUID img)" "$uuid" "UUID set by vmcrypt"
	if [ "$v" = 1 ]; then
		expect_refused "$EXIT_NOTSUP" img vmc config --label x img
		expect_refused "$EXIT_NOTSUP" img vmc config --priority prefer --key-slot 1 img
		expect_keys img "K1=0 K2=1"
		expect_healthy img
		return 0
	fi
	vmc config --label "the label" --subsystem sub img
	cs luksDump img >d.txt
	expect_eq "$(luksmeta field d.txt label)" "the label" "label"
	expect_eq "$(luksmeta field d.txt subsystem)" "sub" "subsystem"
	vmc config --label "" img
	cs luksDump img >d.txt
	expect_eq "$(luksmeta field d.txt label)" "" "cleared label"
	expect_eq "$(luksmeta field d.txt subsystem)" "sub" "subsystem kept"
	vmc config --priority prefer --key-slot 1 img
	cs luksDump img | grep -q 'Priority:   preferred' || fail "no preferred slot"
	# An ignored slot opens only when named, in both tools.
	vmc config --priority ignore --key-slot 1 img
	expect_eq "$(cs_opens img K2)" no "cryptsetup, ignored slot"
	expect_eq "$(vmc_opens img K2)" no "vmcrypt, ignored slot"
	expect_eq "$(cs_opens img K2 1)" yes "cryptsetup, ignored slot named"
	expect_eq "$(vmc_opens img K2 1)" yes "vmcrypt, ignored slot named"
	vmc config --priority normal --key-slot 1 img
	expect_keys img "K1=0 K2=1"
	expect_healthy img
	expect_data img K2
	expect_refused "$EXIT_USAGE" img vmc config img
	expect_refused "$EXIT_USAGE" img vmc config --priority prefer img
	expect_refused "$EXIT_USAGE" img vmc config --priority best --key-slot 1 img
	expect_refused "$EXIT_NOTLUKS" img vmc config --priority prefer --key-slot 7 img
	expect_refused "$EXIT_USAGE" img vmc config --label "$(printf 'x%.0s' $(seq 48))" img
	expect_refused "$EXIT_USAGE" img vmc config --uuid not-a-uuid img
}

case_tokens()
{
	local v=$1
	new_image "$v" img
	add_key img K1 K2
	# In the form json-c (cryptsetup, vmcrypt) writes: no spaces, no escaped / or é.
	printf '{"type":"vmcrypt-test","keyslots":["1"],"x":{"a":[1,2,"b/c"],"s":"\303\251"}}' \
		>tok.json
	printf '{ "type" : "vmcrypt-test",\n "keyslots": [ ],"s":"\\u00e9\\/" }\n' >pretty.json
	if [ "$v" = 1 ]; then
		expect_refused "$EXIT_NOTSUP" img vmc token import --json-file tok.json img
		return 0
	fi
	vmc token import --json-file tok.json img
	vmc token import --token-id 7 img <tok.json
	cs token export --token-id 0 img >cs0.json
	cs token export --token-id 7 img >cs7.json
	vmc token export --token-id 7 img >vmc7.json
	expect_same cs0.json tok.json "token 0 as cryptsetup exports it"
	expect_same cs7.json tok.json "token 7 as cryptsetup exports it"
	expect_same vmc7.json tok.json "token 7 as vmcrypt exports it"
	# Any other form is stored as json-c writes it, as cryptsetup does.
	vmc token import --token-id 3 --json-file pretty.json img
	cs token export --token-id 3 img >cs3.json
	vmc token export --token-id 3 img >vmc3.json
	expect_same vmc3.json cs3.json "a reformatted token, exported by vmcrypt and by cryptsetup"
	cs_image 2 cs.img
	cs token import --token-id 3 --json-file pretty.json cs.img
	cs token export --token-id 3 cs.img >cs-cs3.json
	expect_same cs-cs3.json cs3.json "a reformatted token, imported by vmcrypt and by cryptsetup"
	vmc token remove --token-id 3 img
	cs luksDump img >d.txt
	expect_eq "$(luksmeta field d.txt tokens)" "0:vmcrypt-test,7:vmcrypt-test" "tokens"
	expect_healthy img
	# Other operations leave tokens alone.
	add_key img K1 K3
	vmc change-key "${FAST_PBKDF2[@]}" --key-file "$K2" img "$K4"
	vmc config --label tokens img
	vmc token export --token-id 0 img >after.json
	expect_same after.json tok.json "token 0 after other header updates"
	vmc token remove --token-id 0 img
	expect_exit 1 cs token export --token-id 0 img
	expect_refused "$EXIT_NOTLUKS" img vmc token export --token-id 0 img
	expect_refused "$EXIT_NOTLUKS" img vmc token remove --token-id 0 img
	expect_refused "$EXIT_USAGE" img vmc token export img
	expect_refused "$EXIT_USAGE" img vmc token import --token-id 7 --json-file tok.json img
	printf '{"type":' >bad.json
	expect_refused "$EXIT_USAGE" img vmc token import --json-file bad.json img
	printf '{"keyslots":[]}' >bad.json
	expect_refused "$EXIT_USAGE" img vmc token import --json-file bad.json img
	expect_keys img "K1=0 K3=2 K4=1"
	expect_healthy img
	expect_data img K4
}

# Removing a key slot that a token names drops it from the token's list, as
# cryptsetup does (its validator rejects a token naming a missing key slot).
case_token_slot_removed()
{
	new_image 2 img
	add_key img K1 K2
	add_key img K1 K3
	printf '{"type":"vmcrypt-test","keyslots":["1","2"]}' >tok.json
	vmc token import --json-file tok.json img
	vmc kill-slot img 1
	expect_healthy img
	expect_eq "$(cs token export --token-id 0 img)" \
		'{"type":"vmcrypt-test","keyslots":["2"]}' "token after kill-slot"
	vmc remove-key --key-file "$K3" img
	expect_healthy img
	printf '{"type":"vmcrypt-test","keyslots":["0"]}' >tok0.json
	vmc token import --token-id 1 --json-file tok0.json img
	vmc erase --batch-mode img
	expect_healthy img
	expect_eq "$(cs token export --token-id 1 img)" '{"type":"vmcrypt-test","keyslots":[]}' \
		"token after erase"
}

case_convert()
{
	local v=$1 to
	to=$((3 - v))
	vmc encrypt --type "luks$v" --sector-size 512 --key-file "$K1" "${FAST_PBKDF2[@]}" \
		"$PLAIN" img
	add_key img K1 K2 --key-slot 3
	expect_refused "$EXIT_USAGE" img vmc convert --batch-mode img
	expect_refused "$EXIT_USAGE" img vmc convert --batch-mode --type "luks$v" img
	expect_refused "$EXIT_USAGE" img vmc convert --type "luks$to" img
	vmc convert --batch-mode --type "luks$to" img
	cs luksDump img >d.txt
	expect_eq "$(luksmeta field d.txt version)" "$to" "version after convert"
	expect_keys img "K1=0 K2=3"
	expect_healthy img
	expect_data img K2
	[ ! -e img.vmcrypt-convert ] || fail "the conversion journal was left behind"
	# And back, after a change made in the new format.
	vmc change-key "${FAST_PBKDF2[@]}" --key-file "$K2" img "$K3"
	vmc convert --batch-mode --type "luks$v" img
	cs luksDump img >d.txt
	expect_eq "$(luksmeta field d.txt version)" "$v" "version after converting back"
	if [ "$v" = 1 ]; then
		expect_keys img "K1=0 K3=3"
	else
		expect_keys img "K1=0 K3=1"
	fi
	expect_healthy img
	expect_data img K3
	# What LUKS1 cannot express is refused, and the image is left alone.
	if [ "$v" = 2 ]; then
		new_image 2 big # 4096-byte sectors
		expect_refused "$EXIT_NOTSUP" big vmc convert --batch-mode --type luks1 big
		vmc encrypt --sector-size 512 --key-file "$K1" "${FAST_ARGON2ID[@]}" "$PLAIN" argon
		expect_refused "$EXIT_NOTSUP" argon vmc convert --batch-mode --type luks1 argon
	fi
}

# QEMU's LUKS1 layout (payload right after the key material, sector 4040 for a
# 512-bit key), which cryptsetup convert rejects: to LUKS2 and back, for QEMU.
case_convert_qemu()
{
	requires qemu-img
	qemu_luks_create "$PLAIN" img "$K1"
	cs luksDump img >d.txt
	[ "$(luksmeta field d.txt data_offset)" -lt 2097152 ] ||
		fail "qemu-img no longer makes its compact layout"
	vmc add-key "${FAST_PBKDF2[@]}" --key-file "$K1" img "$K4" # QEMU secrets are UTF-8
	vmc convert --batch-mode --type luks2 img
	cs luksDump img >d.txt
	expect_eq "$(luksmeta field d.txt version)" 2 "version"
	expect_keys img "K1=0 K4=1"
	expect_healthy img
	expect_data img K1
	vmc convert --batch-mode --type luks1 img
	expect_keys img "K1=0 K4=1"
	expect_healthy img
	qemu_luks_read img "$K4" back.raw
	expect_eq "$(sha256_range back.raw 0 "$(filesize "$PLAIN")")" "$PLAIN_SHA" \
		"plaintext as QEMU reads it after the round trip"
}

for v in 1 2; do
	run_case "add-key LUKS$v" case_add_key "$v"
	run_case "change-key LUKS$v" case_change_key "$v"
	run_case "remove-key LUKS$v" case_remove_key "$v"
	run_case "kill-slot LUKS$v" case_kill_slot "$v"
	run_case "erase LUKS$v" case_erase "$v"
	run_case "header backup/restore LUKS$v" case_header_backup_restore "$v"
	run_case "repair LUKS$v" case_repair "$v"
	run_case "config LUKS$v" case_config "$v"
	run_case "token import/export/remove LUKS$v" case_tokens "$v"
	run_case "convert from LUKS$v" case_convert "$v"
done
run_case "convert QEMU's LUKS1 layout to LUKS2 and back" case_convert_qemu
run_case "key slot removal updates tokens LUKS2" case_token_slot_removed
finish
