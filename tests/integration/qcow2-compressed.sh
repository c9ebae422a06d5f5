#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Compressed clusters in QEMU's encrypted qcow2 hold plaintext. qemu-img refuses -c with
# encryption, but the format allows the pair, so the case plants one by hand in an image
# qemu-img made: a cluster of known bytes deflated as QEMU does (raw zlib, 4 KiB window),
# appended to the file, one L2 entry pointing at it with the compressed bit and the
# descriptor of docs/interop/qcow2.txt; qemu-img check -r all fixes its refcount.
#  - the peer: qemu-img check is clean, and QEMU's encrypted qcow2 driver reads the
#    known bytes back from it (so it does not decrypt compressed clusters), in the
#    active layer and in an internal snapshot;
#  - dump (text and --json) counts the compressed clusters of the active layer and the
#    snapshot and warns that they hold plaintext (and shows 0 on a clean image);
#  - audit --image fails (exit 10) with "2 compressed clusters stored unencrypted";
#  - rekey refuses with exit 7 naming the count, the image byte-identical afterwards;
#    convert to raw LUKS refuses (7) and leaves no output.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires qemu-img
requires qemu-io
requires test -x "$VMCRYPT"

SEC=("${QEMU_SECRETS[@]}")

# qio IMG CMD...: qemu-io commands on the encrypted qcow2 IMG (QEMU's own driver).
qio()
{
	local img=$1 c args=()
	shift
	for c in "$@"; do args+=(-c "$c"); done
	qemu-io "${SEC[@]}" --image-opts "$(qcow2_opts "$img")" "${args[@]}" >qio.out 2>&1 ||
		fail "qemu-io $*: $(cat qio.out)"
	! grep -q -i -e 'pattern verification failed' -e 'error' qio.out ||
		fail "qemu-io $*: $(cat qio.out)"
}

# qcheck IMG [REPAIR]: qemu-img check (with -r REPAIR) ends with no error and no leak.
qcheck()
{
	local r=()
	[ -z "${2:-}" ] || r=(-r "$2")
	qemu-img check "${r[@]}" "${SEC[@]}" --image-opts "$(qcow2_opts "$1")" >check.out 2>&1 ||
		[ -n "${2:-}" ] || fail "qemu-img check $1: $(cat check.out)"
	[ -n "${2:-}" ] || grep -q "No errors were found" check.out ||
		fail "qemu-img check $1: $(cat check.out)"
}

