#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Decrypt throughput per cipher next to libgcrypt's own figure for the same cipher, and
# an aes -> serpent re-key. For each cipher: a LUKS2 image of SIZE MiB of random
# ciphertext (4096-byte sectors), read into the page cache, then `vmcrypt decrypt IMG -`
# into /dev/null on all cores (wall time); libgcrypt's figure is bench/gcry-speed.c (the
# same 4096-byte units, one setiv each, MB per CPU second of one core) times the number
# of cores. The AES
# 128/256 rows run on OpenSSL in vmcrypt and are shown against libgcrypt's AES as a
# yardstick only. Goal: vmcrypt >= 80% of the library's all-core figure. On a shared
# machine the wall-clock ratio also measures the neighbours, so the table adds vmcrypt's
# MB per CPU second (user + system) next to the library's one-core figure. SM4 does not
# reach it on several threads: libgcrypt 1.10's SM4 updates a shared global on every call,
# so threads contend for one cache line (on one core vmcrypt matches the one-core figure:
# `taskset -c 0 vmcrypt decrypt IMG -`).
# Usage: bench/ciphers.sh [SIZE_MIB]   (default 512)
# Environment: VMCRYPT (default build/cli/vmcrypt), CC, BENCH_DIR (default a new
# directory in /var/tmp).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
size_mib=${1:-512}
bench_dir
cores=$(nproc)
need_tools "$vmcrypt" /usr/bin/time
"${CC:-cc}" -O2 -o "$dir/gcry-speed" "$top/bench/gcry-speed.c" -lgcrypt ||
	{ echo "bench: cannot build gcry-speed (libgcrypt20-dev)" >&2; exit 1; }
kdf=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
cd "$dir"
printf 'bench key' >k

# make_image CIPHER BITS: img with SIZE MiB of random ciphertext, in the page cache.
make_image()
{
	local offset
	rm -f img
	"$vmcrypt" create img --size "${size_mib}M" --cipher "$1" --key-size "$2" --sector-size 4096 \
		--key-file k --batch-mode "${kdf[@]}"
	offset=$("$vmcrypt" dump img | awk '/offset:/ {print $2; exit}')
	head -c $((size_mib * 1048576)) /dev/urandom |
		dd of=img bs=1M seek=$((offset / 1048576)) conv=notrunc status=none
	cat img >/dev/null
}

# seconds CMD...: wall time of CMD; its CPU seconds (user + system) go to file cpu.
seconds()
{
	/usr/bin/time -f '%e %U %S' -o time.out "$@" >/dev/null
	awk '{printf "%.3f", $2 + $3}' time.out >cpu
	awk '{printf "%.3f", $1}' time.out
}

printf '%-26s %5s %12s %13s %12s %10s %7s\n' cipher bits "vmcrypt MB/s" "MB/cpu-s" "gcry 1-core" "gcry x$cores" ratio
# cipher bits gcrypt-algo gcrypt-mode
while read -r cipher bits algo mode; do
	make_image "$cipher" "$bits"
	t=$(seconds "$vmcrypt" decrypt img - --key-file k)
	ours=$(awk -v s="$size_mib" -v t="$t" 'BEGIN {printf "%.0f", s * 1.048576 / t}')
	percpu=$(awk -v s="$size_mib" -v t="$(cat cpu)" 'BEGIN {printf "%.0f", s * 1.048576 / t}')
	one=$("$dir/gcry-speed" "$algo" "$mode" $((bits / 8)))
	all=$((one * cores))
	printf '%-26s %5s %12s %13s %12s %10s %7s\n' "$cipher" "$bits" "$ours" "$percpu" "$one" "$all" \
		"$(awk -v a="$ours" -v b="$all" 'BEGIN {printf "%.2f", a / b}')"
done <<'EOF'
aes-xts-plain64 512 AES256 xts
aes-xts-plain64 256 AES128 xts
aes-xts-plain64 384 AES192 xts
serpent-xts-plain64 512 SERPENT256 xts
twofish-xts-plain64 512 TWOFISH xts
camellia-xts-plain64 512 CAMELLIA256 xts
sm4-xts-plain64 256 SM4 xts
serpent-cbc-essiv:sha256 256 SERPENT256 cbc
cast5-cbc-plain64 128 CAST5 cbc
EOF

# Re-key: AES-256-XTS -> Serpent-256-XTS, in place (default resilience).
make_image aes-xts-plain64 512
t=$(seconds "$vmcrypt" rekey img --key-file k --batch-mode --keep-keyslots "${kdf[@]}" \
	--cipher serpent-xts-plain64 --key-size 512)
echo "rekey aes-xts-plain64 -> serpent-xts-plain64: $(awk -v s="$size_mib" -v t="$t" \
	'BEGIN {printf "%.0f", s * 1.048576 / t}') MB/s ($t s for $size_mib MiB)"
