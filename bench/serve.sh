#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# NBD serving, one run, three servers side by side on the same data:
#   vmcrypt   `vmcrypt serve` of a LUKS1 image (nbdkit + the vmcrypt plugin)
#   luks      nbdkit's own luks filter on the same LUKS1 image (`nbdkit file IMG --filter=luks`)
#   file      nbdkit's file plugin on the plain raw image
# Sequential read and write with nbdcopy (write includes the final flush); 4 KiB random
# read and write at queue depth 16 with fio's nbd engine when fio is installed, else
# a small libnbd (python3-libnbd) loop. Medians of RUNS, and ratios to the others.
# Usage: bench/serve.sh [SIZE_MIB] [RUNS] [RANDOM_SECS]   (defaults: 1024 MiB, 3 runs, 5 s)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
export VMCRYPT_NBDKIT_PLUGIN=${VMCRYPT_NBDKIT_PLUGIN:-$top/build/nbdkit/nbdkit-vmcrypt-plugin.so}
size_mib=${1:-1024}
runs=${2:-3}
secs=${3:-5}
dir=${BENCH_DIR:-$(mktemp -d /var/tmp/vmcrypt-bench-serve.XXXXXX)}
pids=()
cleanup()
{
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

need_tools "$vmcrypt" nbdkit nbdcopy python3
nbdkit file --filter=luks --dump-plugin >/dev/null 2>&1 ||
	{ echo "bench: nbdkit has no luks filter" >&2; exit 1; }

# The random I/O driver: fio (nbd engine), else python with libnbd.
rand_tool=
if command -v fio >/dev/null && fio --enghelp=nbd >/dev/null 2>&1; then
	rand_tool=fio
else
	for py in python3 /usr/bin/python3; do
		if "$py" -c 'import nbd' 2>/dev/null; then
			rand_tool=$py
			break
		fi
	done
fi
[ -n "$rand_tool" ] || echo "bench: neither fio nor python3-libnbd: no random I/O figures" >&2

cd "$dir"
printf 'benchpass' >key
echo "bench: ${size_mib} MiB of random data in $dir; $runs runs; random I/O ${secs} s each with ${rand_tool:-nothing}"
head -c $((size_mib * 1024 * 1024)) /dev/urandom >plain.raw
"$vmcrypt" encrypt plain.raw img.luks --type luks1 --key-file key --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --batch-mode >/dev/null
cp plain.raw src.raw # what the sequential writes copy in
cat src.raw plain.raw img.luks >/dev/null

"$vmcrypt" serve img.luks --key-file key --socket "$dir/vmcrypt.sock" >serve.out 2>serve.err &
pids+=($!)
for _ in $(seq 100); do
	grep -q '^-blockdev' serve.out && break
	sleep 0.1
done
grep -q '^-blockdev' serve.out || { cat serve.err >&2; exit 1; }
nbdkit -f -U "$dir/file.sock" file plain.raw &
pids+=($!)
# The same LUKS1 image for the luks filter, as a copy: two servers writing one file
# would be no fair measurement (and vmcrypt serve holds the image's lock).
cp img.luks img2.luks
nbdkit -f -U "$dir/luks.sock" -P luks.pid file img2.luks --filter=luks passphrase=+key &
pids+=($!)
for _ in $(seq 100); do
	[ -s luks.pid ] && [ -S file.sock ] && break
	sleep 0.1
done

uri() { echo "nbd+unix:///?socket=$dir/$1.sock"; }

now() { date +%s.%N; }

# MiB/s of a sequential read (to null:) or write (from src.raw, flushed).
seq_rate()
{
	local what=$1 u t0 t1
	u=$(uri "$2")
	t0=$(now)
	if [ "$what" = read ]; then
		nbdcopy "$u" null:
	else
		nbdcopy --flush src.raw "$u"
	fi
	t1=$(now)
	echo "$t0 $t1 $size_mib" | awk '{printf "%.1f", $3 / ($2 - $1)}'
}

# IOPS of 4 KiB random reads or writes at queue depth 16 for $secs seconds.
rand_iops()
{
	local what=$1 u
	u=$(uri "$2")
	if [ "$rand_tool" = fio ]; then
		# fio's nbd engine prints a line of its own on stdout: the report goes to a file.
		fio --name=r --ioengine=nbd --uri="$u" --rw="rand$what" --bs=4k --iodepth=16 \
			--time_based --runtime="$secs" --output-format=json --output=fio.json >/dev/null
		python3 -c "import json,sys; j=json.load(open('fio.json'))['jobs'][0]; print('%.0f' % j['$what']['iops'])"
		return
	fi
	"$rand_tool" - "$u" "$what" "$secs" <<'PY'
import nbd, os, random, sys, time
uri, what, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
h = nbd.NBD()
h.connect_uri(uri)
blocks = h.get_size() // 4096
depth = 16
rbuf = [nbd.Buffer(4096) for _ in range(depth)]
wbuf = nbd.Buffer.from_bytearray(bytearray(os.urandom(4096)))
done = [0]
def finished(err):
    done[0] += 1
    return 1
rnd = random.Random(1)
end = time.monotonic() + secs
start = time.monotonic()
i = 0
while time.monotonic() < end:
    while h.aio_in_flight() < depth:
        off = rnd.randrange(blocks) * 4096
        if what == "read":
            h.aio_pread(rbuf[i % depth], off, completion=finished)
        else:
            h.aio_pwrite(wbuf, off, completion=finished)
        i += 1
    h.poll(-1)
while h.aio_in_flight() > 0:
    h.poll(-1)
elapsed = time.monotonic() - start
if what == "write":
    h.flush()
print("%.0f" % (done[0] / elapsed))
PY
}

# Every measurement starts with no page cache for the served files. What a file's
# cache holds decides small random writes more than the server does: a file read
# sequentially before (cp, cat, a seqread) sits in large folios, and each 4 KiB
# write then walks a whole folio's buffer heads in ext4 (seen here: the same server
# at 13 or 72 us per write, by which of two identical images cp had read).
uncache()
{
	local f
	for f in img.luks img2.luks plain.raw; do
		sync "$f"
		dd if="$f" iflag=nocache count=0 status=none
	done
}

declare -A res
servers=(vmcrypt luks file)
for ((i = 1; i <= runs; i++)); do
	for s in "${servers[@]}"; do
		uncache
		res[$s.seqread]+="$(seq_rate read "$s") "
		uncache
		res[$s.seqwrite]+="$(seq_rate write "$s") "
		if [ -n "$rand_tool" ]; then
			uncache
			res[$s.randread]+="$(rand_iops read "$s") "
			uncache
			res[$s.randwrite]+="$(rand_iops write "$s") "
		fi
	done
done

kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true
pids=()

med() { echo "${res[$1]:-}" | tr ' ' '\n' | grep . | median; }

echo
printf '%-10s %12s %12s %12s %10s %10s\n' test vmcrypt luks-filter file-plugin "vs luks" "vs file"
for t in seqread seqwrite randread randwrite; do
	[ -n "$(med vmcrypt.$t)" ] || continue
	v=$(med vmcrypt.$t)
	l=$(med luks.$t)
	f=$(med file.$t)
	unit=MiB/s
	case $t in rand*) unit=IOPS ;; esac
	printf '%-10s %12s %12s %12s %10s %10s   (%s, medians of %d)\n' "$t" "$v" "$l" "$f" \
		"$(ratio "$v" "$l")" "$(ratio "$v" "$f")" "$unit" "$runs"
done
echo "(vs luks: vmcrypt / nbdkit luks filter; vs file: vmcrypt / nbdkit file plugin on the plain image)"
