#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Precise corruptions of LUKS headers for the bad-input matrix. LUKS2 edits are made
to both metadata copies (or one, COPY 0/1) and the checksums recomputed unless
--raw, so that the damage reaches the parser's later stages.

  hdrtool.py json-set IMG PATH JSON [COPY]   set PATH (a.b.0.c) to the JSON value
  hdrtool.py json-del IMG PATH [COPY]        delete PATH
  hdrtool.py json-raw IMG TEXT [COPY]        replace the whole JSON text
  hdrtool.py bin IMG COPY OFFSET HEX [--raw] write bytes into a binary header copy
  hdrtool.py flip IMG COPY OFFSET BIT [--raw] xor 1<<BIT into a byte of a copy
  hdrtool.py fix IMG COPY                    recompute a copy's checksum
  hdrtool.py put IMG OFFSET HEX              write bytes at a file offset (LUKS1)
  hdrtool.py l1flip IMG OFFSET BIT           xor 1<<BIT into a byte (LUKS1)
  hdrtool.py get IMG PATH                    print the JSON value at PATH (primary copy)
  hdrtool.py fact IMG NAME                   json_end (end of the JSON text in the
                                             primary copy), hdr_size, keyslots_end,
                                             area0 (first keyslot area offset),
                                             area0_end (end of its key material),
                                             data_offset, sector_size
"""
import hashlib
import json
import os
import struct
import sys

sys.dont_write_bytecode = True


def hdr_size(f):
    """The metadata copy size: where the secondary copy's magic is (the primary's own
    hdr_size field may be the very thing being damaged)."""
    for size in (1 << n for n in range(14, 23)):
        f.seek(size)
        if f.read(6) == b"SKUL\xba\xbe":
            return size
    f.seek(8)
    return struct.unpack(">Q", f.read(8))[0]


def copies(f, which):
    size = hdr_size(f)
    return [(c, c * size, size) for c in ((0, 1) if which is None else (which,))]


def fix_csum(area, alg):
    area[448:512] = bytes(64)
    d = hashlib.new(alg, bytes(area)).digest()
    area[448:448 + len(d)] = d


def rewrite(path, which, edit, raw=False):
    with open(path, "r+b") as f:
        for _, base, size in copies(f, which):
            f.seek(base)
            area = bytearray(f.read(size))
            # The algorithm before the edit: checksum_alg itself may be what is damaged.
            alg = area[72:104].split(b"\0", 1)[0].decode("ascii", "replace")
            edit(area)
            if not raw:
                fix_csum(area, alg)
            f.seek(base)
            f.write(bytes(area))


def json_edit(path, which, fn):
    def edit(area):
        doc = json.loads(bytes(area[4096:]).split(b"\0", 1)[0])
        doc = fn(doc)
        text = doc if isinstance(doc, bytes) else json.dumps(doc, separators=(",", ":")).encode()
        if len(text) >= len(area) - 4096:
            raise SystemExit("hdrtool: JSON does not fit the area")
        area[4096:] = text + bytes(len(area) - 4096 - len(text))
    rewrite(path, which, edit)


def walk(doc, path):
    keys = path.split(".")
    node = doc
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
    return node, keys[-1]


def json_set(doc, path, value):
    node, k = walk(doc, path)
    if isinstance(node, list):
        node[int(k)] = value
    else:
        node[k] = value
    return doc


def json_del(doc, path):
    node, k = walk(doc, path)
    del node[int(k) if isinstance(node, list) else k]
    return doc


def fact(path, name):
    with open(path, "rb") as f:
        size = hdr_size(f)
        f.seek(0)
        area = f.read(size)
    doc = json.loads(area[4096:].split(b"\0", 1)[0])
    ks = int(doc["config"]["keyslots_size"])
    slot = doc["keyslots"][sorted(doc["keyslots"], key=int)[0]]
    seg = doc["segments"][sorted(doc["segments"], key=int)[0]]
    mat = slot["key_size"] * slot["af"]["stripes"]
    vals = {"json_end": 4096 + area[4096:].index(b"\0"), "hdr_size": size,
            "keyslots_end": 2 * size + ks, "area0": int(slot["area"]["offset"]),
            "area0_end": int(slot["area"]["offset"]) + (mat + 511) // 512 * 512,
            "data_offset": int(seg["offset"]), "sector_size": seg["sector_size"]}
    return vals[name]


def main(a):
    op = a[1] if len(a) > 1 else ""
    raw = "--raw" in a
    a = [x for x in a if x != "--raw"]
    if op == "json-set":
        json_edit(a[2], int(a[5]) if len(a) > 5 else None,
                  lambda d: json_set(d, a[3], json.loads(a[4])))
    elif op == "json-del":
        json_edit(a[2], int(a[4]) if len(a) > 4 else None, lambda d: json_del(d, a[3]))
    elif op == "json-raw":
        json_edit(a[2], int(a[4]) if len(a) > 4 else None, lambda d: a[3].encode())
    elif op == "bin":
        off, data = int(a[4], 0), bytes.fromhex(a[5])
        rewrite(a[2], int(a[3]), lambda ar: ar.__setitem__(slice(off, off + len(data)), data), raw)
    elif op == "flip":
        off, bit = int(a[4], 0), int(a[5])
        rewrite(a[2], int(a[3]), lambda ar: ar.__setitem__(off, ar[off] ^ (1 << bit)), raw)
    elif op == "fix":
        rewrite(a[2], int(a[3]), lambda ar: None)
    elif op == "put":
        with open(a[2], "r+b") as f:
            f.seek(int(a[3], 0))
            f.write(bytes.fromhex(a[4]))
    elif op == "l1flip":
        with open(a[2], "r+b") as f:
            off = int(a[3], 0)
            f.seek(off)
            b = f.read(1)[0]
            f.seek(off)
            f.write(bytes([b ^ (1 << int(a[4]))]))
    elif op == "get":
        with open(a[2], "rb") as f:
            size = hdr_size(f)
            f.seek(4096)
            doc = json.loads(f.read(size - 4096).split(b"\0", 1)[0])
        node, k = walk(doc, a[3])
        print(json.dumps(node[int(k)] if isinstance(node, list) else node[k]))
    elif op == "fact":
        print(fact(a[2], a[3]))
    else:
        print(__doc__)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
