#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reference dm-crypt/LUKS sector cipher, independent of vmcrypt's C code.

Encrypts or decrypts a LUKS data area with a given volume key, the way
dm-crypt, cryptsetup and QEMU do, using only the system's libcrypto.so.3
through ctypes (EVP_CIPHER_fetch / EVP_CipherInit_ex / EVP_CipherUpdate).
It shares no code with vmcrypt, so agreement between the two is evidence,
and reftest.sh checks this file itself against qemu-img and cryptsetup.

Cipher specs: aes-xts-plain64, aes-xts-plain, aes-cbc-essiv:HASH,
aes-cbc-plain64, aes-cbc-plain (also aes-xts-essiv:HASH, aes-ecb).

IV rule (docs/FORMAT-NOTES.md, checked by reftest.sh): IVs count 512-byte
units whatever the encryption sector size. Encryption sector k of the area
(sector_size bytes each) uses IV number iv_offset + k * (sector_size / 512)
and is one XTS data unit (one CBC chain).

Usage:
  refxts.py decrypt --cipher SPEC --key-file HEXFILE [--sector-size N]
                    [--iv-offset N] [--offset BYTES] [--length BYTES] IN OUT
      read IN from --offset (--length bytes, default to EOF), write the
      plaintext to OUT ('-' = stdout), truncating it.
  refxts.py encrypt --cipher SPEC --key-file HEXFILE [--sector-size N]
                    [--iv-offset N] [--offset BYTES] IN OUT
      read the plaintext IN, write the ciphertext into OUT at --offset,
      in place (OUT is created if missing, never truncated).

