#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# dm-crypt writes, vmcrypt reads: for each configuration, one image formatted by the host's
# cryptsetup and one made by `vmcrypt create`; the guest's dm-crypt writes random plaintext
# into each, then `vmcrypt decrypt` must give back the same bytes. (Serpent, Twofish and
# Camellia images come from vmcrypt only: the host's cryptsetup cannot format them without
# device-mapper.)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_vmcrypt
requires cryptsetup

jobs=$scratch/jobs
: >"$jobs"
images=()
for name in "${vm_configs[@]}"; do
	read -ra opts <<<"$(config_opts "$name")"
	makers=(vmcrypt)
	! config_host_formats "$name" || makers=(cryptsetup vmcrypt)
	for maker in "${makers[@]}"; do
		img=$scratch/$maker-$name.img
		hdr=$(config_header "$maker-$name" "$scratch")
		case $maker in
		cryptsetup)
			format_cryptsetup "$name" "$img" "$hdr" "$plain_bytes"
			;;
		vmcrypt)
			"$VMCRYPT" create "$img" --size "$plain_bytes" "${opts[@]}" \
				${hdr:+--header "$hdr"} --key-file "$key" --batch-mode ||
				fail "$name: vmcrypt create --size $plain_bytes ${opts[*]} failed"
			;;
		esac
		# --size is the plaintext size: the data segment, as cryptsetup sees it, has it.
		bytes=$(luks_data_size "$img" "$hdr")
		[ "$bytes" = "$plain_bytes" ] ||
			fail "$maker $name: data segment is $bytes bytes, asked for $plain_bytes"
		make_plain "$img.plain" "$bytes"
		echo "$img --key-file $key ${hdr:+--header $hdr} --write $img.plain" >>"$jobs"
		images+=("$img")
	done
done
run_check --batch "$jobs"

for img in "${images[@]}"; do
	base=$(basename "$img" .img)
	hdr=$(config_header "$base" "$scratch")
	"$VMCRYPT" decrypt "$img" "$img.out" --key-file "$key" ${hdr:+--header "$hdr"} ||
		fail "$base: vmcrypt decrypt failed"
	cmp "$img.plain" "$img.out" || fail "$base: vmcrypt decrypt differs from what dm-crypt wrote"
	echo "ok $base: vmcrypt decrypt gives back what dm-crypt wrote"
	rm -f "$img.out"
done
echo "PASS"
