#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Header validation against the peer: one precise edit per rule of the LUKS2 (and LUKS1)
on-disk format to a valid cryptsetup-made header, then vmcrypt's verdict next to
cryptsetup's, live.

For every case the header verdict (vmcrypt dump / cryptsetup luksDump) and the key
verdict (vmcrypt test-key / cryptsetup open --test-passphrase) must agree: both accept
or both reject. When vmcrypt rejects, it must exit with the documented status the case
names (6 corrupted header, 7 unsupported; 2 for a passphrase no keyslot verifies), print
one error line, and leave the image's bytes as they were. Some cases also name the
status of a data access (vmcrypt decrypt), which has no unprivileged cryptsetup peer.

Environment: VMCRYPT (the binary), BADINPUT_DIR (this directory, for hdrtool.py).
  validation.py [-v] [-k SUBSTRING]    run (all cases, or those whose name matches)
Exit 0, 1 (a disagreement or a failed check), 77 (cryptsetup missing: skipped).
"""
import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.environ.get("BADINPUT_DIR") or os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hdrtool  # noqa: E402  (this directory's header editor)

VMCRYPT = os.environ.get("VMCRYPT", "")
CRYPTSETUP = shutil.which("cryptsetup")
PASSPHRASE = b"correct horse battery"
U64MAX = 2**64 - 1
OK, PASS, CORRUPT, NOTSUP = 0, 2, 6, 7


# --- edits: each returns a function of the image path -------------------------------

def jset(path, value, copy=None):
    """Set a JSON path (a.b.0.c) in both metadata copies (or one), checksums fixed."""
    return lambda img: hdrtool.json_edit(img, copy, lambda d: hdrtool.json_set(d, path, value))


def jdel(path, copy=None):
    return lambda img: hdrtool.json_edit(img, copy, lambda d: hdrtool.json_del(d, path))


def jfn(fn, copy=None):
    """Any change of the parsed document; fn(doc) edits in place."""
    def edit(img):
        def apply(d):
            fn(d)
            return d
        hdrtool.json_edit(img, copy, apply)
    return edit


def jtext(text, copy=None, fill=b"\0"):
    """Replace the whole JSON area by text, then fill (NUL: terminated; else not)."""
    def edit(img):
        def area_edit(area):
            n = len(area) - 4096
            area[4096:] = (text + fill * n)[:n]
        hdrtool.rewrite(img, copy, area_edit)
    return edit


def jtext_of(fn, copy=None, fill=b"\0"):
    """Like jtext with the text made from the current document by fn(doc) -> bytes."""
    def edit(img):
        doc = current(img)
        jtext(fn(doc), copy, fill)(img)
    return edit


def binset(copy, off, data, fix=True):
    """Bytes into a binary header copy; the checksum recomputed unless fix is False."""
    return lambda img: hdrtool.rewrite(
        img, copy, lambda a: a.__setitem__(slice(off, off + len(data)), data), raw=not fix)


def put(off, data):
    """Bytes at a file offset, nothing recomputed (LUKS1, signatures)."""
    def edit(img):
        with open(img, "r+b") as f:
            f.seek(off)
            f.write(data)
    return edit


def seq(*edits):
    def edit(img):
        for e in edits:
            e(img)
    return edit


def current(img):
    with open(img, "rb") as f:
        size = hdrtool.hdr_size(f)
        f.seek(4096)
        return json.loads(f.read(size - 4096).split(b"\0", 1)[0])


def l1ks(slot, field):
    """File offset of a LUKS1 keyslot field."""
    return 208 + 48 * slot + {"active": 0, "iter": 4, "salt": 8, "offset": 40, "stripes": 44}[field]


def be32(v):
    return struct.pack(">I", v)


def str_field(s, n):
    return s.encode().ljust(n, b"\0")


# --- the cases ----------------------------------------------------------------------

class Case:
    def __init__(self, base, rule, name, edit, code=None, key=None, data=None, peer_bug=None):
        """code: vmcrypt's status for the header (dump) when it rejects it; key: for
        test-key when the header is accepted but the key cannot be verified (default:
        2, or code); data: vmcrypt decrypt's status when it must be checked."""
        self.base, self.rule, self.name, self.edit = base, rule, name, edit
        self.code, self.key, self.data = code, key, data
        # Where cryptsetup 2.6 is wrong (it unlocks with any passphrase): vmcrypt must
        # refuse, the peer's verdict is shown, and the case is counted apart.
        self.peer_bug = peer_bug


def nested(depth):
    v = []
    for _ in range(depth - 1):
        v = [v]
    return v


def add_second_segment(seg1, link=True, size0="2097152"):
    def fn(d):
        d["segments"]["0"]["size"] = size0
        d["segments"]["1"] = seg1
        if link:
            d["digests"]["0"]["segments"].append("1")
    return fn


