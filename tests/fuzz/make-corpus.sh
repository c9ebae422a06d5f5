#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Regenerates the seed corpus tests/fuzz/corpus/<harness>/: small valid headers made by
# cryptsetup (cut to the metadata copies), complete tiny images made by mkseed.py
# (passphrase "fuzz", 4000 AF stripes), and single precise corruptions of both.
# The corpus is checked in; run this only to change it, and keep it under 3 MiB (the
# keyslot seeds are most of it: 4000 stripes are key size x 4000 bytes per slot).
#   tests/fuzz/make-corpus.sh [--only audit|scan|qcow2|keyslot] [VMCRYPT]
# VMCRYPT: a built vmcrypt, to check the images. --only remakes one harness's seeds
# (cryptsetup's headers have random salts: remaking them all churns the tree; keyslot
# remakes mkseed.py's images, which are reproducible, and the seeds cut from them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/corpus
only=
if [ "${1:-}" = --only ]; then
	only=$2
	shift 2
fi
vmcrypt=${1:-}
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
command -v cryptsetup >/dev/null || { echo "make-corpus: cryptsetup is needed" >&2; exit 1; }

# The audit parsers' seeds: the audit tests' fixture files, each behind the byte that
# selects its parser in fuzz_audit.c (the enum order there).
audit_seeds()
{
	local fx=$here/../audit/fixtures sel f name
	rm -rf "$out/audit"
	mkdir -p "$out/audit"
	while read -r sel f; do
		[ -f "$fx/$f" ] || continue
		name=$(printf '%02d-%s' "$sel" "$(echo "$f" | tr '/ {}' '____' | cut -c1-60)")
		{ printf '%b' "\\0$(printf '%o' "$sel")"; head -c 20480 "$fx/$f"; } >"$out/audit/$name"
	done <<'LIST'
0 fail/root/proc/swaps
0 warn/root/proc/swaps
1 warn/root/etc/crypttab
2 fail/root/proc/cmdline
2 warn2/root/proc/cmdline
3 fail/root/proc/self/limits
3 warn/root/proc/self/limits
4 fail/root/etc/libvirt/qemu.conf
4 fail/root/etc/default/libvirt-guests
4 fail/root/etc/xen/xl.conf
5 fail/root/etc/systemd/coredump.conf
5 warn/root/etc/systemd/sleep.conf
6 fail/root/sys/kernel/mm/transparent_hugepage/enabled
6 fail/root/sys/power/disk
7 fail/root/etc/libvirt/qemu/db.xml
7 warn/root/etc/libvirt/qemu/web.xml
7 pass/domain-extra.xml
7 warn2/domain-tenant.xml
8 fail/root/var/lib/libvirt/qemu/snapshot/db/before-upgrade.xml
8 fail/root/var/lib/libvirt/qemu/snapshot/db/old.xml
9 fail/root/home/bob/.config/VirtualBox/VirtualBox.xml
10 fail/root/proc/31337/cmdline
10 warn2/root/proc/900/cmdline
11 fail/root/var/lib/libvirt/images/db.img
11 pass/root/var/lib/libvirt/images/enc.qcow2
11 warn/root/var/lib/libvirt/images/plain.qcow2
11 warn2/root/srv/vm/disk.luks
12 pass/root/var/lib/libvirt/images/partitioned.img
12 pass/root/var/lib/libvirt/images/guestfde.img
LIST
	echo "audit seeds: $(find "$out/audit" -type f | wc -l) files"
}
# The key scanner's seeds: the schedules of fuzz_scan.c's fixed key and of a random
# one (with flipped bits), among random bytes, behind the bit-error selector byte.
scan_seeds()
{
	rm -rf "$out/scan"
	mkdir -p "$out/scan"
	"$py" - "$out/scan" <<'PYEOF'
import ctypes, os, random, sys
lib = ctypes.CDLL("libcrypto.so.3")
def sched(key, dec=False):
    buf = ctypes.create_string_buffer(260)
    (lib.AES_set_decrypt_key if dec else lib.AES_set_encrypt_key)(key, len(key) * 8, buf)
    return buf.raw[:{16: 176, 24: 208, 32: 240}[len(key)]]
def swap(b):
    return b"".join(b[i:i + 4][::-1] for i in range(0, len(b), 4))
rnd = random.Random(7)
key = bytes((i * 7 + 3) & 0xff for i in range(64))
other = rnd.randbytes(32)
def flip(b, n):
    b = bytearray(b)
    for _ in range(n):
        i = rnd.randrange(len(b) * 8)
        b[i // 8] ^= 1 << (i % 8)
    return bytes(b)
seeds = {
    "0-known-key-and-schedules": bytes([0]) + rnd.randbytes(100) + key + sched(key[:32])
        + rnd.randbytes(33) + sched(key[32:], True) + swap(sched(key[:32])),
    "0-any-aes256": bytes([0]) + rnd.randbytes(64) + sched(other) + rnd.randbytes(64),
    "1-any-aes128-decrypt-1-error": bytes([1]) + flip(sched(other[:16], True), 1),
    "2-any-aes192-2-errors": bytes([2]) + rnd.randbytes(17) + flip(sched(other[:24]), 2),
    "3-any-swapped-3-errors": bytes([3]) + flip(swap(sched(other)), 3) + bytes(300),
    "0-zeros": bytes([0]) + bytes(1024),
}
for name, data in seeds.items():
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(data)
PYEOF
	echo "scan seeds: $(find "$out/scan" -type f | wc -l) files"
}
# The qcow2 parser's seeds: small whole images made by qemu-img and qemu-io (512-byte and
# 16 KiB clusters, so the L1/L2 tables and the snapshot table fit), the head of an
# encrypted one (header, extensions, the LUKS header pointer), and precise corruptions.
qcow2_seeds()
{
	local q=$out/qcow2 t
	command -v qemu-img >/dev/null || { echo "make-corpus: qemu-img is needed" >&2; exit 1; }
	t=$(mktemp -d)
	rm -rf "$q"
	mkdir -p "$q"
	qio() { local f=$1; shift; qemu-io -f qcow2 "$@" "$f" >/dev/null; }
	qemu-img create -q -f qcow2 -o cluster_size=512 "$t/c512" 256k
	qio "$t/c512" -c 'write -P 0x5a 0 4k' -c 'write -z 64k 4k' -c 'write -P 1 200k 1k'
	qemu-img snapshot -c s1 "$t/c512"
	qio "$t/c512" -c 'write -P 0x33 0 1k'
	cp "$t/c512" "$q/c512-snapshot"
	qemu-img create -q -f qcow2 -o extended_l2=on,cluster_size=16k "$t/xl2" 256k
	qio "$t/xl2" -c 'write -P 0x5a 0 1k' -c 'write -z 16k 4k' -c 'write -P 1 40k 512'
	qemu-img snapshot -c s1 "$t/xl2"
	cp "$t/xl2" "$q/extl2-16k-snapshot"
	qemu-img create -q -f qcow2 -o compat=0.10,cluster_size=512 "$t/v2" 128k
	qio "$t/v2" -c 'write -P 7 0 2k'
	cp "$t/v2" "$q/v2-c512"
	seq 1 12000 | head -c 32768 >"$t/text.raw"
	qemu-img convert -q -c -O qcow2 -o cluster_size=4k "$t/text.raw" "$q/compressed-4k"
	qemu-img create -q -f qcow2 -o cluster_size=512,compression_type=zstd -b c512 -F qcow2 \
		"$t/backed" 256k
	cp "$t/backed" "$q/zstd-backing"
	printf 'fuzz' >"$t/pass"
	# Retried: QEMU's PBKDF benchmark sometimes fails ("Unable to get accurate CPU usage").
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		qemu-img create -q -f qcow2 --object secret,id=s0,file="$t/pass" \
			-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 "$t/enc" 1M \
			2>/dev/null && break
	done
	head -c 4096 "$t/enc" >"$q/encrypted-head"
	# One precise corruption each: dirty, unknown incompatible bit, cluster bits 30.
	cp "$q/c512-snapshot" "$q/bad-dirty"
	printf '\001' | dd of="$q/bad-dirty" bs=1 seek=79 conv=notrunc status=none
	cp "$q/c512-snapshot" "$q/bad-incompat"
	printf '\200' | dd of="$q/bad-incompat" bs=1 seek=72 conv=notrunc status=none
	cp "$q/encrypted-head" "$q/bad-cluster-bits"
	printf '\036' | dd of="$q/bad-cluster-bits" bs=1 seek=23 conv=notrunc status=none
	rm -rf "$t"
	# Hand-made images with a snapshot table, L1/L2 tables and VM state clusters (standard
	# and extended L2 entries, one L2 table outside the file): snap-*.
	"$py" "$here/mkqcow2seed.py" "$q"
	echo "qcow2 seeds: $(find "$q" -type f | wc -l) files, $(cat "$q"/* | wc -c) bytes"
}
# The complete tiny images of mkseed.py (the keyslot harness's seeds) and what is cut from
# them for the other harnesses: a whole image for luks2_hdr and luks1, backups for restore.
keyslot_seeds()
{
	rm -rf "$out/keyslot" "$out/restore" "$out/luks2_hdr/mk2-complete" "$out/luks1/mk1-complete"
	mkdir -p "$out"/{keyslot,restore,luks2_hdr,luks1}
	seed() { "$py" "$here/mkseed.py" "$@"; }
	# Small keys (16 bytes, 32 for XTS): each slot carries key size x 4000 bytes. The LUKS1
	# seeds end after their active slots (--trim, no data): fuzz_keyslot.c zero-extends an
	# input to 2 MiB, which holds the unused slots' areas and a data area of zeros.
	seed luks2 "$out/keyslot/mk2-xts256-pbkdf2-4096" --key-bytes 32 --data-kib 4
	seed luks2 "$out/keyslot/mk2-essiv-argon2id-512-2slots" --cipher aes-cbc-essiv:sha256 \
		--key-bytes 16 --sector-size 512 --kdf argon2id --keyslots 2 --token --data-kib 4
	seed luks2 "$out/keyslot/mk2-xts256-argon2i-sha512" --key-bytes 32 --kdf argon2i --hash sha512 \
		--label seed --data-kib 4
	seed luks2 "$out/keyslot/mk2-cbc-plain64-1024" --cipher aes-cbc-plain64 --key-bytes 16 \
		--sector-size 1024 --data-kib 4
	seed luks1 "$out/keyslot/mk1-xts256-sha256" --key-bytes 32 --data-kib 0 --trim
	seed luks1 "$out/keyslot/mk1-essiv-sha1-2slots" --cipher aes-cbc-essiv:sha256 --key-bytes 16 \
		--hash sha1 --keyslots 2 --data-kib 0 --trim
	seed luks1 "$out/keyslot/mk1-cbc-plain-sha512" --cipher aes-cbc-plain --key-bytes 16 --hash sha512 \
		--data-kib 0 --trim
	if [ -n "$vmcrypt" ]; then
		for f in "$out"/keyslot/*; do
			# As the harness reads it: zero-extended to 2 MiB.
			cp "$f" "$tmp/padded"
			[ "$(stat -c %s "$f")" -ge 2097152 ] || truncate -s 2M "$tmp/padded"
			"$vmcrypt" test-key "$tmp/padded" --key-file "$tmp/pass" ||
				{ echo "make-corpus: vmcrypt does not open $f" >&2; exit 1; }
		done
	fi
	cp "$out/keyslot/mk2-cbc-plain64-1024" "$out/luks2_hdr/mk2-complete"
	cp "$out/keyslot/mk1-cbc-plain-sha512" "$out/luks1/mk1-complete"
	# Backups are the header region: everything before the data (LUKS2: the metadata copies
	# and the keyslots area). A LUKS1 one (all 8 slots' areas) would be 516 KiB or more: its
	# seeds are the phdr and a cut backup, which the parser refuses.
	head -c $((32768 + 65536)) "$out/keyslot/mk2-cbc-plain64-1024" >"$out/restore/mk2-backup"
	head -c $((32768 + 2 * 65536)) "$out/keyslot/mk2-essiv-argon2id-512-2slots" >"$out/restore/mk2-backup-2slots"
	head -c 8192 "$out/keyslot/mk1-cbc-plain-sha512" >"$out/restore/mk1-backup"
	head -c 16384 "$out/keyslot/mk2-cbc-plain64-1024" >"$out/restore/mk2-primary-only"
	head -c 592 "$out/keyslot/mk1-cbc-plain-sha512" >"$out/restore/mk1-phdr-only"
	echo "keyslot seeds: $(find "$out/keyslot" -type f | wc -l) files, $(cat "$out"/keyslot/* | wc -c) bytes"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'fuzz' >"$tmp/pass"
case $only in
audit) audit_seeds; exit 0 ;;
scan) scan_seeds; exit 0 ;;
qcow2) qcow2_seeds; exit 0 ;;
keyslot) keyslot_seeds; exit 0 ;;
esac

rm -rf "$out"
mkdir -p "$out"/{luks1,luks2_hdr,luks2_json,token,keyslot,restore}
audit_seeds
scan_seeds
qcow2_seeds

cs() { cryptsetup --disable-locks --batch-mode "$@"; }
fast=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)

# --- cryptsetup headers ------------------------------------------------------------
cs_luks2() # NAME BYTES_KEPT FORMAT_ARGS...
{
	local name=$1 keep=$2
	shift 2
	truncate -s 20M "$tmp/$name.img"
	cs luksFormat --type luks2 --key-file "$tmp/pass" "$@" "$tmp/$name.img"
	head -c "$keep" "$tmp/$name.img" >"$out/luks2_hdr/cs-$name"
}
cs_luks2 default 32768 --pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32 --pbkdf-parallel 1
cs_luks2 pbkdf2-label 32768 "${fast[@]}" --label fuzz-label --subsystem fuzz-sub --hash sha512
cs_luks2 cbc-essiv-512 32768 "${fast[@]}" --cipher aes-cbc-essiv:sha256 --key-size 256 --sector-size 512
cs_luks2 meta64k-primary 65536 "${fast[@]}" --luks2-metadata-size 64k --luks2-keyslots-size 1m
# Two keyslots and a token.
cs luksAddKey "${fast[@]}" --key-file "$tmp/pass" "$tmp/pbkdf2-label.img" "$tmp/pass"
printf '{"type":"vmcrypt-fuzz","keyslots":["1"],"x":[1,2,{"y":null}]}' >"$tmp/token.json"
cs token import --json-file "$tmp/token.json" "$tmp/pbkdf2-label.img"
head -c 32768 "$tmp/pbkdf2-label.img" >"$out/luks2_hdr/cs-2slots-token"
# A re-encryption in progress (reencrypt keyslot, backup segments, requirement).
cp "$tmp/default.img" "$tmp/reenc.img"
if cs reencrypt --init-only --force-offline-reencrypt --key-file "$tmp/pass" "${fast[@]}" \
	"$tmp/reenc.img" 2>/dev/null; then
	head -c 32768 "$tmp/reenc.img" >"$out/luks2_hdr/cs-reencrypt"
fi
# LUKS1: the 592-byte phdr is all the parser reads.
for spec in "aes-xts-plain64 512 sha256" "aes-cbc-essiv:sha256 256 sha1" "aes-xts-plain64 256 sha512"; do
	read -r -a fields <<<"$spec"
	set -- "${fields[@]}"
	truncate -s 4M "$tmp/l1.img"
	cs luksFormat --type luks1 "${fast[@]}" --key-file "$tmp/pass" --cipher "$1" --key-size "$2" \
		--hash "$3" "$tmp/l1.img"
	head -c 592 "$tmp/l1.img" >"$out/luks1/cs-${1%%:*}-$2-$3"
	rm -f "$tmp/l1.img"
done

# --- complete tiny images -------------------------------------------------------------
keyslot_seeds

# --- precise corruptions and the JSON texts ------------------------------------------------
"$py" - "$out" <<'PYEOF'
import hashlib, json, os, struct, sys
out = sys.argv[1]

def rd(p):
    with open(p, "rb") as f:
        return bytearray(f.read())

def wr(p, b):
    with open(p, "wb") as f:
        f.write(bytes(b))

def fix(b, off):
    size = struct.unpack(">Q", b[off + 8:off + 16])[0]
    b[off + 448:off + 512] = bytes(64)
    b[off + 448:off + 480] = hashlib.sha256(bytes(b[off:off + size])).digest()

def set_json(b, doc):
    size = struct.unpack(">Q", b[8:16])[0]
    js = json.dumps(doc, separators=(",", ":")).encode()
    for off in (0, size):
        if len(b) >= off + size:
            b[off + 4096:off + size] = js + bytes(size - 4096 - len(js))
            fix(b, off)

def get_json(b):
    return json.loads(bytes(b[4096:struct.unpack(">Q", b[8:16])[0]]).split(b"\0", 1)[0])

# LUKS1 corruptions of a cryptsetup phdr.
l1 = rd(os.path.join(out, "luks1", "cs-aes-xts-plain64-512-sha256"))
def l1var(name, edit):
    b = bytearray(l1); edit(b); wr(os.path.join(out, "luks1", "bad-" + name), b)
l1var("version3", lambda b: b.__setitem__(slice(6, 8), b"\0\3"))
l1var("keybytes0", lambda b: b.__setitem__(slice(108, 112), bytes(4)))
l1var("keybytes-huge", lambda b: b.__setitem__(slice(108, 112), b"\x7f\xff\xff\xff"))
l1var("cipher-unterminated", lambda b: b.__setitem__(slice(8, 40), b"a" * 32))
l1var("hash-unknown", lambda b: b.__setitem__(slice(72, 104), b"whirlpool".ljust(32, b"\0")))
l1var("slot0-state", lambda b: b.__setitem__(slice(208, 212), b"\0\0\0\1"))
l1var("slot0-stripes0", lambda b: b.__setitem__(slice(208 + 44, 208 + 48), bytes(4)))
l1var("slot0-offset-in-phdr", lambda b: b.__setitem__(slice(208 + 40, 208 + 44), b"\0\0\0\1"))
def overlap(b):
    b[208 + 48:208 + 52] = b"\x00\xac\x71\xf3"
    b[208 + 48 + 4:208 + 48 + 8] = b"\0\0\x03\xe8"
    b[208 + 48 + 40:208 + 48 + 44] = b[208 + 40:208 + 44]
l1var("slots-overlap", overlap)
l1var("payload-inside-slot", lambda b: b.__setitem__(slice(104, 108), b"\0\0\0\x10"))

# LUKS2 corruptions: binary fields of each copy, and JSON edits with valid checksums.
base = rd(os.path.join(out, "luks2_hdr", "cs-default"))
def l2var(name, edit, copies=(0,), refix=True):
    b = bytearray(base)
    for c in copies:
        edit(b, c * 16384)
        if refix:
            fix(b, c * 16384)
    wr(os.path.join(out, "luks2_hdr", "bad-" + name), b)
l2var("primary-flip", lambda b, o: b.__setitem__(o + 170, b[o + 170] ^ 1), refix=False)
l2var("both-flip", lambda b, o: b.__setitem__(o + 170, b[o + 170] ^ 1), copies=(0, 1), refix=False)
l2var("hdrsize-odd", lambda b, o: b.__setitem__(slice(o + 8, o + 16), struct.pack(">Q", 20000)))
l2var("hdroffset", lambda b, o: b.__setitem__(slice(o + 256, o + 264), struct.pack(">Q", 512)))
l2var("seqid-newer-secondary", lambda b, o: b.__setitem__(slice(o + 16, o + 24), struct.pack(">Q", 9)),
      copies=(1,))
l2var("csum-alg", lambda b, o: b.__setitem__(slice(o + 72, o + 104), b"md5".ljust(32, b"\0")))
l2var("json-unterminated", lambda b, o: b.__setitem__(slice(o + 4096, o + 16384), b" " * 12288))
doc = get_json(base)
def jvar(name, edit):
    d = json.loads(json.dumps(doc)); edit(d)
    b = bytearray(base); set_json(b, d)
    # The primary copy alone is enough for the loader (and halves the corpus).
    wr(os.path.join(out, "luks2_hdr", "json-" + name), b[:16384])
    wr(os.path.join(out, "luks2_json", "json-" + name), json.dumps(d, separators=(",", ":")).encode())
jvar("keyslot-offset-int", lambda d: d["keyslots"]["0"]["area"].__setitem__("offset", 32768))
jvar("keyslot-past-end", lambda d: d["keyslots"]["0"]["area"].__setitem__("offset", "18446744073709551615"))
jvar("keysize-huge", lambda d: d["keyslots"]["0"].__setitem__("key_size", 1 << 40))
jvar("stripes-string", lambda d: d["keyslots"]["0"]["af"].__setitem__("stripes", "4000"))
jvar("segment-overlaps-keyslots", lambda d: d["segments"]["0"].__setitem__("offset", "32768"))
jvar("segment-size-odd", lambda d: d["segments"]["0"].__setitem__("size", "4097"))
jvar("two-segments", lambda d: d["segments"].__setitem__("1", dict(d["segments"]["0"], offset="16777216")))
jvar("keyslots-overlap", lambda d: d["keyslots"].__setitem__("1", d["keyslots"]["0"]))
jvar("digest-missing-keyslot", lambda d: d["digests"]["0"]["keyslots"].append("5"))
jvar("cipher-serpent", lambda d: d["segments"]["0"].__setitem__("encryption", "serpent-xts-plain64"))
jvar("requirement", lambda d: d["config"].__setitem__("requirements", {"mandatory": ["x-unknown"]}))
jvar("unknown-keyslot-type", lambda d: d["keyslots"].__setitem__("2", {"type": "future", "x": 1}))
jvar("json-size-wrong", lambda d: d["config"].__setitem__("json_size", "4096"))
jvar("keyslots-size-odd", lambda d: d["config"].__setitem__("keyslots_size", "1000"))
jvar("id-leading-zero", lambda d: d["keyslots"].__setitem__("01", d["keyslots"].pop("0")))
jvar("digest-argon", lambda d: d["digests"]["0"].__setitem__("type", "argon2id"))
jvar("token-bad", lambda d: d["tokens"].__setitem__("0", {"keyslots": []}))
jvar("integrity", lambda d: d["segments"]["0"].__setitem__("integrity", {"type": "hmac(sha256)"}))

# JSON texts of the valid headers, and parser edge cases.
for f in sorted(os.listdir(os.path.join(out, "luks2_hdr"))):
    if f.startswith("cs-"):
        b = rd(os.path.join(out, "luks2_hdr", f))
        wr(os.path.join(out, "luks2_json", f), bytes(b[4096:]).split(b"\0", 1)[0])
for name, text in [
    ("empty-object", b"{}"),
    ("deep", b"[" * 40 + b"]" * 40),
    ("trailing", b'{"keyslots":{}} x'),
    ("nul-inside", b'{"a":"b\0c"}'),
    ("u64-max", b'{"keyslots":{},"tokens":{},"segments":{"0":{"type":"crypt","offset":"18446744073709551615",'
                b'"size":"dynamic","iv_tweak":"18446744073709551615","encryption":"aes-xts-plain64",'
                b'"sector_size":4096}},"digests":{},"config":{"json_size":"12288","keyslots_size":"0"}}'),
    ("u64-overflow", b'{"config":{"json_size":"18446744073709551616","keyslots_size":"-1"}}'),
    ("escapes", b'{"tokens":{"0":{"type":"\\u0000\\ud800","keyslots":[]}}}'),
]:
    wr(os.path.join(out, "luks2_json", "edge-" + name), text)

# Tokens as `vmcrypt token import` gets them.
for name, text in [
    ("minimal", b'{"type":"x","keyslots":[]}'),
    ("slots", b'{"type":"luks2-keyring","keyslots":["0","31"],"key_description":"k"}'),
    ("slot-out-of-range", b'{"type":"x","keyslots":["32"]}'),
    ("slot-int", b'{"type":"x","keyslots":[0]}'),
    ("trailing-space", b'{"type":"x","keyslots":[]}  \n'),
    ("trailing-garbage", b'{"type":"x","keyslots":[]} }'),
    ("not-object", b'["type"]'),
    ("nested", b'{"type":"x","keyslots":[],"a":{"b":{"c":[1,2.5,true,null,"\\/"]}}}'),
]:
    wr(os.path.join(out, "token", name), text)
PYEOF
echo "corpus: $(find "$out" -type f | wc -l) files, $(cat "$out"/*/* | wc -c) bytes"
