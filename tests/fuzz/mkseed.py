#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Small, complete LUKS images for the fuzz seed corpus, built from scratch.

Keyslots use one AF stripe and cheap KDF parameters, so a whole image (both
LUKS2 metadata copies, keyslot areas and a few data sectors) is a few tens of
KiB and the keyslot harness can open it with the passphrase "fuzz". The sector
cipher is tests/integration/refxts.py (libcrypto via ctypes), so these images
share no code with vmcrypt; make-corpus.sh checks that vmcrypt opens them.
cryptsetup 2.6 reads 4000 stripes' worth of key material whatever the header
says, and vmcrypt now does the same (docs/FORMAT-NOTES.md), so these keyslots
no longer open and LUKS1 seeds (every slot must have 4000 stripes) are refused
by the parser: they are parser seeds until this script splits keys into 4000
stripes (make-corpus.sh's test-key check fails until then).

  mkseed.py luks2 OUT [--cipher SPEC] [--key-bytes N] [--sector-size N]
                      [--kdf pbkdf2|argon2id|argon2i] [--hash H] [--keyslots N]
                      [--token] [--data-kib N]
  mkseed.py luks1 OUT [--cipher SPEC] [--key-bytes N] [--hash H] [--keyslots N]
"""

import argparse
import base64
import ctypes
import hashlib
import json
import os
import random
import struct
import sys

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import refxts  # noqa: E402

PASS = b"fuzz"
ITER = 1000


def argon2(kind, pwd, salt, t, m, p, outlen):
    lib = ctypes.CDLL("libargon2.so.1")
    out = ctypes.create_string_buffer(outlen)
    fn = lib.argon2id_hash_raw if kind == "argon2id" else lib.argon2i_hash_raw
    fn.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_char_p,
                   ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                   ctypes.c_size_t]
    if fn(t, m, p, pwd, len(pwd), salt, len(salt), out, outlen) != 0:
        raise SystemExit("mkseed: argon2 failed")
    return out.raw


def sector_cipher(spec, key, sector_size=512):
    return refxts.SectorCipher(refxts.Crypto(), spec, key, sector_size, 0, True)


def b64(b):
    return base64.b64encode(b).decode()


def luks2(a, rnd):
    hdr_size = 16384
    area_size = 4096
    vk = rnd.randbytes(a.key_bytes)
    ks_off = 2 * hdr_size
    keyslots_size = area_size * a.keyslots
    data_off = ks_off + keyslots_size
    img = bytearray(data_off + a.data_kib * 1024)
    doc = {"keyslots": {}, "tokens": {}, "segments": {}, "digests": {}, "config": {}}
    for i in range(a.keyslots):
        salt = rnd.randbytes(32)
        kdf = {"type": a.kdf, "salt": b64(salt)}
        if a.kdf == "pbkdf2":
            kdf.update({"hash": a.hash, "iterations": ITER})
            akey = hashlib.pbkdf2_hmac(a.hash, PASS, salt, ITER, a.key_bytes)
        else:
            kdf.update({"time": 1, "memory": 32, "cpus": 1})
            akey = argon2(a.kdf, PASS, salt, 1, 32, 1, a.key_bytes)
        kdf = {k: kdf[k] for k in ["type", "hash", "iterations", "time", "memory", "cpus", "salt"]
               if k in kdf}
        off = ks_off + i * area_size
        material = vk + bytes(512 - len(vk) % 512 if len(vk) % 512 else 0)
        img[off:off + len(material)] = sector_cipher(a.cipher, akey).process(material, 0)
        doc["keyslots"][str(i)] = {
            "type": "luks2", "key_size": a.key_bytes,
            "af": {"type": "luks1", "stripes": 1, "hash": a.hash},
            "area": {"type": "raw", "offset": str(off), "size": str(area_size),
                     "encryption": a.cipher, "key_size": a.key_bytes},
            "kdf": kdf}
    if a.token:
        doc["tokens"]["0"] = {"type": "vmcrypt-fuzz", "keyslots": ["0"], "note": "seed"}
    doc["segments"]["0"] = {"type": "crypt", "offset": str(data_off), "size": "dynamic",
                            "iv_tweak": "0", "encryption": a.cipher,
                            "sector_size": a.sector_size}
    dsalt = rnd.randbytes(32)
    dig = hashlib.pbkdf2_hmac(a.hash, vk, dsalt, ITER, hashlib.new(a.hash).digest_size)
    doc["digests"]["0"] = {"type": "pbkdf2", "keyslots": [str(i) for i in range(a.keyslots)],
                           "segments": ["0"], "hash": a.hash, "iterations": ITER,
                           "salt": b64(dsalt), "digest": b64(dig)}
    doc["config"] = {"json_size": str(hdr_size - 4096), "keyslots_size": str(keyslots_size)}
    plain = bytearray(a.data_kib * 1024)
    plain[:len(b"vmcrypt fuzz seed\n")] = b"vmcrypt fuzz seed\n"
    img[data_off:] = sector_cipher(a.cipher, vk, a.sector_size).process(bytes(plain), 0)
    js = json.dumps(doc, separators=(",", ":")).encode()
    uuid = "%08x-%04x-%04x-%04x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16),
                                         rnd.getrandbits(16), rnd.getrandbits(16),
                                         rnd.getrandbits(48))
    for copy, magic in ((0, b"LUKS\xba\xbe"), (1, b"SKUL\xba\xbe")):
        h = bytearray(hdr_size)
        h[0:6] = magic
        struct.pack_into(">HQQ", h, 6, 2, hdr_size, 1)
        h[24:24 + len(a.label)] = a.label.encode()
        h[72:78] = b"sha256"
        h[104:168] = rnd.randbytes(64)
        h[168:168 + len(uuid)] = uuid.encode()
        struct.pack_into(">Q", h, 256, copy * hdr_size)
        h[4096:4096 + len(js)] = js
        h[448:448 + 32] = hashlib.sha256(bytes(h)).digest()
        img[copy * hdr_size:(copy + 1) * hdr_size] = h
    return bytes(img)


def luks1(a, rnd):
    vk = rnd.randbytes(a.key_bytes)
    name, mode = a.cipher.split("-", 1)
    slot_sectors = 1
    payload = 8 + 8 * slot_sectors  # sectors
    img = bytearray(payload * 512 + a.data_kib * 1024)
    h = bytearray(592)
    h[0:6] = b"LUKS\xba\xbe"
    struct.pack_into(">H", h, 6, 1)
    h[8:8 + len(name)] = name.encode()
    h[40:40 + len(mode)] = mode.encode()
    h[72:72 + len(a.hash)] = a.hash.encode()
    struct.pack_into(">II", h, 104, payload, a.key_bytes)
    msalt = rnd.randbytes(32)
    h[112:132] = hashlib.pbkdf2_hmac(a.hash, vk, msalt, ITER, 20)
    h[132:164] = msalt
    struct.pack_into(">I", h, 164, ITER)
    uuid = "%08x-%04x-%04x-%04x-%012x" % (rnd.getrandbits(32), rnd.getrandbits(16),
                                         rnd.getrandbits(16), rnd.getrandbits(16),
                                         rnd.getrandbits(48))
    h[168:168 + len(uuid)] = uuid.encode()
    for i in range(8):
        off = 208 + 48 * i
        area = 8 + i * slot_sectors
        if i < a.keyslots:
            salt = rnd.randbytes(32)
            struct.pack_into(">II", h, off, 0x00AC71F3, ITER)
            h[off + 8:off + 40] = salt
            akey = hashlib.pbkdf2_hmac(a.hash, PASS, salt, ITER, a.key_bytes)
            material = vk + bytes(512 - len(vk))
            img[area * 512:area * 512 + 512] = sector_cipher(a.cipher, akey).process(material, 0)
            struct.pack_into(">II", h, off + 40, area, 1)
        else:
            struct.pack_into(">II", h, off, 0x0000DEAD, 0)
            struct.pack_into(">II", h, off + 40, area, 4000)
    img[:592] = h
    plain = bytearray(a.data_kib * 1024)
    plain[:len(b"vmcrypt fuzz seed\n")] = b"vmcrypt fuzz seed\n"
    img[payload * 512:] = sector_cipher(a.cipher, vk).process(bytes(plain), 0)
    return bytes(img)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("type", choices=["luks1", "luks2"])
    p.add_argument("out")
    p.add_argument("--cipher", default="aes-xts-plain64")
    p.add_argument("--key-bytes", type=int, default=64)
    p.add_argument("--sector-size", type=int, default=4096)
    p.add_argument("--kdf", default="pbkdf2", choices=["pbkdf2", "argon2i", "argon2id"])
    p.add_argument("--hash", default="sha256")
    p.add_argument("--keyslots", type=int, default=1)
    p.add_argument("--token", action="store_true")
    p.add_argument("--label", default="")
    p.add_argument("--data-kib", type=int, default=8)
    a = p.parse_args()
    rnd = random.Random(a.out)  # reproducible: the same command makes the same bytes
    img = luks2(a, rnd) if a.type == "luks2" else luks1(a, rnd)
    with open(a.out, "wb") as f:
        f.write(img)


if __name__ == "__main__":
    main()
