#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt encrypt/decrypt against qemu-img convert (LUKS) and a plain cp, same image, one run;
# from a qcow2 source (vmcrypt through its private qemu-storage-daemon, qemu-img natively);
# and vmcrypt rekey on the local file against the same file exported by qemu-nbd (Unix socket),
# next to what that server carries at best: nbdcopy (libnbd's copier, 4 connections, 64
# requests in flight) copying the export onto itself in place, the same reads and writes as
# an in-place re-key without any crypto.
# Every tool's output is made durable (fdatasync via `sync -d`) inside its timing.
# Usage: bench/convert.sh [SIZE_MIB] [RUNS]   (defaults: 2048 MiB, 3 runs; medians reported)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
size_mib=${1:-2048}
runs=${2:-3}
bench_dir
need_tools "$vmcrypt" qemu-img qemu-nbd nbdcopy python3

cd "$dir"
printf 'benchpass' > key
echo "bench: writing a ${size_mib} MiB source image (random data) in $dir"
head -c $((size_mib * 1024 * 1024)) /dev/urandom > src.raw
cat src.raw > /dev/null # page-cache it, as every tool reads it the same way
qemu-img convert -f raw -O qcow2 -o extended_l2=on,cluster_size=128k src.raw src.qcow2

# timed OUT CMD (lib.sh) on a new OUT each time.
timed_new() { rm -f "$1"; timed "$@"; }

qemu_luks_from() { # SRC FMT OUT
	retry qemu-img convert -f "$2" -O luks --object secret,id=s0,file=key \
		-o key-secret=s0,iter-time=10 "$1" "$3"
}

declare -A times
for ((i = 1; i <= runs; i++)); do
	times[cp]+="$(timed_new cp.raw cp --sparse=never src.raw cp.raw) "
	times[vmc_enc]+="$(timed_new v.luks "$vmcrypt" encrypt src.raw v.luks --key-file key \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode) "
	times[qemu_enc]+="$(timed_new q.luks qemu_luks_from src.raw raw q.luks) "
	# Every tool reads a page-cached source (vmcrypt writes around the page cache).
	cat v.luks q.luks >/dev/null
	times[vmc_dec]+="$(timed_new v.raw "$vmcrypt" decrypt v.luks v.raw --key-file key --batch-mode) "
	times[qemu_dec]+="$(timed_new q.raw qemu-img convert --object secret,id=s0,file=key \
		--image-opts driver=luks,file.filename=q.luks,key-secret=s0 -O raw q.raw) "
	cmp -s src.raw v.raw || { echo "bench: vmcrypt round trip differs!" >&2; exit 1; }
	cmp -s src.raw q.raw || { echo "bench: qemu-img round trip differs!" >&2; exit 1; }
	# From a qcow2: the guest-visible disk, through QEMU's block layer either way.
	times[vmc_qenc]+="$(timed_new vq.luks "$vmcrypt" encrypt src.qcow2 vq.luks --key-file key \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode) "
	times[qemu_qenc]+="$(timed_new qq.luks qemu_luks_from src.qcow2 qcow2 qq.luks) "
	rm -f vq.luks qq.luks q.raw v.raw
	# Re-key: the local file, then the same file exported by qemu-nbd on a Unix socket.
	t0=$(date +%s.%N)
	"$vmcrypt" rekey v.luks --key-file key --keep-keyslots --batch-mode \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 >/dev/null 2>&1
	times[rekey_local]+="$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.3f", $2 - $1}') "
	rm -f nbd.sock
	# --shared: several connections (multi-conn), as a server for vmcrypt should allow.
	qemu-nbd --persistent --shared=8 -f raw --cache=writeback --socket "$dir/nbd.sock" v.luks &
	nbd_pid=$!
	for _ in $(seq 1 100); do [ -S nbd.sock ] && break; sleep 0.05; done
	t0=$(date +%s.%N)
	"$vmcrypt" rekey "nbd+unix:///?socket=$dir/nbd.sock" --key-file key --keep-keyslots \
		--batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 >/dev/null 2>&1
	times[rekey_nbd]+="$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.3f", $2 - $1}') "
	t0=$(date +%s.%N)
	nbdcopy --flush "nbd+unix:///?socket=$dir/nbd.sock" "nbd+unix:///?socket=$dir/nbd.sock"
	times[nbdcopy]+="$(echo "$t0 $(date +%s.%N)" | awk '{printf "%.3f", $2 - $1}') "
	kill "$nbd_pid"
	wait "$nbd_pid" 2>/dev/null || true
	"$vmcrypt" decrypt v.luks v.raw --key-file key --batch-mode >/dev/null
	cmp -s src.raw v.raw || { echo "bench: the plaintext changed in the re-keys!" >&2; exit 1; }
	rm -f v.raw v.luks q.luks
done

cp_r=$(rate "${times[cp]}")
ve=$(rate "${times[vmc_enc]}")
qe=$(rate "${times[qemu_enc]}")
vd=$(rate "${times[vmc_dec]}")
qd=$(rate "${times[qemu_dec]}")
vqe=$(rate "${times[vmc_qenc]}")
qqe=$(rate "${times[qemu_qenc]}")
rl=$(rate "${times[rekey_local]}")
rn=$(rate "${times[rekey_nbd]}")
nc=$(rate "${times[nbdcopy]}")

echo
echo "median of $runs runs, ${size_mib} MiB, $(nproc) CPUs; output synced inside each timing"
printf '%-34s %8s MiB/s\n' "cp (plain copy)" "$cp_r"
printf '%-34s %8s MiB/s\n' "vmcrypt encrypt (raw -> LUKS2)" "$ve"
printf '%-34s %8s MiB/s\n' "qemu-img convert -O luks (LUKS1)" "$qe"
printf '%-34s %8s MiB/s\n' "vmcrypt decrypt (LUKS2 -> raw)" "$vd"
printf '%-34s %8s MiB/s\n' "qemu-img convert luks -> raw" "$qd"
echo
echo "encrypt: vmcrypt/qemu-img = $(ratio "$ve" "$qe")x (goal >= 4)   vmcrypt/cp = $(ratio "$ve" "$cp_r") (goal >= 0.8)"
echo "decrypt: vmcrypt/qemu-img = $(ratio "$vd" "$qd")x (goal >= 2)   vmcrypt/cp = $(ratio "$vd" "$cp_r") (goal >= 0.8)"
printf '%-34s %8s MiB/s\n' "vmcrypt encrypt (qcow2 -> LUKS2)" "$vqe"
printf '%-34s %8s MiB/s\n' "qemu-img convert qcow2 -> luks" "$qqe"
printf '%-34s %8s MiB/s\n' "vmcrypt rekey (local file)" "$rl"
printf '%-34s %8s MiB/s\n' "vmcrypt rekey (qemu-nbd, Unix)" "$rn"
echo "qcow2 encrypt: vmcrypt/qemu-img = $(ratio "$vqe" "$qqe")x (goal >= 4)"
printf '%-34s %8s MiB/s\n' "nbdcopy in place (same qemu-nbd)" "$nc"
echo "rekey over NBD / local = $(ratio "$rn" "$rl") (goal >= 0.7)"
echo "rekey over NBD / the server's in-place copy = $(ratio "$rn" "$nc")"
