#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The same keyslot and header operations done by cryptsetup, understood by vmcrypt:
# test-key per slot, dump, data, tokens byte for byte, header backups both ways.
. "$(dirname "$0")/lib.sh"

cs_add()
{
	local img=$1 old=$2 new=$3
	shift 3
	cs luksAddKey -q "${FAST_PBKDF2[@]}" --key-file "${!old}" "$@" "$img" "${!new}"
}

# vmcrypt reads what cryptsetup wrote: dump facts agree with cryptsetup's.
expect_same_dump()
{
	cs luksDump "$1" >cs.dump
	vmc dump "$1" >vmc.dump
	luksmeta compare cs.dump vmc.dump || fail "vmcrypt dump disagrees with cryptsetup luksDump"
}

case_keyslots()
{
	local v=$1 k4slot s
	new_image "$v" img
	cs_add img K1 K2
	cs_add img K2 K3 --key-slot 5
	expect_keys img "K1=0 K2=1 K3=5"
	expect_same_dump img
	cs luksChangeKey -q "${FAST_PBKDF2[@]}" --key-file "$K2" img "$K4"
	cs luksRemoveKey -q img "$K3"
	# cryptsetup may move a LUKS1 passphrase on luksChangeKey: ask it where K4 went.
	k4slot=$(for s in $(active_slots img | tr , ' '); do
		[ "$(cs_opens img K4 "$s")" = yes ] && echo "$s"
	done)
	expect_keys img "K1=0 K2=- K3=- K4=$k4slot"
	expect_data img K4
	cs luksKillSlot -q img 0
	expect_keys img "K1=- K4=$k4slot"
	expect_same_dump img
	# vmcrypt keeps working on it.
	add_key img K4 K1
	expect_keys img "K1=0 K4=$k4slot"
	cs luksErase -q img
	expect_keys img "K1=- K4=-"
	expect_same_dump img
}

case_header_backup()
{
	local v=$1
	new_image "$v" img
	cs_add img K1 K2
	cs luksHeaderBackup img --header-backup-file cs.hdr
	vmc header backup img vmc.hdr
	cs luksKillSlot -q img 0
	cs_add img K2 K3
	expect_keys img "K1=- K2=1 K3=0"
	# cryptsetup's backup, restored by vmcrypt.
	vmc header restore --batch-mode img cs.hdr
	expect_keys img "K1=0 K2=1 K3=-"
	expect_healthy img
	expect_data img K1
	# vmcrypt's backup, restored by cryptsetup.
	cs luksKillSlot -q img 1
	cs luksHeaderRestore -q img --header-backup-file vmc.hdr
	expect_keys img "K1=0 K2=1"
	expect_healthy img
	expect_data img K2
}

case_config()
{
	local v=$1
	[ "$v" = 2 ] || return 0
	new_image 2 img
	cs_add img K1 K2
	cs config img --label "cs label" --subsystem "cs sub"
	cs config img --priority prefer --key-slot 1
	vmc dump img >d.txt
	expect_eq "$(luksmeta field d.txt label)" "cs label" "label as vmcrypt reads it"
	expect_eq "$(luksmeta field d.txt subsystem)" "cs sub" "subsystem as vmcrypt reads it"
	grep -q 'Priority:   preferred' d.txt || fail "vmcrypt dump lacks the preferred slot"
	cs config img --priority ignore --key-slot 1
	expect_eq "$(vmc_opens img K2)" no "vmcrypt, slot ignored by cryptsetup config"
	expect_eq "$(vmc_opens img K2 1)" yes "vmcrypt, ignored slot named"
	expect_same_dump img
	# cryptsetup's own UUID change.
	cs luksUUID -q --uuid 5a1e0c2d-7d2b-4c43-8f40-2e3b1f6a9c77 img
	vmc dump img >d.txt
	expect_eq "$(luksmeta field d.txt uuid)" 5a1e0c2d-7d2b-4c43-8f40-2e3b1f6a9c77 "UUID"
}

case_tokens()
{
	local v=$1
	[ "$v" = 2 ] || return 0
	cs_image 2 img
	printf '{"type":"cs-token","keyslots":["0"],"data":{"k":"v/w","n":[1,{"x":null}]}}' \
		>tok.json
	cs token import --json-file tok.json img
	cs token import --json-file tok.json --token-id 9 img
	vmc token export --token-id 0 img >vmc0.json
	vmc token export --token-id 9 img >vmc9.json
	expect_same vmc0.json tok.json "cryptsetup's token 0 as vmcrypt exports it"
	expect_same vmc9.json tok.json "cryptsetup's token 9 as vmcrypt exports it"
	vmc dump img >d.txt
	expect_eq "$(luksmeta field d.txt tokens)" "0:cs-token,9:cs-token" "tokens in vmcrypt dump"
	# vmcrypt header updates keep cryptsetup's tokens byte for byte.
	add_key img K1 K2
	vmc config --label x img
	cs token export --token-id 9 img >cs9.json
	expect_same cs9.json tok.json "token 9 after vmcrypt header updates"
	cs token remove --token-id 9 img
	expect_refused "$EXIT_NOTLUKS" img vmc token export --token-id 9 img
	expect_healthy img
}

case_convert()
{
	local v=$1 to
	to=$((3 - v))
	# cryptsetup converts to LUKS1 only with 512-byte sectors.
	vmc encrypt --type "luks$v" --sector-size 512 --key-file "$K1" "${FAST_PBKDF2[@]}" \
		"$PLAIN" img
	cs_add img K1 K2 --key-slot 3
	cs convert -q --type "luks$to" img
	expect_keys img "K1=0 K2=3"
	expect_same_dump img
	expect_data img K2
	add_key img K2 K3
	vmc kill-slot img 0
	expect_keys img "K1=- K2=3 K3=1"
	cs convert -q --type "luks$v" img
	expect_keys img "K1=- K2=3 K3=1"
	expect_data img K3
}

for v in 1 2; do
	run_case "cryptsetup luksAddKey/ChangeKey/RemoveKey/KillSlot/Erase LUKS$v" case_keyslots "$v"
	run_case "cryptsetup luksHeaderBackup/Restore LUKS$v" case_header_backup "$v"
	run_case "cryptsetup convert from LUKS$v" case_convert "$v"
done
run_case "cryptsetup config --label/--priority, luksUUID" case_config 2
run_case "cryptsetup token import/remove" case_tokens 2
finish
