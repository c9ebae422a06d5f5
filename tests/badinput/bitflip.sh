#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad-input matrix: one flipped bit in each field of the LUKS1 header (and its keyslots),
# and in each field of the LUKS2 binary header - in the primary copy, the secondary, and
# both; as it lands (the checksum no longer matches) and with the checksum recomputed
# (so the field's meaning is what is wrong). Numbers get their lowest bit flipped (an
# iteration count must not become two billion), strings their first byte.
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${BADINPUT_DIR:-$(dirname "$0")}/common.sh"
requires cryptsetup

# verbs IMG WHAT DUMP_CODES KEY_CODES [DECRYPT_CODES]: the read verbs on a damaged image.
verbs()
{
	local img=$1 what=$2 dc=$3 kc=$4 xc=${5:-$4}
	attempt "$dc" "$img" "$what: dump" vmc dump "$img"
	attempt "$dc" "$img" "$what: dump --json" vmc dump --json "$img"
	attempt "$kc" "$img" "$what: test-key" vmc test-key "$img" --key-file "$PASS"
	rm -f out.raw
	attempt "$xc" "$img" "$what: decrypt" vmc decrypt "$img" out.raw --key-file "$PASS"
	if [ "$xc" != 0 ] && [ -s out.raw ]; then bad "$what" "decrypt failed but left output"; fi
	rm -f out.raw
}

# expect_warning WHAT: the last attempt succeeded but must have said a copy is damaged.
expect_warning()
{
	grep -q 'warning' a.err || bad "$1" "a damaged header copy was used without a warning"
}

case_luks1()
{
	local f off bit dc kc xc what
	cs_luks1 orig.img
	cs luksAddKey --batch-mode "${FAST_PBKDF2[@]}" --key-file "$PASS" orig.img "$PASS2"
	cs luksKillSlot --batch-mode orig.img 1 # slot 1 now disabled, slot 0 active
	# field offset bit dump test-key decrypt (expected statuses, a comma between several).
	# As cryptsetup: LUKS magic with version 0 is an unsupported version (7); a slot whose
	# state is neither enabled nor disabled is inactive; every slot needs 4000 stripes.
	while read -r f off bit dc kc xc; do
		[ -n "$f" ] || continue
		cp orig.img img
		hdrtool l1flip img "$off" "$bit"
		verbs img "LUKS1 $f (byte $off bit $bit)" "${dc//,/ }" "${kc//,/ }" "${xc//,/ }"
	done <<'FIELDS'
magic                 0   0 4 4 4
version               7   0 7 7 7
cipher-name           8   0 0 7 7
cipher-mode           40  0 0 7 7
hash-spec             72  0 7 7 7
payload-offset        107 0 0 0 0
key-bytes             111 0 6 6 6
mk-digest             112 0 0 2 2
mk-digest-end         131 7 0 2 2
mk-salt               132 0 0 2 2
mk-iterations         167 0 0 2 2
uuid                  168 0 0 0 0
slot0-active          211 0 0 4 4
slot0-iterations      215 0 0 2 2
slot0-salt            216 0 0 2 2
slot0-material-offset 251 0 0 2 2
slot0-stripes         255 0 6 6 6
slot1-disabled-state  259 0 0 0 0
slot1-material-offset 299 0 0 0 0
slot1-stripes         303 0 6 6 6
slot7-disabled-state  547 0 0 0 0
FIELDS
	# The key material and the data themselves.
	cp orig.img img
	hdrtool l1flip img 5000 3
	verbs img "LUKS1 keyslot 0 key material" 0 2 2
	cp orig.img img
	hdrtool l1flip img $((4096 * 512 + 100)) 3
	verbs img "LUKS1 first data sector" 0 0 0
}

# LUKS2 binary header fields: name offset bit.
L2_FIELDS="magic:0:0 version:7:0 hdr_size:15:0 hdr_size-high:8:6 seqid:23:0 label:24:0
checksum_alg:77:0 salt:104:0 uuid:168:0 subsystem:208:0 hdr_offset:263:0 padding:300:0
checksum:448:0 checksum-end:479:7 padding2:1000:0 json:4100:0"

case_luks2_raw()
{
	local fl name off bit codes
	cs_luks2 orig.img
	for fl in $L2_FIELDS; do
		IFS=: read -r name off bit <<<"$fl"
		# Checksum not recomputed: that copy is invalid, the other one is used.
		cp orig.img img
		hdrtool flip img 0 "$off" "$bit" --raw
		if [ "$name" = version ]; then
			# LUKS magic with version 3: cryptsetup stops there (unsupported version).
			verbs img "LUKS2 primary $name (bit $bit), checksum stale" 7 7 7
		else
			verbs img "LUKS2 primary $name (bit $bit), checksum stale" 0 0 0
			expect_warning "LUKS2 primary $name"
		fi
		cp orig.img img
		hdrtool flip img 1 "$off" "$bit" --raw
		verbs img "LUKS2 secondary $name (bit $bit), checksum stale" 0 0 0
		expect_warning "LUKS2 secondary $name"
		cp orig.img img
		hdrtool flip img 0 "$off" "$bit" --raw
		hdrtool flip img 1 "$off" "$bit" --raw
		# Both magics (or versions) gone: nothing says LUKS2 any more.
		codes=6
		case $name in magic) codes=4 ;; version) codes=7 ;; esac
		verbs img "LUKS2 both copies $name (bit $bit), checksum stale" "$codes" "$codes"
	done
}

case_luks2_fixed()
{
	local fl name off bit codes
	cs_luks2 orig.img
	for fl in $L2_FIELDS; do
		IFS=: read -r name off bit <<<"$fl"
		case $name in checksum*) continue ;; esac
		# Checksum recomputed, in both copies: the field's value is what is wrong.
		cp orig.img img
		hdrtool flip img 0 "$off" "$bit"
		hdrtool flip img 1 "$off" "$bit"
		case $name in
		magic) codes="4 4" ;;
		version) codes="7 7" ;; # LUKS magic, version 3
		hdr_size* | checksum_alg | hdr_offset) codes="6 6" ;;
		json) codes="6 6" ;; # a JSON syntax error
		*) codes="0 0" ;;    # seqid, label, salt, uuid, subsystem, padding: informational
		esac
		# shellcheck disable=SC2086 # two codes
		verbs img "LUKS2 both copies $name (bit $bit), checksum recomputed" $codes
		# Only in the secondary: the primary is still valid (a newer seqid wins).
		cp orig.img img
		hdrtool flip img 1 "$off" "$bit"
		verbs img "LUKS2 secondary $name (bit $bit), checksum recomputed" 0 0
	done
}

run_case "luks1 header fields" case_luks1
run_case "luks2 binary header fields, checksum stale" case_luks2_raw
run_case "luks2 binary header fields, checksum recomputed" case_luks2_fixed
finish_matrix
