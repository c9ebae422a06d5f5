#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Self-test of the dm-crypt guest harness, with no vmcrypt involved: images formatted by the
# host's cryptsetup, plaintext written by the guest's dm-crypt and read back in the same
# boot; then a boot whose jobs must fail (wrong key, wrong sha256, wrong input size).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "$(dirname "${BASH_SOURCE[0]}")/functions.sh"

requires cryptsetup

plain=$scratch/plain.raw
make_plain "$plain" "$plain_bytes"

# The configurations the host's cryptsetup can format (AES: the others need dm-crypt).
host_configs=()
for name in "${vm_configs[@]}"; do
	! config_host_formats "$name" || host_configs+=("$name")
done

jobs=$scratch/jobs
: >"$jobs"
for name in "${host_configs[@]}"; do
	img=$scratch/$name.img
	hdr=$(config_header "$name" "$scratch")
	format_cryptsetup "$name" "$img" "$hdr" "$plain_bytes"
	[ "$(luks_data_size "$img" "$hdr")" = "$plain_bytes" ] ||
		fail "$name: data segment is $(luks_data_size "$img" "$hdr") bytes, wanted $plain_bytes"
	echo "$img --key-file $key ${hdr:+--header $hdr} --write $plain" >>"$jobs"
	echo "$img --key-file $key ${hdr:+--header $hdr} --expect-plain $plain" >>"$jobs"
done
run_check --batch "$jobs"

# The guest must have written ciphertext, not the plaintext, into each data area.
for name in "${host_configs[@]}"; do
	img=$scratch/$name.img
	hdr=$(config_header "$name" "$scratch")
	if cmp -s <(data_area "$img" "$hdr") "$plain"; then
		fail "$name: the data area holds the plaintext"
	fi
	if cmp -s <(data_area "$img" "$hdr" | head -c 1048576) <(head -c 1048576 /dev/zero); then
		fail "$name: the guest wrote nothing"
	fi
done

# Failures must be reported as failures.
printf 'not the passphrase' >"$scratch/wrong-key"
short=$scratch/short.raw
make_plain "$short" 1048576
img=$scratch/luks2-xts-4096.img
out=$scratch/negative.out
rc=0
"$dmcrypt_check" --job "$img --key-file $scratch/wrong-key --expect-plain $plain" \
	--job "$img --key-file $key --expect-sha256 $(printf '0%.0s' {1..64})" \
	--job "$img --key-file $key --write $short" \
	--job "$img --key-file $key --expect-plain $plain" >"$out" 2>&1 || rc=$?
cat "$out"
[ "$rc" != 77 ] || skip "$(sed -n 's/^dmcrypt-check: SKIP: //p' "$out" | tail -n 1)"
[ "$rc" = 1 ] || fail "dmcrypt-check with failing jobs exited $rc, wanted 1"
grep -q '^dmcrypt-check: FAIL job 1 .*cryptsetup open failed' "$out" || fail "wrong key not reported"
grep -q '^dmcrypt-check: FAIL job 2 .*expected sha256 0\{64\}' "$out" || fail "wrong sha256 not reported"
grep -q "^dmcrypt-check: FAIL job 3 .*input has 1048576 bytes, device has $plain_bytes" "$out" ||
	fail "wrong input size not reported"
grep -q '^dmcrypt-check: PASS job 4 ' "$out" || fail "the image changed after a refused write"
echo "PASS"
