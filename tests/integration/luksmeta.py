#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""LUKS header facts for the interop tests, independent of vmcrypt's C code.

  luksmeta.py fields DUMP             normalised key=value facts from a
                                      `cryptsetup luksDump`-style text
  luksmeta.py field DUMP NAME         one fact (empty when absent)
  luksmeta.py compare CS_DUMP VM_DUMP [NAME...]
                                      compare facts of cryptsetup's dump with
                                      vmcrypt's; prints each mismatch; exit 1
  luksmeta.py volume-key DUMP         volume key hex from "MK dump:" (cryptsetup)
                                      or "Volume key:" (vmcrypt) lines
  luksmeta.py json IMAGE              the primary LUKS2 header's JSON area,
                                      parsed straight from the bytes on disk
  luksmeta.py check-json VMJSON IMAGE `vmcrypt dump --json` output against the
                                      JSON on disk and the binary header fields
  luksmeta.py binary IMAGE [copy]     binary LUKS2 header fields (copy 0 or 1)
  luksmeta.py flip IMAGE COPY OFFSET  xor 0x01 into byte OFFSET of LUKS2 binary
                                      header copy COPY (0 primary, 1 secondary)
  luksmeta.py edit-json IMAGE PATH JSONVALUE
                                      set PATH (dot-separated, e.g. segments.0.cipher)
                                      in the JSON of both LUKS2 copies and write
                                      them back with valid checksums
