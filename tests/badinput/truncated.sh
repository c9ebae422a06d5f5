#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad-input matrix: images cut at every boundary of the format, for LUKS2 and LUKS1
# (cryptsetup's images): inside the binary header, inside the JSON text and the JSON
# area, between and inside the metadata copies, inside the keyslot material, at and
# around the data offset, inside the first data sector. Every read verb (dump, dump
# --json, test-key, decrypt) must give the documented status for what is missing,
# one error line, no crash, and leave the file as it was.
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${BADINPUT_DIR:-$(dirname "$0")}/common.sh"
requires cryptsetup

# cut ORIG SIZE WHAT HEADER_CODES KEY_CODES DATA_CODES
#   HEADER_CODES for dump and dump --json, KEY_CODES for test-key, DATA_CODES for decrypt.
cut_at()
{
	local orig=$1 size=$2 what=$3 hc=$4 kc=$5 dc=$6
	head -c "$size" "$orig" >t.img
	what="$what (cut at $size bytes)"
	attempt "$hc" t.img "$what: dump" vmc dump t.img
	attempt "$hc" t.img "$what: dump --json" vmc dump --json t.img
	attempt "$kc" t.img "$what: test-key" vmc test-key t.img --key-file "$PASS"
	rm -f out.raw
	attempt "$dc" t.img "$what: decrypt" vmc decrypt t.img out.raw --key-file "$PASS"
	if [ "$dc" != 0 ] && [ -s out.raw ]; then bad "$what" "decrypt failed but left output"; fi
	rm -f out.raw
}

case_luks2()
{
	local h js ks a0 a0e d ss
	cs_luks2 orig.img "$@"
	h=$(hdrtool fact orig.img hdr_size)
	js=$(hdrtool fact orig.img json_end)
	ks=$(hdrtool fact orig.img keyslots_end)
	a0=$(hdrtool fact orig.img area0)
	a0e=$(hdrtool fact orig.img area0_end)
	d=$(hdrtool fact orig.img data_offset)
	ss=$(hdrtool fact orig.img sector_size)
	echo "layout: metadata copies of $h bytes, JSON ends at $js, keyslot 0 at $a0..$a0e," \
		"keyslots end $ks, data at $d, sector $ss"
	# Nothing, or less than a binary header: not LUKS (no magic) or a broken one.
	cut_at orig.img 0 "empty" 4 4 4
	for n in 1 5 6 8 255 448 4095; do
		cut_at orig.img "$n" "inside the primary binary header" 4 4 4
	done
	# Binary header complete, JSON incomplete; no secondary copy.
	for n in 4096 4097 $(((4096 + js) / 2)) $((js - 1)) "$js" $((h - 1)); do
		cut_at orig.img "$n" "inside the primary JSON area" 6 6 6
	done
	# Primary complete, the file ends before the keyslots area does: as for cryptsetup
	# ("device too small"), the metadata and keyslots areas must fit the file.
	for n in "$h" $((h + 1)) $((h + 4096)) $((2 * h - 1)); do
		cut_at orig.img "$n" "inside the secondary copy" 6 6 6
	done
	for n in $((2 * h)) "$a0" $((a0 + 1)) $(((a0 + a0e) / 2)) $((a0e - 1)); do
		cut_at orig.img "$n" "inside keyslot 0's material" 6 6 6
	done
	for n in "$a0e" $((ks - 1)); do
		cut_at orig.img "$n" "inside the keyslots area" 6 6 6
	done
	# Keyslots area complete, the file ends before the data offset: the header is
	# fine, the image is not (the data segment starts beyond its end).
	if [ "$d" -gt "$ks" ]; then
		cut_at orig.img $((d - 1)) "file ends before the data offset" 0 0 6
	fi
	# No data, or less than one sector of it: opens, nothing to read.
	for n in "$d" $((d + 1)) $((d + ss - 1)); do
		cut_at orig.img "$n" "data area empty or shorter than a sector" 0 0 0
	done
	# Inside the data: a shorter volume (dynamic size), with a partial last sector.
	for n in $((d + ss + 1)) $((d + 3 * ss + 100)); do
		cut_at orig.img "$n" "inside the data" 0 0 0
	done
}

case_luks1()
{
	local p m
	cs_luks1 orig.img "$@"
	p=$(($(cs luksDump orig.img | sed -n 's/^Payload offset:\s*//p') * 512))
	# Keyslot 0's AF material: key bytes * 4000 stripes in whole sectors, from sector 8.
	m=$(cs luksDump orig.img | sed -n 's/^MK bits:\s*//p')
	m=$(((m * 500 + 511) / 512 * 512)) # bits / 8 * 4000
	cut_at orig.img 0 "empty" 4 4 4
	for n in 1 6 7 104 300 591; do
		cut_at orig.img "$n" "inside the LUKS1 header" 4 4 4
	done
	# Header complete, key material of the active slot cut: LUKS1 checks the slot
	# against the device size.
	for n in 592 593 4095 4096 4097 $((4096 + m / 2)) $((4096 + m - 1)); do
		cut_at orig.img "$n" "inside keyslot 0's material" 6 6 6
	done
	# test-key needs the keyslots only (cryptsetup open --test-passphrase likewise).
	cut_at orig.img $((p - 1)) "file ends before the data offset" 0 0 6
	for n in "$p" $((p + 1)) $((p + 511)); do
		cut_at orig.img "$n" "data area empty or shorter than a sector" 0 0 0
	done
	cut_at orig.img $((p + 4 * 512 + 7)) "inside the data" 0 0 0
}

run_case "luks2 (default: 4096-byte sectors)" case_luks2
run_case "luks2 aes-cbc-essiv 512-byte sectors, 64 KiB metadata" case_luks2 \
	--cipher aes-cbc-essiv:sha256 --key-size 256 --sector-size 512 --luks2-metadata-size 64k
run_case "luks1 aes-xts-plain64" case_luks1
run_case "luks1 aes-cbc-essiv:sha256" case_luks1 --cipher aes-cbc-essiv:sha256 --key-size 256
finish_matrix
