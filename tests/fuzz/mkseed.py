#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Small, complete LUKS images for the fuzz seed corpus, built from scratch.

Keyslots hold 4000 AF stripes, as cryptsetup reads and vmcrypt requires, under
cheap KDF parameters, so the keyslot harness opens them with the passphrase
"fuzz" in a few milliseconds. Key material is key size x 4000 bytes per slot
(125 KiB for a 32-byte key), so seeds use small keys. The sector cipher is
tests/integration/refxts.py (libcrypto via ctypes) and the AF splitter is the
one below, so these images share no code with vmcrypt; make-corpus.sh checks
that vmcrypt opens them.

LUKS1 wants key material for all 8 slots, active or not, inside the image
(1 MiB for 32-byte keys). --trim drops the image's trailing zero bytes (the
unused slots' areas when there is no data): fuzz_keyslot.c reads an input as
an image zero-extended to 2 MiB, and make-corpus.sh pads a copy the same way
before it checks one with vmcrypt.

  mkseed.py luks2 OUT [--cipher SPEC] [--key-bytes N] [--sector-size N]
                      [--kdf pbkdf2|argon2id|argon2i] [--hash H] [--keyslots N]
                      [--token] [--data-kib N] [--trim]
  mkseed.py luks1 OUT [--cipher SPEC] [--key-bytes N] [--hash H] [--keyslots N]
                      [--data-kib N] [--trim]
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
STRIPES = 4000


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


def diffuse(buf, hash_name):
    """The LUKS AF diffusion: each digest-sized chunk i becomes H(be32(i) || chunk)."""
    ds = hashlib.new(hash_name).digest_size
    out = bytearray()
    for i in range(0, len(buf), ds):
        chunk = buf[i:i + ds]
        out += hashlib.new(hash_name, struct.pack(">I", i // ds) + chunk).digest()[:len(chunk)]
    return bytes(out)


def af_split(key, stripes, hash_name, rnd):
    """LUKS anti-forensic split: stripes - 1 random blocks, then the key XOR their diffusion."""
    d = bytes(len(key))
    out = bytearray()
    for _ in range(stripes - 1):
        s = rnd.randbytes(len(key))
        out += s
        d = diffuse(bytes(x ^ y for x, y in zip(d, s)), hash_name)
    out += bytes(x ^ y for x, y in zip(d, key))
    return bytes(out)


def area_bytes(key_bytes):
    """Key material of one 4000-stripe keyslot, in whole 512-byte sectors."""
    return -(-key_bytes * STRIPES // 512) * 512


def keyslot_material(vk, akey, cipher, hash_name, rnd):
    """The AF-split volume key, encrypted as a keyslot area (512-byte sectors from IV 0)."""
    material = af_split(vk, STRIPES, hash_name, rnd)
    material += bytes(area_bytes(len(vk)) - len(material))
    return sector_cipher(cipher, akey).process(material, 0)


def data_plaintext(kib):
    """The data area's plaintext: a line of text, then zeros."""
    text = b"vmcrypt fuzz seed\n"
    return (text + bytes(kib * 1024 - len(text))) if kib else b""


def sector_cipher(spec, key, sector_size=512):
    return refxts.SectorCipher(refxts.Crypto(), spec, key, sector_size, 0, True)


def b64(b):
    return base64.b64encode(b).decode()


def luks2(a, rnd):
    hdr_size = 16384
    area_size = -(-area_bytes(a.key_bytes) // 4096) * 4096
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
        material = keyslot_material(vk, akey, a.cipher, a.hash, rnd)
        img[off:off + len(material)] = material
        doc["keyslots"][str(i)] = {
            "type": "luks2", "key_size": a.key_bytes,
            "af": {"type": "luks1", "stripes": STRIPES, "hash": a.hash},
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
    plain = data_plaintext(a.data_kib)
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
    # cryptsetup's layout: slots from sector 8, each on a 4096-byte boundary.
    slot_sectors = -(-area_bytes(a.key_bytes) // 4096) * 8
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
            material = keyslot_material(vk, akey, a.cipher, a.hash, rnd)
            img[area * 512:area * 512 + len(material)] = material
            struct.pack_into(">II", h, off + 40, area, STRIPES)
        else:
            struct.pack_into(">II", h, off, 0x0000DEAD, 0)
            struct.pack_into(">II", h, off + 40, area, STRIPES)
    img[:592] = h
    plain = data_plaintext(a.data_kib)
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
    p.add_argument("--trim", action="store_true")
    a = p.parse_args()
    rnd = random.Random(a.out)  # reproducible: the same command makes the same bytes
    img = luks2(a, rnd) if a.type == "luks2" else luks1(a, rnd)
    if a.trim:
        # Whole sectors up to the last one that is not all zero.
        img = img[:-(-len(img.rstrip(b"\0")) // 512) * 512]
    with open(a.out, "wb") as f:
        f.write(img)


if __name__ == "__main__":
    main()