"""

import hashlib
import json
import re
import struct
import sys

DEFAULT_FIELDS = ["version", "uuid", "cipher", "sector_size", "data_offset", "keyslots",
                  "label", "subsystem", "key_bits", "hash", "keyslot_pbkdf", "tokens", "data_length"]


def parse_dump(text):
    """Facts from a luksDump-style text (LUKS1 or LUKS2 layout)."""
    f = {}
    section = None
    entry = None
    keyslots = []
    kdfs = {}
    tokens = []
    segments = {}
    l1_name = l1_mode = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        m = re.match(r"^Key Slot (\d+):\s*(ENABLED|DISABLED)", line)
        if m:
            if m.group(2) == "ENABLED":
                keyslots.append(int(m.group(1)))
            continue
        if not raw[0].isspace():
            key, sep, val = line.partition(":")
            key = key.strip().lower()
            val = val.strip()
            if sep and not val and key in ("data segments", "keyslots", "tokens", "digests"):
                section = key
                entry = None
                continue
            section = None
            if key == "version":
                f["version"] = val
            elif key == "uuid":
                f["uuid"] = val.lower()
            elif key == "label":
                f["label"] = "" if val == "(no label)" else val
            elif key == "subsystem":
                f["subsystem"] = "" if val == "(no subsystem)" else val
            elif key == "cipher name":
                l1_name = val
            elif key == "cipher mode":
                l1_mode = val
            elif key == "payload offset":
                f["l1_payload_sectors"] = val
            elif key == "mk bits":
                f["key_bits"] = val
            elif key == "hash spec":
                f["hash"] = val
            continue
        m = re.match(r"^\s{1,3}(\d+):\s*(\S+)", raw)
        if m and not raw.startswith("\t") and section:
            entry = int(m.group(1))
            if section == "keyslots":
                keyslots.append(entry)
            elif section == "tokens":
                tokens.append("%d:%s" % (entry, m.group(2)))
            elif section == "data segments":
                segments[entry] = {"type": m.group(2)}
            continue
        key, sep, val = line.strip().partition(":")
        key = key.strip().lower()
        val = val.strip()
        if section == "data segments" and entry is not None:
            segments[entry][key] = val
        elif section == "keyslots" and entry is not None:
            if key == "pbkdf":
                kdfs[entry] = val
            elif key == "key" and "key_bits" not in f:
                f["key_bits"] = val.split()[0]
    if l1_name is not None:
        f["cipher"] = "%s-%s" % (l1_name, l1_mode)
        f["sector_size"] = "512"
        if "l1_payload_sectors" in f:
            f["data_offset"] = str(int(f["l1_payload_sectors"]) * 512)
    if segments:
        seg = segments[min(segments)]
        if "cipher" in seg:
            f["cipher"] = seg["cipher"]
        if "sector" in seg:
            f["sector_size"] = seg["sector"].split()[0]
        if "offset" in seg:
            f["data_offset"] = seg["offset"].split()[0]
        if "length" in seg:
            v = seg["length"]
            f["data_length"] = "whole" if "whole" in v else v.split()[0]
        if "iv_tweak" in seg:
            f["iv_tweak"] = seg["iv_tweak"].split()[0]
    f.pop("l1_payload_sectors", None)
    f["keyslots"] = ",".join(str(k) for k in sorted(set(keyslots)))
    if kdfs:
        f["keyslot_pbkdf"] = ",".join("%d:%s" % (k, kdfs[k]) for k in sorted(kdfs))
    if tokens or f.get("version") == "2":
        # Order-free: cryptsetup lists tokens by id, JSON order may differ.
        f["tokens"] = ",".join(sorted(tokens, key=lambda t: int(t.split(":")[0])))
    return f


def volume_key(text):
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^\s*(MK dump|Volume key)\s*:\s*(.*)$", line, re.I)
        if not m:
            continue
        hexs = m.group(2)
        for cont in lines[i + 1:]:
            if cont[:1].isspace() and re.fullmatch(r"[\s0-9a-fA-F:]+", cont):
                hexs += cont
            else:
                break
        return re.sub(r"[\s:]", "", hexs).lower()
    return ""


def read(path):
    with open(path, "r", encoding="utf-8", errors="replace") as fh:
        return fh.read()


BIN_FIELDS = [  # name, offset, length, kind
    ("magic", 0, 6, "bytes"), ("version", 6, 2, "u16"), ("hdr_size", 8, 8, "u64"),
    ("seqid", 16, 8, "u64"), ("label", 24, 48, "str"), ("checksum_alg", 72, 32, "str"),
    ("uuid", 168, 40, "str"), ("subsystem", 208, 48, "str"), ("hdr_offset", 256, 8, "u64"),
]


def binary(path, copy=0):
    with open(path, "rb") as fh:
        hdr0 = fh.read(4096)
        if len(hdr0) < 4096 or hdr0[:6] != b"LUKS\xba\xbe":
            raise SystemExit("luksmeta: %s: no LUKS2 primary header" % path)
        size = struct.unpack(">Q", hdr0[8:16])[0]
        fh.seek(0 if copy == 0 else size)
        hdr = fh.read(4096)
        fh.seek((0 if copy == 0 else size) + 4096)
        js = fh.read(size - 4096)
    out = {}
    for name, off, ln, kind in BIN_FIELDS:
        b = hdr[off:off + ln]
        if kind == "u16":
            out[name] = struct.unpack(">H", b)[0]
        elif kind == "u64":
            out[name] = struct.unpack(">Q", b)[0]
        elif kind == "str":
            out[name] = b.split(b"\0", 1)[0].decode("utf-8", "replace")
        else:
            out[name] = b.hex()
    return out, js.split(b"\0", 1)[0].decode("utf-8")


def cmd_compare(cs_path, vm_path, names):
    cs = parse_dump(read(cs_path))
    vm = parse_dump(read(vm_path))
    bad = 0
    for n in names or DEFAULT_FIELDS:
        a, b = cs.get(n), vm.get(n)
        if a is None:
            continue  # cryptsetup does not show it for this version
        if a != b:
            print("dump mismatch: %s: cryptsetup=%r vmcrypt=%r" % (n, a, b))
            bad = 1
    if bad:
        print("(cryptsetup facts: %s)" % cs)
        print("(vmcrypt facts:    %s)" % vm)
    return bad


def cmd_check_json(vm_json_path, image):
    bin0, js = binary(image, 0)
    disk = json.loads(js)
    try:
        vm = json.loads(read(vm_json_path))
    except ValueError as e:
        print("vmcrypt dump --json is not JSON: %s" % e)
        return 1
    bad = 0
    vbin = vm.pop("binary", None)
    if vm != disk:
        print("JSON mismatch between vmcrypt dump --json and the header on disk")
        for k in sorted(set(vm) | set(disk)):
            if vm.get(k) != disk.get(k):
                print("  %s: disk=%s" % (k, json.dumps(disk.get(k), sort_keys=True)))
                print("  %s: vmcrypt=%s" % (k, json.dumps(vm.get(k), sort_keys=True)))
        bad = 1
    if not isinstance(vbin, dict):
        print("vmcrypt dump --json has no \"binary\" object")
        return 1
    for name in ("version", "hdr_size", "seqid", "label", "uuid", "subsystem", "checksum_alg"):
        alias = {"hdr_size": ["hdr_size", "header_size"], "checksum_alg": ["checksum_alg", "csum_alg"]}
        for key in alias.get(name, [name]):
            if key in vbin:
                v = vbin[key]
                if isinstance(bin0[name], int) and isinstance(v, str) and v.isdigit():
                    v = int(v)
                if v != bin0[name]:
                    print("binary.%s: disk=%r vmcrypt=%r" % (key, bin0[name], vbin[key]))
                    bad = 1
    return bad


def edit_json(path, keypath, value):
    b, _ = binary(path, 0)
    size = b["hdr_size"]
    with open(path, "r+b") as fh:
        for base in (0, size):
            fh.seek(base)
            hdr = bytearray(fh.read(size))
            if b["checksum_alg"] != "sha256":
                raise SystemExit("luksmeta: only sha256 header checksums are implemented")
            doc = json.loads(bytes(hdr[4096:]).split(b"\0", 1)[0])
            node = doc
            keys = keypath.split(".")
            for k in keys[:-1]:
                node = node.setdefault(k, {})
            node[keys[-1]] = value
            js = json.dumps(doc, separators=(",", ":")).encode()
            if len(js) >= size - 4096:
                raise SystemExit("luksmeta: JSON too large for the area")
            hdr[4096:] = js + bytes(size - 4096 - len(js))
            hdr[448:448 + 64] = bytes(64)
            csum = hashlib.sha256(bytes(hdr)).digest()
            hdr[448:448 + len(csum)] = csum
            fh.seek(base)
            fh.write(bytes(hdr))


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 1
    op = argv[1]
    if op == "fields":
        for k, v in sorted(parse_dump(read(argv[2])).items()):
            print("%s=%s" % (k, v))
    elif op == "field":
        print(parse_dump(read(argv[2])).get(argv[3], ""))
    elif op == "compare":
        return cmd_compare(argv[2], argv[3], argv[4:])
    elif op == "volume-key":
        k = volume_key(read(argv[2]))
        if not k:
            print("luksmeta: no volume key in %s" % argv[2], file=sys.stderr)
            return 1
        print(k)
    elif op == "json":
        print(json.dumps(json.loads(binary(argv[2])[1]), sort_keys=True, indent=1))
    elif op == "check-json":
        return cmd_check_json(argv[2], argv[3])
    elif op == "binary":
        b, _ = binary(argv[2], int(argv[3]) if len(argv) > 3 else 0)
        for k, v in b.items():
            print("%s=%s" % (k, v))
    elif op == "flip":
        path, copy, off = argv[2], int(argv[3]), int(argv[4])
        b, _ = binary(path, 0)
        base = 0 if copy == 0 else b["hdr_size"]
        with open(path, "r+b") as fh:
            fh.seek(base + off)
            c = fh.read(1)
            fh.seek(base + off)
            fh.write(bytes([c[0] ^ 1]))
    elif op == "edit-json":
        edit_json(argv[2], argv[3], json.loads(argv[4]))
    else:
        print(__doc__)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
