#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# QEMU's encrypted qcow2: vmcrypt rekey in place against the only alternative (qemu-img
# convert to a new encrypted qcow2 under a new secret), and vmcrypt encrypt --format qcow2
# against qemu-img convert -O qcow2 -o encrypt.format=luks, same data, one run.
# Every output is made durable (fdatasync via `sync -d`) inside its timing.
# Usage: bench/qcow2.sh [SIZE_MIB] [RUNS]   (defaults: 2048 MiB, 3 runs; medians reported)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
size_mib=${1:-2048}
runs=${2:-3}
bench_dir
need_tools "$vmcrypt" qemu-img

cd "$dir"
printf 'benchpass' >key
printf 'benchpass2' >key2
SEC=(--object "secret,id=s0,file=key" --object "secret,id=s1,file=key2")
echo "bench: writing a ${size_mib} MiB source image (random data) in $dir"
head -c $((size_mib * 1024 * 1024)) /dev/urandom >src.raw
cat src.raw >/dev/null

# The encrypted qcow2 every re-key starts from (made by qemu-img).
retry qemu-img convert -f raw -O qcow2 "${SEC[@]}" \
	-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 src.raw base.qcow2

vr="" qr="" ve="" qe=""
for _ in $(seq 1 "$runs"); do
	cp base.qcow2 r.qcow2
	vr+=" $(timed r.qcow2 "$vmcrypt" rekey r.qcow2 --key-file key --new-key-file key2 \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode)"
	rm -f q.qcow2
	qr+=" $(timed q.qcow2 retry qemu-img convert "${SEC[@]}" --image-opts \
		driver=qcow2,file.filename=base.qcow2,encrypt.key-secret=s0 -O qcow2 \
		-o encrypt.format=luks,encrypt.key-secret=s1,encrypt.iter-time=10 q.qcow2)"
	rm -f e.qcow2
	ve+=" $(timed e.qcow2 "$vmcrypt" encrypt src.raw e.qcow2 --format qcow2 --key-file key \
		--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode)"
	rm -f qe.qcow2
	qe+=" $(timed qe.qcow2 retry qemu-img convert -f raw -O qcow2 "${SEC[@]}" \
		-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 src.raw qe.qcow2)"
done
# The outputs hold the source's plaintext (checked once, outside the timings).
"$vmcrypt" decrypt --key-file key2 r.qcow2 r.raw --batch-mode >/dev/null 2>&1
"$vmcrypt" decrypt --key-file key e.qcow2 e.raw --batch-mode >/dev/null 2>&1
if ! cmp r.raw src.raw || ! cmp e.raw src.raw; then
	echo "bench: wrong plaintext" >&2
	exit 1
fi

vr=$(rate "$vr") qr=$(rate "$qr") ve=$(rate "$ve") qe=$(rate "$qe")
echo
echo "median of $runs runs, ${size_mib} MiB, $(nproc) CPUs; output synced inside each timing"
printf '%-44s %8s MiB/s\n' "vmcrypt rekey (in place)" "$vr"
printf '%-44s %8s MiB/s\n' "qemu-img convert to a new encrypted qcow2" "$qr"
printf '%-44s %8s MiB/s\n' "vmcrypt encrypt --format qcow2" "$ve"
printf '%-44s %8s MiB/s\n' "qemu-img convert -O qcow2 encrypt.format=luks" "$qe"
echo
echo "rekey: vmcrypt/qemu-img = $(ratio "$vr" "$qr")x (goal >= 5)"
echo "encrypt: vmcrypt/qemu-img = $(ratio "$ve" "$qe")x (goal >= 5)"
