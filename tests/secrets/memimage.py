#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Memory images of a running process, and a search of them for a volume key.

  memimage.py dump PID OUT      read every readable mapping of PID through
                                /proc/PID/mem (as root: CAP_SYS_PTRACE reads a
                                non-dumpable process too) into OUT.img, with
                                OUT.map describing each mapping: file offset,
                                address range, permissions, name, VmFlags and
                                the Locked: size from /proc/PID/smaps
  memimage.py scan OUT KEYHEX [--secret NAME=HEX ...] [--secret essiv=HASH]
                                search OUT.img for the key, each half, and the
                                AES encryption and decryption schedules of every
                                AES key they make (FIPS-197 byte order and with
                                byte-reversed words, as OpenSSL's C code keeps
                                them); for each extra secret; with essiv=HASH
                                for the ESSIV key H(key) and its schedules. Prints every
                                hit with its mapping; exit 1 if any hit lies
                                outside a mapping that is locked ("lo") and
                                excluded from core dumps ("dd"), 2 if no
                                schedule was found at all (nothing proved)
  memimage.py where OUT OFFSET...
                                the mapping of each OUT.img offset and whether
                                it is locked and non-dumpable (for the offsets
                                another scanner reports)

The schedules are computed by libcrypto's AES_set_encrypt_key and
AES_set_decrypt_key through ctypes, not by vmcrypt.
"""

import ctypes
import hashlib
import json
import re
import sys

SKIP = ("[vvar]", "[vvar_vclock]", "[vsyscall]")


def smaps(pid):
    maps = []
    cur = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
            if m:
                cur = {"start": int(m.group(1), 16), "end": int(m.group(2), 16),
                       "perms": m.group(3), "name": m.group(4).strip(), "flags": [],
                       "locked_kb": 0}
                maps.append(cur)
            elif line.startswith("VmFlags:") and cur:
                cur["flags"] = line.split()[1:]
            elif line.startswith("Locked:") and cur:
                cur["locked_kb"] = int(line.split()[1])
    return maps


def dump(pid, out):
    maps = smaps(pid)
    pos = 0
    kept = []
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem, open(out + ".img", "wb") as img:
        for m in maps:
            if m["perms"][0] != "r" or m["name"] in SKIP:
                continue
            size = m["end"] - m["start"]
            try:
                mem.seek(m["start"])
                data = b""
                while len(data) < size:
                    chunk = mem.read(min(size - len(data), 1 << 24))
                    if not chunk:
                        break
                    data += chunk
            except OSError as e:
                print("memimage: %x-%x %s: %s (skipped)" % (m["start"], m["end"], m["name"], e))
                continue
            m["offset"] = pos
            m["size"] = len(data)
            img.write(data)
            pos += len(data)
            kept.append(m)
    with open(out + ".map", "w") as f:
        json.dump(kept, f)
    print("memimage: %d mappings, %d bytes from process %d" % (len(kept), pos, pid))


class Aes:
    def __init__(self):
        self.lib = ctypes.CDLL("libcrypto.so.3")
        self.lib.AES_set_encrypt_key.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]
        self.lib.AES_set_decrypt_key.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_void_p]

    def schedules(self, key):
        """(name, bytes) of both schedules in both layouts."""
        n = {16: 176, 24: 208, 32: 240}[len(key)]
        out = []
        for name, fn in (("encryption", self.lib.AES_set_encrypt_key),
                         ("decryption", self.lib.AES_set_decrypt_key)):
            buf = ctypes.create_string_buffer(244 + 16)
            if fn(key, len(key) * 8, buf) != 0:
                raise SystemExit("memimage: AES_set_*_key failed")
            raw = buf.raw[:n]
            swapped = b"".join(raw[i:i + 4][::-1] for i in range(0, n, 4))
            # OpenSSL's x86-64 code keeps FIPS-197 byte order, its portable C code
            # host-order words (reversed bytes on little-endian): both are searched.
            out.append(("%s schedule (as AES_set_*_key lays it out)" % name, raw))
            out.append(("%s schedule (words reversed)" % name, swapped))
        return out


def patterns(keyhex, extra):
    key = bytes.fromhex(keyhex)
    aes = Aes()
    pats = [("volume key", key)]
    parts = [("volume key", key)] if len(key) in (16, 24, 32) else []
    if len(key) in (32, 64):
        h = len(key) // 2
        pats += [("volume key half 1", key[:h]), ("volume key half 2", key[h:])]
        parts += [("volume key half 1", key[:h]), ("volume key half 2", key[h:])]
    for name, k in parts:
        for sname, s in aes.schedules(k):
            pats.append(("%s %s" % (name, sname), s))
    for e in extra:
        name, _, hexv = e.partition("=")
        if name == "essiv":
            # ESSIV: AES-ECB keyed with H(volume key) encrypts the sector numbers.
            salt = hashlib.new(hexv or "sha256", key).digest()
            pats.append(("ESSIV key", salt))
            for sname, s in aes.schedules(salt):
                pats.append(("ESSIV key %s" % sname, s))
        else:
            pats.append((name, bytes.fromhex(hexv)))
    return pats


def mapping_of(maps, off):
    for m in maps:
        if m["offset"] <= off < m["offset"] + m["size"]:
            return m
    return None


def describe(m, off):
    ok = "lo" in m["flags"] and "dd" in m["flags"]
    return ok, "%x in %x-%x %s %s [VmFlags: %s; Locked: %d kB]" % (
        m["start"] + off - m["offset"], m["start"], m["end"], m["perms"],
        m["name"] or "(anonymous)", " ".join(m["flags"]), m["locked_kb"])


def scan(out, keyhex, extra):
    with open(out + ".map") as f:
        maps = json.load(f)
    with open(out + ".img", "rb") as f:
        img = f.read()
    bad = 0
    schedules = 0
    counts = {}
    for name, pat in patterns(keyhex, extra):
        start = 0
        while True:
            i = img.find(pat, start)
            if i < 0:
                break
            start = i + 1
            m = mapping_of(maps, i)
            ok, where = describe(m, i)
            print("  %s: %s at %s" % ("found" if ok else "LEAK", name, where))
            counts[name] = counts.get(name, 0) + 1
            if not ok:
                bad += 1
            elif "schedule" in name:
                schedules += 1
    print("memimage: %d hits (%s); %d outside locked, non-dumpable memory" % (
        sum(counts.values()), ", ".join("%s: %d" % kv for kv in sorted(counts.items())) or "none",
        bad))
    if bad:
        return 1
    if schedules == 0:
        print("memimage: no key schedule found at all: the search proves nothing")
        return 2
    return 0


def where(out, offsets):
    with open(out + ".map") as f:
        maps = json.load(f)
    bad = 0
    for o in offsets:
        m = mapping_of(maps, o)
        if m is None:
            print("  offset %d: outside the image" % o)
            bad += 1
            continue
        ok, desc = describe(m, o)
        print("  offset %d: %s %s" % (o, "locked" if ok else "NOT LOCKED", desc))
        bad += 0 if ok else 1
    return 1 if bad else 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "dump":
        dump(int(argv[2]), argv[3])
        return 0
    if len(argv) >= 4 and argv[1] == "scan":
        extra = [argv[i + 1] for i in range(4, len(argv) - 1) if argv[i] == "--secret"]
        return scan(argv[2], argv[3], extra)
    if len(argv) >= 3 and argv[1] == "where":
        return where(argv[2], [int(x, 0) for x in argv[3:]])
    print(__doc__)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