CRYPT1 = {"type": "crypt", "offset": "18874368", "size": "dynamic", "iv_tweak": "4096",
          "encryption": "aes-xts-plain64", "sector_size": 4096}


def luks2_cases():
    c = []

    def add(rule, name, edit, code=None, key=None, data=None, base="l2", peer_bug=None):
        c.append(Case(base, rule, name, edit, code, key, data, peer_bug))

    add("baseline", "valid cryptsetup header", lambda img: None)
    # Keyslots: the generic object.
    add("keyslot", "type missing", jdel("keyslots.0.type"), CORRUPT)
    add("keyslot", "type a number", jset("keyslots.0.type", 2), CORRUPT)
    add("keyslot", "type unknown (kept, never opened)", jset("keyslots.0.type", "luks3"), key=4)
    add("keyslot", "key_size missing", jdel("keyslots.0.key_size"), CORRUPT)
    add("keyslot", "key_size a string", jset("keyslots.0.key_size", "64"), CORRUPT)
    add("keyslot", "key_size negative", jset("keyslots.0.key_size", -64), CORRUPT)
    add("keyslot", "key_size 2^32", jset("keyslots.0.key_size", 2**32), CORRUPT)
    add("keyslot", "key_size 2^64 (beyond int64)", jset("keyslots.0.key_size", 2**64), CORRUPT)
    add("keyslot", "key_size 32 (digest mismatch)", jset("keyslots.0.key_size", 32))
    add("keyslot", "id not a number", jset("keyslots.x", {"type": "luks3", "key_size": 1}),
        CORRUPT)
    add("keyslot", "priority 0 (ignored unless named)", jset("keyslots.0.priority", 0), key=4)
    add("keyslot", "priority 3 (never tried on its own)", jset("keyslots.0.priority", 3), key=4)
    add("keyslot", "priority \"high\" (json-c reads 0)", jset("keyslots.0.priority", "high"),
        key=4)
    add("keyslot", "priority \"2\" (json-c reads 2)", jset("keyslots.0.priority", "2"))
    add("keyslot", "priority 2", jset("keyslots.0.priority", 2))
    add("keyslot", "without a digest", jset("digests.0.keyslots", []), CORRUPT)
    add("keyslot", "bound to two digests",
        jfn(lambda d: d["digests"].__setitem__("1", dict(d["digests"]["0"]))), CORRUPT)
    # Keyslot area.
    add("area", "missing", jdel("keyslots.0.area"), CORRUPT)
    add("area", "type missing", jdel("keyslots.0.area.type"), CORRUPT)
    add("area", "type unknown", jset("keyslots.0.area.type", "journal"), CORRUPT)
    add("area", "offset a number", jset("keyslots.0.area.offset", 32768), CORRUPT)
    add("area", "offset with a sign", jset("keyslots.0.area.offset", "+32768"), CORRUPT)
    add("area", "offset with a space", jset("keyslots.0.area.offset", " 32768"), CORRUPT)
    add("area", "offset 2^64 (21 digits)", jset("keyslots.0.area.offset", str(2**64)), CORRUPT)
    add("area", "offset 2^64-1", jset("keyslots.0.area.offset", str(U64MAX)), CORRUPT)
    add("area", "size 0", jset("keyslots.0.area.size", "0"), CORRUPT)
    add("area", "size not a number", jset("keyslots.0.area.size", "lots"), CORRUPT)
    add("area", "encryption missing", jdel("keyslots.0.area.encryption"), CORRUPT)
    add("area", "key_size missing", jdel("keyslots.0.area.key_size"), CORRUPT)
    add("area", "key_size a string", jset("keyslots.0.area.key_size", "64"), CORRUPT)
    add("area", "over the binary header", jset("keyslots.0.area.offset", "0"), CORRUPT)
    add("area", "in the secondary copy", jset("keyslots.0.area.offset", "16384"), CORRUPT)
    add("area", "past the keyslots area", jset("keyslots.0.area.offset", "16773120"), CORRUPT)
    add("area", "overlapping another keyslot's area",
        jfn(lambda d: d["keyslots"].__setitem__("1", json.loads(json.dumps(
            dict(d["keyslots"]["0"], area=dict(d["keyslots"]["0"]["area"], offset="36864"))))) or
            d["digests"]["0"]["keyslots"].append("1")), CORRUPT)
    add("area", "two keyslots on one area",
        jfn(lambda d: d["keyslots"].__setitem__("1", json.loads(json.dumps(d["keyslots"]["0"])))
            or d["digests"]["0"]["keyslots"].append("1")), CORRUPT)
    add("area", "smaller than the key material", jset("keyslots.0.area.size", "4096"), CORRUPT,
        key=CORRUPT)
    add("area", "cipher unknown", jset("keyslots.0.area.encryption", "blowfish-xts-plain64"),
        key=NOTSUP)
    add("area", "cipher serpent (supported, not the one used)",
        jset("keyslots.0.area.encryption", "serpent-xts-plain64"), key=2)
    add("area", "cipher key size 48 for aes-xts (AES-192, not the one used)",
        jset("keyslots.0.area.key_size", 48), key=2)
    add("area", "cipher key size 40 for aes-xts", jset("keyslots.0.area.key_size", 40),
        key=CORRUPT)
    # Anti-forensic splitter.
    add("af", "missing", jdel("keyslots.0.af"), CORRUPT)
    add("af", "type luks2", jset("keyslots.0.af.type", "luks2"), CORRUPT)
    add("af", "hash missing", jdel("keyslots.0.af.hash"), CORRUPT)
    add("af", "stripes a string", jset("keyslots.0.af.stripes", "4000"), CORRUPT)
    add("af", "stripes 0", jset("keyslots.0.af.stripes", 0), CORRUPT, key=CORRUPT)
    add("af", "stripes 1 (wrong key)", jset("keyslots.0.af.stripes", 1))
    add("af", "hash unknown", jset("keyslots.0.af.hash", "nosuchhash"), key=NOTSUP)
    # KDF.
    add("kdf", "missing", jdel("keyslots.0.kdf"), CORRUPT)
    add("kdf", "type missing", jdel("keyslots.0.kdf.type"), CORRUPT)
    add("kdf", "type unknown", jset("keyslots.0.kdf.type", "scrypt"), key=NOTSUP)
    add("kdf", "pbkdf2 with an extra member", jset("keyslots.0.kdf.memory", 32))
    add("kdf", "pbkdf2 hash missing", jdel("keyslots.0.kdf.hash"), CORRUPT)
    add("kdf", "pbkdf2 hash unknown", jset("keyslots.0.kdf.hash", "nosuchhash"), key=NOTSUP)
    add("kdf", "pbkdf2 iterations a string", jset("keyslots.0.kdf.iterations", "1000"), CORRUPT)
    add("kdf", "pbkdf2 iterations 0", jset("keyslots.0.kdf.iterations", 0), key=CORRUPT)
    add("kdf", "salt missing", jdel("keyslots.0.kdf.salt"), CORRUPT)
    add("kdf", "salt a number", jset("keyslots.0.kdf.salt", 5), CORRUPT)
    add("kdf", "salt not base64", jset("keyslots.0.kdf.salt", "!!!"), key=CORRUPT)
    add("kdf", "argon2id", lambda img: None, base="l2a")
    add("kdf", "argon2i name on an argon2id slot", jset("keyslots.0.kdf.type", "argon2i"),
        base="l2a")
    add("kdf", "legacy name argon2", jset("keyslots.0.kdf.type", "argon2"), key=NOTSUP,
        base="l2a")
    add("kdf", "argon2 with an extra member", jset("keyslots.0.kdf.hash", "sha256"), base="l2a")
    add("kdf", "argon2 cpus missing", jdel("keyslots.0.kdf.cpus"), CORRUPT, base="l2a")
    add("kdf", "argon2 memory a string", jset("keyslots.0.kdf.memory", "32"), CORRUPT,
        base="l2a")
    add("kdf", "argon2 time 0", jset("keyslots.0.kdf.time", 0), key=CORRUPT, base="l2a")
    # Digests.
    add("digest", "type missing", jdel("digests.0.type"), CORRUPT)
    add("digest", "type unknown", jset("digests.0.type", "argon2"), key=NOTSUP)
    add("digest", "keyslots missing", jdel("digests.0.keyslots"), CORRUPT)
    add("digest", "keyslots a string", jset("digests.0.keyslots", "0"), CORRUPT)
    add("digest", "keyslots with a number", jset("digests.0.keyslots", [0]), CORRUPT)
    add("digest", "names a missing keyslot", jset("digests.0.keyslots", ["0", "5"]), CORRUPT)
    add("digest", "segments missing", jdel("digests.0.segments"), CORRUPT)
    add("digest", "names a missing segment", jset("digests.0.segments", ["0", "3"]), CORRUPT)
    add("digest", "salt not base64", jset("digests.0.salt", "!!!"), key=CORRUPT)
    add("digest", "digest not base64", jset("digests.0.digest", "!!!"), key=CORRUPT)
    add("digest", "digest 5 bytes", jset("digests.0.digest", "AAAAAAA="), key=CORRUPT,
        peer_bug="cryptsetup 2.6 skips the check of a digest shorter than 20 bytes and "
        "takes any passphrase")
    add("digest", "iterations a string", jset("digests.0.iterations", "1000"), key=CORRUPT)
    add("digest", "hash unknown", jset("digests.0.hash", "nosuchhash"), key=NOTSUP,
        peer_bug="cryptsetup 2.6 skips the check of a digest whose hash it does not know "
        "and takes any passphrase")
    add("digest", "id not a number", jfn(lambda d: d["digests"].__setitem__(
        "x", d["digests"].pop("0"))), CORRUPT)
    # Segments.
    add("segment", "type missing", jdel("segments.0.type"), CORRUPT)
    add("segment", "offset a number", jset("segments.0.offset", 16777216), CORRUPT)
    add("segment", "offset not 512-aligned", jset("segments.0.offset", "16777217"), CORRUPT)
    add("segment", "offset 2^64 (21 digits)", jset("segments.0.offset", str(2**64)), CORRUPT)
    add("segment", "size a number", jset("segments.0.size", 4096), CORRUPT)
    add("segment", "size 0", jset("segments.0.size", "0"), CORRUPT)
    add("segment", "size not 512-aligned", jset("segments.0.size", "4097"), CORRUPT)
    add("segment", "size not a multiple of its sector", jset("segments.0.size", "512"), CORRUPT)
    add("segment", "size Dynamic", jset("segments.0.size", "Dynamic"), CORRUPT)
    add("segment", "size fixed", jset("segments.0.size", "2097152"))
    add("segment", "iv_tweak missing", jdel("segments.0.iv_tweak"), CORRUPT)
    add("segment", "iv_tweak a number", jset("segments.0.iv_tweak", 0), CORRUPT)
    add("segment", "iv_tweak negative", jset("segments.0.iv_tweak", "-1"), CORRUPT)
    add("segment", "iv_tweak 2^64-1", jset("segments.0.iv_tweak", str(U64MAX)))
    add("segment", "encryption missing", jdel("segments.0.encryption"), CORRUPT)
    add("segment", "encryption a number", jset("segments.0.encryption", 5), CORRUPT)
    add("segment", "cipher capi:xts(aes)-plain64",
        jset("segments.0.encryption", "capi:xts(aes)-plain64"), data=NOTSUP)
    add("segment", "cipher unknown", jset("segments.0.encryption", "blowfish-cbc-plain64"),
        data=NOTSUP)
    for s in (512, 1024, 2048):
        add("segment", f"sector_size {s}", jset("segments.0.sector_size", s))
    for s in (0, 1000, 1536, 8192, 2**32):
        add("segment", f"sector_size {s}", jset("segments.0.sector_size", s), CORRUPT)
    add("segment", "sector_size a string", jset("segments.0.sector_size", "4096"), CORRUPT)
    add("segment", "sector_size missing", jdel("segments.0.sector_size"), CORRUPT)
    add("segment", "integrity incomplete", jset("segments.0.integrity", {"type": "hmac(sha256)"}),
        CORRUPT)
    add("segment", "integrity a string", jset("segments.0.integrity", "hmac(sha256)"), CORRUPT)
    add("segment", "integrity (authenticated encryption)", jset("segments.0.integrity", {
        "type": "hmac(sha256)", "journal_encryption": "none", "journal_integrity": "none"}),
        data=NOTSUP)
    add("segment", "flags an object", jset("segments.0.flags", {}), CORRUPT)
    add("segment", "flags with a number", jset("segments.0.flags", [1]), CORRUPT)
    add("segment", "flags unknown string", jset("segments.0.flags", ["vmcrypt-test"]))
    add("segment", "without a digest", jset("digests.0.segments", []), CORRUPT)
    add("segment", "id not a number", jfn(lambda d: d["segments"].__setitem__(
        "x", d["segments"].pop("0"))), CORRUPT)
    add("segment", "section empty", jset("segments", {}), CORRUPT)
    add("segment", "second crypt segment", jfn(add_second_segment(CRYPT1)), data=NOTSUP)
    add("segment", "second segment without a digest",
        jfn(add_second_segment(CRYPT1, link=False)), CORRUPT)
    add("segment", "second segment of unknown type", jfn(add_second_segment(
        {"type": "vmcrypt-test", "offset": "18874368", "size": "dynamic"}, link=False)),
        data=NOTSUP)
    add("segment", "only segment of unknown type", jset("segments.0.type", "vmcrypt-test"),
        data=NOTSUP)
    add("segment", "only segment linear", jset("segments.0.type", "linear"), data=NOTSUP)
    add("segment", "gap in segment ids", jfn(lambda d: (
        add_second_segment(CRYPT1)(d), d["segments"].__setitem__("2", d["segments"].pop("1")),
        d["digests"]["0"]["segments"].__setitem__(1, "2"))), CORRUPT)
    add("segment", "overlapping segments", jfn(add_second_segment(
        dict(CRYPT1, offset="17825792"))), CORRUPT)
    add("segment", "dynamic segment not last", jfn(add_second_segment(
        dict(CRYPT1, size="1048576"), size0="dynamic")), CORRUPT)
    add("segment", "backup segment only", jset("segments.0.flags", ["backup-final"]), CORRUPT)
    add("segment", "over the keyslots area", jset("segments.0.offset", "32768"), CORRUPT)
    # Config.
    add("config", "json_size missing", jdel("config.json_size"), CORRUPT)
    add("config", "json_size a number", jset("config.json_size", 12288), CORRUPT)
    add("config", "json_size not the header's", jset("config.json_size", "28672"), CORRUPT)
    add("config", "keyslots_size missing", jdel("config.keyslots_size"), CORRUPT)
    add("config", "keyslots_size not 4 KiB aligned", jset("config.keyslots_size", "16744447"),
        CORRUPT)
    add("config", "keyslots_size over the data", jset("config.keyslots_size", "16748544"),
        CORRUPT)
    add("config", "keyslots_size above 128 MiB", jfn(lambda d: (
        d["config"].__setitem__("keyslots_size", str(128 * 2**20 + 4096)),
        d["segments"]["0"].__setitem__("offset", str(256 * 2**20)))), CORRUPT)
    add("config", "keyslots_size below the area end", jset("config.keyslots_size", "262144"),
        CORRUPT)
    add("config", "keyslots_size 0", jset("config.keyslots_size", "0"), CORRUPT)
    add("config", "keyslots area past the end of the file", jfn(lambda d: (
        d["config"].__setitem__("keyslots_size", "67076096"),
        d["segments"]["0"].__setitem__("offset", "67108864"))), CORRUPT)
    add("config", "flags a string", jset("config.flags", "allow-discards"), CORRUPT)
    add("config", "flags with a number", jset("config.flags", [1]), CORRUPT)
    add("config", "flags known and unknown", jset("config.flags", ["allow-discards", "x-y"]))
    add("config", "requirements an array", jset("config.requirements", []), CORRUPT)
    add("config", "requirements mandatory a string",
        jset("config.requirements", {"mandatory": "x"}), CORRUPT)
    add("config", "requirements mandatory with a number",
        jset("config.requirements", {"mandatory": [1]}), CORRUPT)
    add("config", "requirements empty", jset("config.requirements", {}))
    add("config", "requirement mandatory unknown",
        jset("config.requirements", {"mandatory": ["vmcrypt-test-unknown"]}), data=NOTSUP)
    add("config", "requirement online-reencrypt without a reencrypt keyslot",
        jset("config.requirements", {"mandatory": ["online-reencrypt-v2"]}), CORRUPT)
    add("config", "unknown member", jset("config.vmcrypt_test", "x"))
    # Tokens.
    add("token", "unknown type", jset("tokens.0", {"type": "vmcrypt-test", "keyslots": ["0"]}))
    add("token", "type missing", jset("tokens.0", {"keyslots": []}), CORRUPT)
    add("token", "type a number", jset("tokens.0", {"type": 1, "keyslots": []}), CORRUPT)
    add("token", "keyslots missing", jset("tokens.0", {"type": "x"}), CORRUPT)
    add("token", "keyslots a string", jset("tokens.0", {"type": "x", "keyslots": "0"}), CORRUPT)
    add("token", "keyslots with a number", jset("tokens.0", {"type": "x", "keyslots": [0]}),
        CORRUPT)
    add("token", "names a missing keyslot", jset("tokens.0", {"type": "x", "keyslots": ["3"]}),
        CORRUPT)
    add("token", "id not a number", jset("tokens.x", {"type": "x", "keyslots": []}), CORRUPT)
    add("token", "a string", jset("tokens.0", "x"), CORRUPT)
    add("token", "nested 20 deep", jset("tokens.0", {"type": "x", "keyslots": [],
                                                      "d": nested(20)}))
    # Top level.
    for s in ("keyslots", "digests", "segments", "tokens", "config"):
        add("sections", f"{s} missing", jdel(s), CORRUPT)
        add("sections", f"{s} an array", jset(s, []), CORRUPT)
    add("sections", "unknown top-level member", jset("vmcrypt_test", {"a": 1}))
    # JSON text.
    add("json", "leading space", jtext_of(lambda d: b" " + json.dumps(d).encode()), CORRUPT)
    add("json", "trailing space", jtext_of(lambda d: json.dumps(d).encode() + b" "), CORRUPT)
    add("json", "data after the terminating NUL", jtext_of(
        lambda d: json.dumps(d).encode() + b"\0garbage"), CORRUPT)
    add("json", "not terminated (both copies)", jtext_of(
        lambda d: json.dumps(d).encode(), fill=b" "), CORRUPT)
    add("json", "primary not terminated, checksum valid", jtext_of(
        lambda d: json.dumps(d).encode(), copy=0, fill=b" "))
    add("json", "primary fails validation, secondary valid",
        jset("keyslots.0.area.offset", "0", copy=0))
    add("json", "secondary fails validation", jset("keyslots.0.area.offset", "0", copy=1))
    add("json", "primary not JSON", jtext(b"{\"keyslots\":", copy=0))
    add("json", "not an object", jtext(b"[]"), CORRUPT)
    add("json", "duplicate key (last wins)", jtext_of(lambda d: json.dumps(d).encode()[:-1] +
                                                      b",\"config\":" +
                                                      json.dumps(d["config"]).encode() + b"}"))
    # Binary header and the two copies.
    add("binary", "primary seqid older (secondary's JSON used)", seq(
        jset("tokens.0", {"type": "x", "keyslots": []}, copy=1),
        binset(1, 16, struct.pack(">Q", 9))))
    add("binary", "secondary seqid older", binset(0, 16, struct.pack(">Q", 9)))
    add("binary", "UUIDs differ between copies",
        binset(1, 168, str_field("d4b9c4b2-0c36-4d6a-9d0c-1f2f4f1ac0de", 40)))
    add("binary", "labels differ between copies", binset(1, 24, str_field("other", 48)))
    add("binary", "checksum sha1", seq(binset(0, 72, str_field("sha1", 32)),
                                       binset(1, 72, str_field("sha1", 32))))
    add("binary", "checksum algorithm unknown", seq(
        binset(0, 72, str_field("nosuchhash", 32), fix=False),
        binset(1, 72, str_field("nosuchhash", 32), fix=False)), CORRUPT)
    add("binary", "primary checksum wrong", binset(0, 448, b"\xff" * 4, fix=False))
    add("binary", "both checksums wrong", seq(binset(0, 448, b"\xff" * 4, fix=False),
                                              binset(1, 448, b"\xff" * 4, fix=False)), CORRUPT)
    add("binary", "primary header size field 32 KiB", binset(0, 8, struct.pack(">Q", 32768)),
        CORRUPT)
    add("binary", "primary version 3", binset(0, 6, struct.pack(">H", 3)), NOTSUP)
    add("binary", "primary magic gone", put(0, b"\0" * 6))
    add("signature", "LVM2 label over the primary header", put(512, lvm2_label()), CORRUPT)
    add("signature", "LVM2 label in the primary header, checksum valid",
        binset(0, 512, lvm2_label()))
    add("signature", "swap signature over the primary header", put(4086, b"SWAPSPACE2"),
        CORRUPT)
    add("signature", "swap signature, both copies valid", binset(0, 4086, b"SWAPSPACE2"))
    return c


