#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt rekey against cryptsetup reencrypt (offline, same resilience mode) and a plain
# cp + fdatasync of the same image, side by side in one run: MiB/s, CPU seconds, peak
# RSS and the ratios. Each timing ends with the image (or the copy) synced to disk; the
# image is read into the page cache before each, so every tool starts from the same state.
# Both re-encryptions use their default hotzones and a fast PBKDF2 (the KDF is not
# what is measured).
# Usage: bench/rekey.sh [SIZE_MIB] [RUNS] [RESILIENCE]
#        (defaults: 4096 MiB, 1 run, checksum; medians over the runs)
# Environment: VMCRYPT (default build/cli/vmcrypt), BENCH_DIR (default a new directory
# in /var/tmp: a real disk, not a tmpfs).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
size_mib=${1:-4096}
runs=${2:-1}
resilience=${3:-checksum}
bench_dir
need_tools "$vmcrypt" cryptsetup /usr/bin/time
kdf=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)

cd "$dir"
printf 'bench key one' >k1
printf 'bench key two' >k2
echo "bench: a ${size_mib} MiB LUKS2 image (data filled with random bytes) in $dir"
"$vmcrypt" create img --size "${size_mib}M" --key-file k1 --batch-mode "${kdf[@]}"
# Random ciphertext over the whole data segment: no holes, every byte is real work.
offset=$("$vmcrypt" dump img | awk '/offset:/ {print $2; exit}')
head -c $((size_mib * 1024 * 1024)) /dev/urandom |
	dd of=img bs=1M seek=$((offset / 1048576)) conv=notrunc status=none
sync -d img

# measure NAME FILE CMD...: runs CMD under /usr/bin/time -v, then fdatasyncs FILE inside
# the timing; appends "seconds cpu_seconds max_rss_kib" to results/NAME.
measure()
{
	local name=$1 file=$2
	shift 2
	mkdir -p results
	cat img >/dev/null
	sync
	time_v "$name" "$file" "$@"
	time_v_fields >>"results/$name"
}

old=k1 new=k2
for ((i = 1; i <= runs; i++)); do
	echo "bench: run $i of $runs"
	measure vmcrypt img "$vmcrypt" rekey img --key-file "$old" --new-key-file "$new" \
		--resilience "$resilience" --batch-mode "${kdf[@]}"
	# cryptsetup keeps the passphrase (it re-wraps the key slot).
	measure cryptsetup img cryptsetup reencrypt --force-offline-reencrypt --disable-locks \
		--batch-mode --resilience "$resilience" --key-file "$new" "${kdf[@]}" img
	rm -f copy.raw
	measure cp copy.raw cp --sparse=never img copy.raw
	rm -f copy.raw
	tmp=$old old=$new new=$tmp
done
"$vmcrypt" test-key img --key-file "$old" || { echo "bench: the image no longer opens" >&2; exit 1; }

echo
echo "median of $runs run(s), ${size_mib} MiB, resilience $resilience, $(nproc) CPUs;" \
	"$("$vmcrypt" --version), $(cryptsetup --version | cut -d' ' -f1-2)"
printf '%-36s %10s %10s %12s\n' "" "MiB/s" "CPU s" "peak RSS MiB"
declare -A rate
for name in vmcrypt cryptsetup cp; do
	t=$(median_col "results/$name" 1)
	c=$(median_col "results/$name" 2)
	m=$(median_col "results/$name" 3)
	rate[$name]=$(awk -v s="$size_mib" -v t="$t" 'BEGIN {printf "%.0f", s / t}')
	case $name in
	vmcrypt) label="vmcrypt rekey" ;;
	cryptsetup) label="cryptsetup reencrypt (offline)" ;;
	cp) label="cp + fdatasync" ;;
	esac
	printf '%-36s %10s %10s %12s\n' "$label" "${rate[$name]}" "$c" "$((m / 1024))"
done
echo
echo "vmcrypt / cryptsetup: $(ratio "${rate[vmcrypt]}" "${rate[cryptsetup]}")x   (goal: >= 2)"
echo "vmcrypt / cp:         $(ratio "${rate[vmcrypt]}" "${rate[cp]}")x   (goal: >= 0.8)"
