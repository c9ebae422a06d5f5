#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Saved VM state in QEMU's encrypted qcow2, made and read without QEMU's savevm.

QEMU 7.2 aborts `savevm` into an encrypted qcow2 (docs/FORMAT-NOTES.md), so the tests
build the state the way savevm would leave it: data clusters after the guest disk's
range in a snapshot's L1 table (from qcow2's vm_state_offset, the first L1 entry past
the disk), encrypted with the image's volume key at their host offsets (the qcow2 IV
rule), through refxts.py, which shares no code with vmcrypt.

Usage:
  qcow2-vmstate.py add --key-file HEXFILE --snapshot NAME --size BYTES IMAGE PLAIN
      appends an L2 table, the state's data clusters and a new, larger L1 table for
      snapshot NAME at the end of IMAGE (cluster-aligned), points NAME's table entry
      at them (L1 offset and size, VM state size) and writes the state's plaintext
      (a known pattern, BYTES long) to PLAIN. The old L1 table and the refcounts are
      left for `qemu-img check -r all` to fix (a leak, clusters without a refcount).
  qcow2-vmstate.py read --key-file HEXFILE --snapshot NAME IMAGE OUT
      follows NAME's L1 table from vm_state_offset and writes the state, decrypted
      with the key in HEXFILE, to OUT (VM state size bytes).
Both print the host offsets of the state's clusters on stdout, one a line.
"""

import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refxts  # noqa: E402

OFFSET_MASK = 0x00FFFFFFFFFFFE00
COPIED = 1 << 63
EXTENDED_L2 = 1 << 4  # incompatible feature bit 4


class Image:
    def __init__(self, path, writable=False):
        self.f = open(path, "r+b" if writable else "rb")
        hdr = self.pread(0, 104)
        magic, version = struct.unpack(">4sI", hdr[:8])
        if magic != b"QFI\xfb" or version != 3:
            raise SystemExit(f"{path}: not a qcow2 version 3 image")
        self.cluster_bits = struct.unpack(">I", hdr[20:24])[0]
        self.size = struct.unpack(">Q", hdr[24:32])[0]
        self.nb_snapshots, self.snapshots_offset = struct.unpack(">IQ", hdr[60:72])
        incompatible = struct.unpack(">Q", hdr[72:80])[0]
        self.cs = 1 << self.cluster_bits
        self.extended = bool(incompatible & EXTENDED_L2)
        self.esize = 16 if self.extended else 8
        self.l2_entries = self.cs // self.esize

    def pread(self, off, n):
        self.f.seek(off)
        b = self.f.read(n)
        if len(b) != n:
            raise SystemExit(f"short read at {off}")
        return b

    def pwrite(self, off, b):
        self.f.seek(off)
        self.f.write(b)

    def vm_state_index(self):
        """qcow2's l1_vm_state_index: the first L1 entry past the guest disk."""
        span = self.l2_entries * self.cs
        return (self.size + span - 1) // span

    def snapshot(self, name):
        """(offset of its table entry, l1 offset, l1 size, extra data size)."""
        off = self.snapshots_offset
        for _ in range(self.nb_snapshots):
            e = self.pread(off, 40)
            l1_off, l1_size, id_len, name_len = struct.unpack(">QIHH", e[:16])
            extra = struct.unpack(">I", e[36:40])[0]
            got = self.pread(off + 40 + extra + id_len, name_len).decode()
            if got == name:
                return off, l1_off, l1_size, extra
            off += (40 + extra + id_len + name_len + 7) // 8 * 8
        raise SystemExit(f"no snapshot named {name!r}")

    def vm_state_size(self, entry, extra):
        if extra >= 8:
            return struct.unpack(">Q", self.pread(entry + 40, 8))[0]
        return struct.unpack(">I", self.pread(entry + 32, 4))[0]