def lvm2_label():
    """An LVM2 physical volume label (sector 1): LABELONE, its crc over the rest."""
    import zlib  # noqa: F401 (crc below is LVM's own, not zlib's)
    label = bytearray(32)
    label[0:8] = b"LABELONE"
    struct.pack_into("<Q", label, 8, 1)           # sector of this label
    struct.pack_into("<I", label, 20, 32)         # offset of the contents
    label[24:32] = b"LVM2 001"
    body = bytearray(512)
    body[:32] = label
    body[32:64] = b"vmcrypttestvmcrypttestvmcrypttes"  # pv uuid
    struct.pack_into("<Q", body, 64, 20 * 2**20)   # device size
    struct.pack_into("<I", body, 16, lvm_crc(bytes(body[20:512])))
    return bytes(body)


def lvm_crc(data):
    """LVM2's calc_crc (initial 0xf597a6cf, reflected CRC-32 without final xor)."""
    crc = 0xF597A6CF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc


def luks1_cases():
    c = []

    def add(rule, name, edit, code=None, key=None, data=None):
        c.append(Case("l1", "luks1 " + rule, name, edit, code, key, data))

    add("baseline", "valid cryptsetup header", lambda img: None)
    add("key bytes", "0", put(108, be32(0)), CORRUPT)
    add("key bytes", "16 (no aes-xts key)", put(108, be32(16)), key=CORRUPT)
    add("key bytes", "33", put(108, be32(33)), key=CORRUPT)
    add("key bytes", "2^31", put(108, be32(2**31)), CORRUPT)
    add("stripes", "0 in the active slot", put(l1ks(0, "stripes"), be32(0)), CORRUPT)
    add("stripes", "3999 in the active slot", put(l1ks(0, "stripes"), be32(3999)), CORRUPT)
    add("stripes", "1 in a disabled slot", put(l1ks(5, "stripes"), be32(1)), CORRUPT)
    add("offsets", "key material over the header", put(l1ks(0, "offset"), be32(1)), CORRUPT)
    add("offsets", "key material at sector 2", put(l1ks(0, "offset"), be32(2)))
    add("offsets", "active slot overlapping the next", put(l1ks(0, "offset"), be32(500)),
        CORRUPT)
    add("offsets", "disabled slots overlapping", put(l1ks(6, "offset"), be32(3000)), CORRUPT)
    add("offsets", "payload before the key material end", put(104, be32(2000)), CORRUPT)
    add("offsets", "payload 0 (detached)", put(104, be32(0)))
    add("offsets", "payload past the end of the file", put(104, be32(65536)))
    add("hash", "sha1 (digest mismatch)", put(72, str_field("sha1", 32)))
    add("hash", "unknown", put(72, str_field("nosuchhash", 32)), NOTSUP)
    add("hash", "upper case SHA256", put(72, str_field("SHA256", 32)))
    add("hash", "not terminated", put(72, b"s" * 32), NOTSUP)
    add("cipher", "name unknown", put(8, str_field("nosuch", 32)), key=NOTSUP, data=NOTSUP)
    add("cipher", "mode cbc-plain (no 64-byte aes key)", put(40, str_field("cbc-plain", 32)),
        key=CORRUPT)
    add("cipher", "mode ecb (no 64-byte aes key)", put(40, str_field("ecb", 32)), key=CORRUPT)
    add("cipher", "name not terminated (31 bytes read)", put(8, b"a" * 32), key=NOTSUP)
    add("keyslot", "state neither enabled nor disabled", put(l1ks(3, "active"), be32(1)))
    add("keyslot", "iterations 0", put(l1ks(0, "iter"), be32(0)), key=CORRUPT)
    add("digest", "iterations 0", put(164, be32(0)), key=CORRUPT)
    add("version", "2 over a LUKS1 header", put(6, struct.pack(">H", 2)), CORRUPT)
    return c


