#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Re-keying a thin image: vmcrypt rekey on a thin LUKS2 image, cryptsetup reencrypt
# (offline, same resilience) on the same image, and vmcrypt rekey on a fully allocated
# copy of it, side by side in one run: seconds, du of the image after, and the ratios.
# The image's data is random ciphertext written in 24 stretches spread over the device
# (what a guest's file system leaves); the rest are holes. Each tool starts from its own
# copy of the same image, read into the page cache, and its timing ends with the image
# synced to disk.
# Usage: bench/thin.sh [SIZE_GIB] [DATA_MIB] [RUNS] [RESILIENCE]
#        (defaults: 16 GiB holding 1536 MiB, 1 run, checksum; medians over the runs)
# Environment: VMCRYPT (default build/cli/vmcrypt), BENCH_DIR (default a new directory
# in /var/tmp: a real disk, not a tmpfs; it needs room for SIZE_GIB + 2 * DATA_MIB).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
size_gib=${1:-16}
data_mib=${2:-1536}
runs=${3:-1}
resilience=${4:-checksum}
bench_dir
need_tools "$vmcrypt" cryptsetup /usr/bin/time
kdf=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)

cd "$dir"
printf 'bench key one' >k1
printf 'bench key two' >k2
echo "bench: a thin ${size_gib} GiB LUKS2 image holding ${data_mib} MiB in $dir"
"$vmcrypt" create base.img --size "${size_gib}G" --key-file k1 --batch-mode "${kdf[@]}"
offset=$("$vmcrypt" dump base.img | awk '/offset:/ {print $2; exit}')
pieces=24
piece=$((data_mib / pieces))
stride=$((size_gib * 1024 / pieces))
for ((p = 0; p < pieces; p++)); do
	head -c $((piece * 1024 * 1024)) /dev/urandom |
		dd of=base.img bs=1M seek=$((offset / 1048576 + p * stride)) conv=notrunc status=none
done
sync -d base.img
du_k() { du -k "$1" | cut -f1; }
echo "bench: du of the image: $(($(du_k base.img) / 1024)) MiB"

# measure NAME IMG CMD...: times CMD (then fdatasync of IMG) under /usr/bin/time -v on a
# fresh copy IMG of base.img; appends "seconds du_mib" to results/NAME.
measure()
{
	local name=$1 img=$2 sparse=always
	shift 2
	[ "$name" != full ] || sparse=never
	rm -f "$img"
	cp --sparse=$sparse base.img "$img"
	mkdir -p results
	cat "$img" >/dev/null
	sync
	time_v "$name" "$img" "$@"
	echo "$(time_v_fields | cut -d' ' -f1) $(($(du_k "$img") / 1024))" >>"results/$name"
	"$vmcrypt" test-key "$img" --key-file k2 >/dev/null 2>&1 ||
		"$vmcrypt" test-key "$img" --key-file k1 >/dev/null ||
		{ echo "bench: $name: the image no longer opens" >&2; exit 1; }
	rm -f "$img"
}


for ((i = 1; i <= runs; i++)); do
	echo "bench: run $i of $runs"
	measure thin t.img "$vmcrypt" rekey t.img --key-file k1 --new-key-file k2 \
		--resilience "$resilience" --batch-mode "${kdf[@]}"
	measure cryptsetup t.img cryptsetup reencrypt --force-offline-reencrypt --disable-locks \
		--batch-mode --resilience "$resilience" --key-file k1 "${kdf[@]}" t.img
	measure full t.img "$vmcrypt" rekey t.img --key-file k1 --new-key-file k2 \
		--resilience "$resilience" --batch-mode "${kdf[@]}"
done

echo
echo "median of $runs run(s), ${size_gib} GiB holding ${data_mib} MiB (du before:" \
	"$(($(du_k base.img) / 1024)) MiB), resilience $resilience, $(nproc) CPUs;" \
	"$("$vmcrypt" --version), $(cryptsetup --version | cut -d' ' -f1-2)"
printf '%-44s %10s %12s\n' "" "seconds" "du after MiB"
declare -A secs
for name in thin cryptsetup full; do
	secs[$name]=$(median_col "results/$name" 1)
	case $name in
	thin) label="vmcrypt rekey, thin image" ;;
	cryptsetup) label="cryptsetup reencrypt (offline), thin image" ;;
	full) label="vmcrypt rekey, fully allocated copy" ;;
	esac
	printf '%-44s %10s %12s\n' "$label" "${secs[$name]}" "$(median_col "results/$name" 2)"
done
echo
echo "vmcrypt (thin) against cryptsetup:    $(ratio "${secs[cryptsetup]}" "${secs[thin]}" 1)x faster   (goal: >= 8)"
echo "vmcrypt (thin) against vmcrypt (full): $(ratio "${secs[full]}" "${secs[thin]}" 1)x faster"