def pattern(n):
    """The state's plaintext: numbered lines, so a misplaced cluster shows."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += b"vmcrypt saved VM state line %08d\n" % i
        i += 1
    return bytes(out[:n])


def cipher(args, enc):
    return refxts.SectorCipher(refxts.Crypto(), args.cipher, refxts.read_key(args.key_file),
                               512, 0, enc)


def add(args):
    img = Image(args.image, writable=True)
    entry, old_l1, old_size, extra = img.snapshot(args.snapshot)
    if extra < 8:
        raise SystemExit("the snapshot entry has no 64-bit VM state size (QEMU writes one)")
    if img.vm_state_size(entry, extra):
        raise SystemExit(f"snapshot {args.snapshot!r} has VM state already")
    cs = img.cs
    n = (args.size + cs - 1) // cs
    if n > img.l2_entries:
        raise SystemExit("--size: at most one L2 table's worth")
    index = img.vm_state_index()
    if old_size > index:
        raise SystemExit("the snapshot's L1 table reaches past the disk already")
    # At the end of the file: the L2 table, the data clusters, the L1 table.
    end = os.fstat(img.f.fileno()).st_size
    l2 = (end + cs - 1) // cs * cs
    data = [l2 + cs * (1 + i) for i in range(n)]
    l1_bytes = 8 * (index + 1)
    l1 = l2 + cs * (1 + n)
    plain = pattern(args.size)
    padded = plain + bytes(n * cs - len(plain))
    sc = cipher(args, True)
    table = bytearray(cs)
    for i, host in enumerate(data):
        img.pwrite(host, sc.process(padded[i * cs:(i + 1) * cs], host // 512))
        # Refcount 1, so "copied"; extended L2: every subcluster allocated.
        table[i * img.esize:i * img.esize + 8] = struct.pack(">Q", host | COPIED)
        if img.extended:
            table[i * img.esize + 8:i * img.esize + 16] = struct.pack(">Q", 0xFFFFFFFF)
    img.pwrite(l2, bytes(table))
    new_l1 = bytearray(img.pread(old_l1, 8 * old_size) if old_size else b"")
    new_l1 += bytes(l1_bytes - len(new_l1))
    new_l1[8 * index:8 * index + 8] = struct.pack(">Q", l2 | COPIED)
    img.pwrite(l1, bytes(new_l1) + bytes((-len(new_l1)) % cs))
    img.f.flush()
    os.fsync(img.f.fileno())
    # The snapshot's entry last: L1 offset and size, both VM state sizes.
    img.pwrite(entry, struct.pack(">QI", l1, index + 1))
    img.pwrite(entry + 32, struct.pack(">I", min(args.size, 0xFFFFFFFF)))
    img.pwrite(entry + 40, struct.pack(">Q", args.size))
    img.f.flush()
    os.fsync(img.f.fileno())
    with open(args.out, "wb") as f:
        f.write(plain)
    print("\n".join(str(h) for h in data))


def read(args):
    img = Image(args.image)
    entry, l1, l1_size, extra = img.snapshot(args.snapshot)
    size = img.vm_state_size(entry, extra)
    if not size:
        raise SystemExit(f"snapshot {args.snapshot!r} has no VM state")
    cs = img.cs
    start = img.vm_state_index() * img.l2_entries  # guest cluster number
    sc = cipher(args, False)
    out = bytearray()
    hosts = []
    for g in range(start, start + (size + cs - 1) // cs):
        i, j = divmod(g, img.l2_entries)
        if i >= l1_size:
            raise SystemExit(f"guest cluster {g}: past the L1 table")
        l2 = struct.unpack(">Q", img.pread(l1 + 8 * i, 8))[0] & OFFSET_MASK
        e = struct.unpack(">Q", img.pread(l2 + img.esize * j, 8))[0] if l2 else 0
        host = e & OFFSET_MASK
        if not host:
            raise SystemExit(f"guest cluster {g}: not allocated")
        hosts.append(host)
        out += sc.process(img.pread(host, cs), host // 512)
    with open(args.out, "wb") as f:
        f.write(out[:size])
    print("\n".join(str(h) for h in hosts))


def main():
    ap = argparse.ArgumentParser(description="saved VM state in an encrypted qcow2")
    ap.add_argument("op", choices=["add", "read"])
    ap.add_argument("--key-file", required=True, help="the volume key in hex")
    ap.add_argument("--cipher", default="aes-xts-plain64")
    ap.add_argument("--snapshot", required=True)
    ap.add_argument("--size", type=int, help="add: bytes of VM state")
    ap.add_argument("image")
    ap.add_argument("out")
    args = ap.parse_args()
    if args.op == "add":
        if not args.size or args.size <= 0:
            ap.error("add needs --size")
        add(args)
    else:
        read(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