# --- running --------------------------------------------------------------------------

class Runner:
    def __init__(self, tmp, verbose):
        self.tmp, self.verbose = tmp, verbose
        self.passfile = os.path.join(tmp, "pass")
        with open(self.passfile, "wb") as f:
            f.write(PASSPHRASE)
        self.bases = {}
        self.failures = []

    def cs(self, *args):
        p = subprocess.run([CRYPTSETUP, "--disable-locks", *args], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return p.returncode, p.stderr.decode(errors="replace")

    def vmc(self, *args):
        p = subprocess.run([VMCRYPT, *args], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        return p.returncode, p.stderr.decode(errors="replace")

    def make_base(self, name, luks_type, size, *opts):
        path = os.path.join(self.tmp, name + ".base")
        with open(path, "wb") as f:
            f.truncate(size)
        rc, err = self.cs("luksFormat", "--batch-mode", "--type", luks_type, "--key-file",
                          self.passfile, *opts, path)
        if rc != 0:
            raise SystemExit(f"cryptsetup luksFormat {name} failed: {err}")
        # Keep the non-zero 4 KiB blocks only: every case gets a fresh sparse copy.
        blocks = []
        with open(path, "rb") as f:
            off = 0
            while True:
                b = f.read(1 << 12)
                if not b:
                    break
                if b.count(0) != len(b):
                    blocks.append((off, b))
                off += len(b)
        self.bases[name] = (size, blocks)

    def fresh(self, base):
        size, blocks = self.bases[base]
        path = os.path.join(self.tmp, "case.img")
        with open(path, "wb") as f:
            f.truncate(size)
            for off, b in blocks:
                f.seek(off)
                f.write(b)
        return path

    def fail(self, case, msg):
        self.failures.append(f"{case.rule}: {case.name}: {msg}")
        print(f"FAIL: {case.rule}: {case.name}: {msg}", file=sys.stderr)

    def check_vmc(self, case, verb, rc, err, before, img, want):
        if rc >= 128 or "Sanitizer" in err or "runtime error:" in err:
            self.fail(case, f"vmcrypt {verb} crashed (exit {rc}): {err[:500]}")
        if sha(img) != before:
            self.fail(case, f"vmcrypt {verb} changed the image (exit {rc})")
        if rc != 0:
            lines = [x for x in err.splitlines() if x.strip() and "warning:" not in x]
            if len(lines) != 1:
                self.fail(case, f"vmcrypt {verb}: exit {rc} with {len(lines)} error lines: "
                          + " | ".join(lines)[:400])
            if want is not None and rc != want:
                self.fail(case, f"vmcrypt {verb}: exit {rc}, expected {want}: "
                          + (lines[0] if lines else ""))

    def run(self, case):
        img = self.fresh(case.base)
        case.edit(img)
        before = sha(img)
        d_rc, d_err = self.vmc("dump", img)
        self.check_vmc(case, "dump", d_rc, d_err, before, img, case.code or CORRUPT)
        k_rc, k_err = self.vmc("test-key", img, "--key-file", self.passfile)
        want_key = case.code if d_rc != 0 else case.key if case.key is not None else PASS
        self.check_vmc(case, "test-key", k_rc, k_err, before, img, want_key if d_rc == 0 or
                       d_rc == k_rc else d_rc)
        if case.data is not None:
            out = os.path.join(self.tmp, "out.raw")
            x_rc, x_err = self.vmc("decrypt", img, out, "--key-file", self.passfile)
            self.check_vmc(case, "decrypt", x_rc, x_err, before, img, case.data)
            if x_rc == 0 and case.data != 0:
                self.fail(case, "decrypt succeeded where it must refuse")
            if os.path.exists(out):
                os.unlink(out)
        cd_rc, cd_err = self.cs("luksDump", img)
        ck_rc, ck_err = self.cs("open", "--test-passphrase", "--key-file", self.passfile, img)
        if sha(img) != before:
            print(f"note: cryptsetup changed the image in case {case.name}", file=sys.stderr)
        agree_hdr = (d_rc == 0) == (cd_rc == 0)
        agree_key = (k_rc == 0) == (ck_rc == 0)
        verdict = "accept" if cd_rc == 0 else "reject"
        line = (f"{case.rule}: {case.name}: vmcrypt dump={d_rc} test-key={k_rc}, "
                f"cryptsetup luksDump={cd_rc} test-passphrase={ck_rc}")
        if case.peer_bug:
            if k_rc == 0:
                self.fail(case, "vmcrypt test-key accepted a passphrase it cannot verify")
            print(f"  peer bug  {line}\n    ({case.peer_bug})")
            return None, verdict
        if not agree_hdr or not agree_key:
            self.fail(case, "verdicts differ: " + line + "\n    vmcrypt: " +
                      (d_err or k_err).strip().replace("\n", " | ")[:300] +
                      "\n    cryptsetup: " + (cd_err or ck_err).strip().replace("\n", " | ")[:300])
        elif self.verbose:
            print(f"  {verdict}  {line}")
        return agree_hdr and agree_key, verdict


def sha(path):
    """sha256 of the file's size and data extents (the images are sparse: holes are zeros
    whichever way they read, and reading them costs more than the cases)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        h.update(str(size).encode())
        off = 0
        while off < size:
            try:
                off = os.lseek(f.fileno(), off, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(f.fileno(), off, os.SEEK_HOLE)
            f.seek(off)
            h.update(str(off).encode())
            while off < end:
                b = f.read(min(1 << 20, end - off))
                h.update(b)
                off += len(b)
    return h.hexdigest()


def main(argv):
    verbose = "-v" in argv
    only = argv[argv.index("-k") + 1] if "-k" in argv else None
    if not CRYPTSETUP:
        print("SKIP: validation: cryptsetup is not installed")
        return 77
    if not VMCRYPT or not os.access(VMCRYPT, os.X_OK):
        print("validation.py: VMCRYPT must name the vmcrypt binary", file=sys.stderr)
        return 1
    os.environ["LC_ALL"] = "C"
    with tempfile.TemporaryDirectory(prefix="vmcrypt-validation.") as tmp:
        r = Runner(tmp, verbose)
        fast = ["--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"]
        r.make_base("l2", "luks2", 20 << 20, *fast)
        r.make_base("l2a", "luks2", 20 << 20, "--pbkdf", "argon2id", "--pbkdf-force-iterations",
                    "4", "--pbkdf-memory", "32", "--pbkdf-parallel", "1")
        r.make_base("l1", "luks1", 4 << 20, *fast)
        cases = luks2_cases() + luks1_cases()
        if only:
            cases = [c for c in cases if only in c.rule + ": " + c.name]
        agree = acc = rej = 0
        bugs = []
        for case in cases:
            t0 = time.monotonic()
            ok, verdict = r.run(case)
            if verbose and time.monotonic() - t0 > 0.5:
                print(f"  slow ({time.monotonic() - t0:.1f} s): {case.rule}: {case.name}")
            if ok is None:
                bugs.append(case)
                continue
            agree += ok
            acc += ok and verdict == "accept"
            rej += ok and verdict == "reject"
        print(f"{len(cases) - len(bugs)} cases: vmcrypt and cryptsetup agree on {agree} "
              f"({acc} accepted, {rej} rejected)")
        if bugs:
            print(f"{len(bugs)} more where cryptsetup 2.6 unlocks with any passphrase and "
                  f"vmcrypt refuses: " + "; ".join(f"{c.rule}: {c.name}" for c in bugs))
        if r.failures:
            print(f"{len(r.failures)} failed checks", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