# plant IMG GUEST BYTE: the guest cluster at GUEST (unallocated) becomes a compressed
# cluster of BYTE, its deflated data appended at the end of the file.
plant()
{
	"$PYTHON" - "$@" <<'PYEOF'
import struct, sys, zlib
path, guest, byte = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3], 0)
with open(path, "r+b") as f:
    h = f.read(104)
    cluster_bits, = struct.unpack_from(">I", h, 20)
    l1_off, = struct.unpack_from(">Q", h, 40)
    incompat, = struct.unpack_from(">Q", h, 72)
    assert not incompat & 16, "extended L2: not for this helper"
    cs = 1 << cluster_bits
    idx = guest >> cluster_bits
    f.seek(l1_off + 8 * (idx // (cs // 8)))
    l2_off = struct.unpack(">Q", f.read(8))[0] & 0x00fffffffffffe00
    assert l2_off, "no L2 table for that cluster: write a neighbour first"
    slot = l2_off + 8 * (idx % (cs // 8))
    f.seek(slot)
    assert struct.unpack(">Q", f.read(8))[0] == 0, "that cluster is allocated"
    # QEMU's compressed writes: deflate, raw (no zlib header), a 4 KiB window.
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -12)
    data = c.compress(bytes([byte]) * cs) + c.flush()
    assert len(data) < cs
    f.seek(0, 2)
    host = -(-f.tell() // cs) * cs          # a fresh cluster at the end of the file
    f.seek(host)
    f.write(data + bytes(-len(data) % 512))
    # Descriptor: x = 62 - (cluster_bits - 8); bits 0..x-1 the host byte offset, bits
    # x..61 the 512-byte sectors used beyond the one holding the offset; bit 62 set.
    x = 62 - (cluster_bits - 8)
    extra = (host % 512 + len(data) - 1) // 512
    assert extra < (1 << (cluster_bits - 8))
    f.seek(slot)
    f.write(struct.pack(">Q", (1 << 62) | (extra << x) | host))
PYEOF
}

case_compressed()
{
	qemu_img_luks create -q -f qcow2 "${SEC[@]}" \
		-o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10 e.qcow2 1M
	qio e.qcow2 'write -P 0x11 0 64k'
	mkdir root # an empty host: only the image checks count in the exit status
	# A clean image first: dump shows the count as 0, audit passes it.
	vmc dump e.qcow2 >dump0.txt
	grep -q "^Compressed:	0 compressed clusters in the active layer" dump0.txt ||
		fail "dump of a clean image: $(cat dump0.txt)"
	! grep -q WARNING dump0.txt || fail "dump of a clean image warns: $(cat dump0.txt)"
	expect_exit 0 vmc audit --root "$PWD/root" --image e.qcow2
	grep -q "^\[PASS\] image-compressed: e.qcow2$" last.out || fail "audit: $(cat last.out)"

	plant e.qcow2 0x20000 0xa5
	# Its refcount: qemu-img check -r all counts the new cluster; then check is clean.
	qcheck e.qcow2 all
	qcheck e.qcow2
	# QEMU reads the plaintext back through its encrypted qcow2 driver: a compressed
	# cluster is inflated and not decrypted. Its neighbour still decrypts.
	qio e.qcow2 'read -P 0xa5 128k 64k' 'read -P 0x11 0 64k'
	qemu-img snapshot "${SEC[@]}" -c s1 --image-opts "$(qcow2_opts e.qcow2)"
	qcheck e.qcow2
	qemu-img convert "${SEC[@]}" -l snapshot.name=s1 --image-opts "$(qcow2_opts e.qcow2)" \
		-O raw snap.raw
	"$PYTHON" -c 'import sys; d=open(sys.argv[1],"rb").read(); assert d[:65536]==b"\x11"*65536 and d[131072:196608]==b"\xa5"*65536' snap.raw ||
		fail "QEMU's plaintext of snapshot s1"
	echo "QEMU reads the plaintext of a compressed cluster of an encrypted qcow2"

	vmc dump e.qcow2 >dump.txt
	grep -q "^Compressed:	1 compressed clusters in the active layer" dump.txt ||
		fail "dump: $(cat dump.txt)"
	grep -q "s1 .*compressed clusters 1$" dump.txt || fail "dump: $(cat dump.txt)"
	grep -q "^WARNING: compressed clusters hold PLAINTEXT" dump.txt || fail "dump: $(cat dump.txt)"
	vmc dump --json e.qcow2 >dump.json
	"$PYTHON" -c 'import json,sys; c=json.load(open(sys.argv[1]))["container"]; assert c["compressed_clusters"]==1 and c["snapshots"][0]["compressed_clusters"]==1 and c["compressed_plaintext"] is True, c' dump.json

	expect_exit 10 vmc audit --root "$PWD/root" --image e.qcow2
	grep -q "^\[FAIL\] image-compressed: e.qcow2$" last.out || fail "audit: $(cat last.out)"
	grep -q "2 compressed clusters stored unencrypted (1 in the active layer, 1 in snapshots" \
		last.out || fail "audit: $(cat last.out)"
	expect_exit 10 vmc audit --root "$PWD/root" --json --image e.qcow2
	"$PYTHON" -c 'import json; d=json.load(open("last.out")); r=[x for x in d["results"] if x["check"]=="image-compressed"]; assert len(r)==1 and r[0]["status"]=="FAIL" and r[0]["fix"] and "qemu-img convert" in r[0]["fix"], r'
	echo "dump and audit --image report the compressed clusters"

	cp e.qcow2 before.qcow2
	expect_exit "$EXIT_NOTSUP" vmc rekey --batch-mode --key-file "$PASS" --new-key-file "$PASS2" \
		--iter-time 10 e.qcow2
	grep -q "2 compressed clusters .* stored unencrypted" last.err || fail "rekey: $(cat last.err)"
	cmp e.qcow2 before.qcow2 || fail "rekey changed the image"
	echo "rekey refuses (exit 7) and leaves the image byte-identical"

	# convert to raw LUKS meets the cluster in its stream: exit 7, no DST left behind.
	expect_exit "$EXIT_NOTSUP" vmc convert e.qcow2 out.img --type luks2 --key-file "$PASS"
	[ ! -e out.img ] || fail "a refused convert left its output behind"
	cmp e.qcow2 before.qcow2 || fail "convert changed the image"
	echo "convert refuses (exit 7) and leaves no output"
}

run_case "compressed clusters hold plaintext" case_compressed
finish