HEXFILE holds the volume key as hex (spaces, colons and newlines ignored),
e.g. as printed in cryptsetup's "MK dump".
"""

import argparse
import ctypes
import hashlib
import os
import sys

CHUNK = 1 << 20


class Crypto:
    """Thin ctypes binding of the few EVP calls we need."""

    def __init__(self):
        self.lib = ctypes.CDLL("libcrypto.so.3")
        lib = self.lib
        lib.EVP_CIPHER_fetch.restype = ctypes.c_void_p
        lib.EVP_CIPHER_fetch.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.EVP_CIPHER_free.argtypes = [ctypes.c_void_p]
        lib.EVP_CIPHER_CTX_new.restype = ctypes.c_void_p
        lib.EVP_CIPHER_CTX_free.argtypes = [ctypes.c_void_p]
        lib.EVP_CipherInit_ex.restype = ctypes.c_int
        lib.EVP_CipherInit_ex.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        lib.EVP_CipherUpdate.restype = ctypes.c_int
        lib.EVP_CipherUpdate.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.POINTER(ctypes.c_int), ctypes.c_void_p,
                                         ctypes.c_int]
        lib.EVP_CIPHER_CTX_set_padding.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.EVP_CIPHER_get_key_length.restype = ctypes.c_int
        lib.EVP_CIPHER_get_key_length.argtypes = [ctypes.c_void_p]

    def context(self, name, key, enc):
        """Returns a ctx initialised with cipher `name` and `key` (no IV yet)."""
        lib = self.lib
        cipher = lib.EVP_CIPHER_fetch(None, name.encode(), None)
        if not cipher:
            raise SystemExit("refxts: libcrypto has no cipher %s" % name)
        if lib.EVP_CIPHER_get_key_length(cipher) != len(key):
            raise SystemExit("refxts: %s wants a %d-byte key, got %d bytes" %
                             (name, lib.EVP_CIPHER_get_key_length(cipher), len(key)))
        ctx = lib.EVP_CIPHER_CTX_new()
        kbuf = ctypes.create_string_buffer(key, len(key))
        if lib.EVP_CipherInit_ex(ctx, cipher, None, kbuf, None, 1 if enc else 0) != 1:
            raise SystemExit("refxts: EVP_CipherInit_ex(%s) failed" % name)
        lib.EVP_CIPHER_CTX_set_padding(ctx, 0)
        ctypes.memset(kbuf, 0, len(key))
        lib.EVP_CIPHER_free(cipher)
        return ctx

    def run(self, ctx, iv, src_addr, dst_addr, length, enc):
        """(Re)starts ctx at `iv` and processes length bytes src -> dst."""
        lib = self.lib
        outl = ctypes.c_int(0)
        ivbuf = ctypes.create_string_buffer(iv, len(iv)) if iv is not None else None
        if lib.EVP_CipherInit_ex(ctx, None, None, None, ivbuf, 1 if enc else 0) != 1:
            raise SystemExit("refxts: EVP_CipherInit_ex(iv) failed")
        if lib.EVP_CipherUpdate(ctx, dst_addr, ctypes.byref(outl), src_addr, length) != 1:
            raise SystemExit("refxts: EVP_CipherUpdate failed")
        if outl.value != length:
            raise SystemExit("refxts: EVP_CipherUpdate returned %d of %d bytes" %
                             (outl.value, length))


class SectorCipher:
    """dm-crypt's view of a cipher spec: cipher-mode-ivgen[:ivopts]."""

    def __init__(self, crypto, spec, key, sector_size, iv_offset, enc):
        parts = spec.split("-")
        if len(parts) == 2 and parts[1] == "ecb":
            parts.append("null")
        if len(parts) != 3:
            raise SystemExit("refxts: cannot parse cipher spec %r" % spec)
        name, mode, ivgen = parts
        if name != "aes":
            raise SystemExit("refxts: only aes is implemented, not %r" % name)
        if sector_size not in (512, 1024, 2048, 4096):
            raise SystemExit("refxts: bad sector size %d" % sector_size)
        if mode == "xts":
            if len(key) not in (32, 64):
                raise SystemExit("refxts: xts needs a 256 or 512-bit key")
            evp = "AES-%d-XTS" % (len(key) * 4)
        elif mode in ("cbc", "ecb"):
            if len(key) not in (16, 24, 32):
                raise SystemExit("refxts: %s needs a 128/192/256-bit key" % mode)
            evp = "AES-%d-%s" % (len(key) * 8, mode.upper())
        else:
            raise SystemExit("refxts: unsupported mode %r" % mode)
        self.crypto = crypto
        self.enc = enc
        self.ctx = crypto.context(evp, key, enc)
        self.sector_size = sector_size
        self.iv_offset = iv_offset
        self.essiv_ctx = None
        ivname, _, ivopt = ivgen.partition(":")
        self.ivname = ivname
        if ivname == "essiv":
            if not ivopt:
                raise SystemExit("refxts: essiv needs a hash, e.g. essiv:sha256")
            salt = hashlib.new(ivopt, key).digest()
            if len(salt) not in (16, 24, 32):
                raise SystemExit("refxts: essiv hash %s gives no AES key size" % ivopt)
            # ESSIV: IV = E_{hash(key)}(plain64 sector number), same block cipher.
            self.essiv_ctx = crypto.context("AES-%d-ECB" % (len(salt) * 8), salt, True)
        elif ivname not in ("plain", "plain64", "null"):
            raise SystemExit("refxts: unsupported IV generator %r" % ivgen)
        if mode == "ecb" and ivname != "null":
            raise SystemExit("refxts: ecb takes no IV")

    def iv(self, n):
        """IV for 512-byte unit number n."""
        if self.ivname == "plain":
            return (n & 0xFFFFFFFF).to_bytes(4, "little") + bytes(12)
        if self.ivname == "plain64":
            return (n & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") + bytes(8)
        if self.ivname == "null":
            return None
        blk = (n & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little") + bytes(8)
        src = ctypes.create_string_buffer(blk, 16)
        dst = ctypes.create_string_buffer(16)
        self.crypto.run(self.essiv_ctx, None, src, dst, 16, True)
        return dst.raw

    def process(self, data, first_sector):
        """Processes whole sectors; first_sector counts sector_size units."""
        ss = self.sector_size
        if len(data) % ss:
            raise SystemExit("refxts: length %d is not a multiple of the sector size %d" %
                             (len(data), ss))
        src = ctypes.create_string_buffer(bytes(data), len(data))
        dst = ctypes.create_string_buffer(len(data))
        sbase = ctypes.addressof(src)
        dbase = ctypes.addressof(dst)
        per = ss // 512
        for i in range(len(data) // ss):
            n = self.iv_offset + (first_sector + i) * per
            self.crypto.run(self.ctx, self.iv(n), sbase + i * ss, dbase + i * ss, ss, self.enc)
        return dst.raw


def read_key(path):
    with open(path, "r", encoding="ascii") as f:
        text = f.read()
    hexs = "".join(c for c in text if c not in " \t\r\n:")
    try:
        return bytes.fromhex(hexs)
    except ValueError:
        raise SystemExit("refxts: %s does not hold a hex key" % path)


def main():
    ap = argparse.ArgumentParser(description="reference LUKS sector cipher (libcrypto via ctypes)")
    ap.add_argument("op", choices=["encrypt", "decrypt"])
    ap.add_argument("--cipher", required=True)
    ap.add_argument("--key-file", required=True, help="file holding the volume key in hex")
    ap.add_argument("--sector-size", type=int, default=512)
    ap.add_argument("--iv-offset", type=int, default=0, help="IV of the first sector, 512-byte units")
    ap.add_argument("--offset", type=int, default=0, help="byte offset of the data area")
    ap.add_argument("--length", type=int, default=None, help="bytes to decrypt")
    ap.add_argument("input")
    ap.add_argument("output")
    a = ap.parse_args()

    enc = a.op == "encrypt"
    sc = SectorCipher(Crypto(), a.cipher, read_key(a.key_file), a.sector_size, a.iv_offset, enc)
    chunk = CHUNK - CHUNK % a.sector_size
    sector = 0
    if enc:
        with open(a.input, "rb") as fin:
            fd = os.open(a.output, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                pos = a.offset
                while True:
                    buf = fin.read(chunk)
                    if not buf:
                        break
                    out = sc.process(buf, sector)
                    os.pwrite(fd, out, pos)
                    pos += len(out)
                    sector += len(buf) // a.sector_size
            finally:
                os.close(fd)
    else:
        with open(a.input, "rb") as fin:
            fin.seek(a.offset)
            left = a.length
            fout = sys.stdout.buffer if a.output == "-" else open(a.output, "wb")
            try:
                while left is None or left > 0:
                    want = chunk if left is None else min(chunk, left)
                    buf = fin.read(want)
                    if not buf:
                        if left:
                            raise SystemExit("refxts: %s ends %d bytes early" % (a.input, left))
                        break
                    fout.write(sc.process(buf, sector))
                    sector += len(buf) // a.sector_size
                    if left is not None:
                        left -= len(buf)
            finally:
                if fout is not sys.stdout.buffer:
                    fout.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
