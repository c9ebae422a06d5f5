#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt writes, dm-crypt reads: `vmcrypt encrypt` turns random plaintext into a LUKS image
# for each configuration; the guest's dm-crypt must read back the same sha256 and size.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires_vmcrypt

plain=$scratch/plain.raw
make_plain "$plain" "$plain_bytes"

jobs=$scratch/jobs
: >"$jobs"
for name in "${vm_configs[@]}"; do
	img=$scratch/$name.img
	hdr=$(config_header "$name" "$scratch")
	read -ra opts <<<"$(config_opts "$name")"
	[ -z "$hdr" ] || opts+=(--header "$hdr")
	"$VMCRYPT" encrypt "$plain" "$img" "${opts[@]}" --key-file "$key" --batch-mode ||
		fail "$name: vmcrypt encrypt ${opts[*]} failed"
	echo "$img --key-file $key ${hdr:+--header $hdr} --expect-plain $plain" >>"$jobs"
done
run_check --batch "$jobs"
echo "PASS"
