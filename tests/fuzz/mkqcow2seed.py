#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes small qcow2 images with internal snapshots for the qcow2 fuzz corpus (snap-*): a
# snapshot table, a snapshot L1 table (the active one too), one L2 table and a few VM state
# clusters (data, a zero flag, a compressed entry), with standard and extended L2 entries.
#   mkqcow2seed.py OUTDIR
import os
import struct
import sys


def image(cluster_bits, extended, out, bad_l2=False):
    cs = 1 << cluster_bits
    esize = 16 if extended else 8
    l2_entries = cs // esize
    disk = 2 * cs
    per_l1 = l2_entries * cs
    vm_off = -(-disk // per_l1) * per_l1           # after the disk, rounded to one L1 entry
    l1_idx = vm_off // per_l1
    # clusters: 0 header, 1 snapshot table, 2 L1, 3 L2, 4.. VM state data, 6 refcount table
    f = bytearray(7 * cs)
    struct.pack_into(">4sIQIIQIIQQIIQ", f, 0, b"QFI\xfb", 3, 0, 0, cluster_bits, disk, 0,
                     -(-disk // per_l1), 2 * cs, 6 * cs, 1, 1, cs)
    struct.pack_into(">QQQII", f, 72, (1 << 4) if extended else 0, 0, 0, 4, 104)
    vm_size = 2 * cs + 100
    name = b"s1"
    struct.pack_into(">QIHHIIQII", f, cs, 2 * cs, l1_idx + 1, 1, len(name), 1700000000, 0, 0,
                     vm_size, 16)
    struct.pack_into(">QQ", f, cs + 40, vm_size, disk)
    f[cs + 56:cs + 57] = b"1"
    f[cs + 57:cs + 59] = name
    l2 = (99 * cs) if bad_l2 else 3 * cs
    struct.pack_into(">Q", f, 2 * cs + 8 * l1_idx, l2 | (1 << 63))
    base = 3 * cs
    if extended:
        struct.pack_into(">QQ", f, base, 4 * cs | (1 << 63), 0x0000ffff)   # half allocated
        struct.pack_into(">QQ", f, base + 16, 0, 0xffffffff00000000)       # all zero
        struct.pack_into(">QQ", f, base + 32, 5 * cs, 0xffffffff)
    else:
        struct.pack_into(">Q", f, base, 4 * cs | (1 << 63))
        struct.pack_into(">Q", f, base + 8, 1)                              # zero flag
        struct.pack_into(">Q", f, base + 16, (1 << 62) | (5 * cs))          # compressed
    f[4 * cs:4 * cs + 4] = b"QEVM"
    for i in range(64):
        f[4 * cs + 100 + i] = (i * 7 + 3) & 0xff
    with open(out, "wb") as fh:
        fh.write(f)


d = sys.argv[1]
os.makedirs(d, exist_ok=True)
image(9, False, os.path.join(d, "snap-std-512"))
image(12, False, os.path.join(d, "snap-std-4k"))
image(14, True, os.path.join(d, "snap-extl2-16k"))
image(9, False, os.path.join(d, "snap-bad-l2-outside"), bad_l2=True)
