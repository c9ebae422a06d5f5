#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Regenerates the fixture images of this directory with the real peers (cryptsetup
# 2.6, qemu-img 7.2). Not run by the test suite: the images are committed so that
# tests/integration/images.sh checks vmcrypt against them even where the peers are
# not installed. Run from anywhere: tests/images/make-images.sh
#
# Each fixture NAME has NAME.img.gz (and NAME.hdr.gz for a detached header) and
# NAME.info (key=value: passphrase, plaintext size and sha256, volume key, UUID,
# cipher, sector size, data offset, keyslot), all as the peers report them.
# Plaintext is 64 KiB of deterministic bytes (sha256 counter stream of the name).
# To keep the files small, keyslot areas no keyslot uses (which cryptsetup fills
# with random bytes) are zeroed; headers stay valid (cryptsetup luksDump and
# open --test-passphrase are rerun after that).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
it=$here/../integration
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
cs() { cryptsetup --disable-locks "$@"; }

plaintext() # NAME FILE
{
	"$PY" - "$1" "$2" <<'EOF'
import hashlib, sys
name, path = sys.argv[1].encode(), sys.argv[2]
out = b"".join(hashlib.sha256(name + i.to_bytes(4, "big")).digest() for i in range(65536 // 32))
open(path, "wb").write(out)
EOF
}

# Zero keyslot areas no active keyslot uses (LUKS1 and LUKS2).
zero_unused() # HEADERFILE
{
	"$PY" - "$1" <<'EOF'
import hashlib, json, struct, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    hdr = f.read(4096)
    if hdr[:6] == b"LUKS\xba\xbe" and struct.unpack(">H", hdr[6:8])[0] == 1:
        key_bytes = struct.unpack(">I", hdr[108:112])[0]
        for s in range(8):
            base = 208 + 48 * s
            active, _, = struct.unpack(">I", hdr[base:base + 4]), None
            off = struct.unpack(">I", hdr[base + 40:base + 44])[0] * 512
            stripes = struct.unpack(">I", hdr[base + 44:base + 48])[0]
            if active[0] != 0x00AC71F3:
                ln = (key_bytes * stripes + 511) // 512 * 512
                f.seek(off)
                f.write(bytes(ln))
    else:
        size = struct.unpack(">Q", hdr[8:16])[0]
        f.seek(4096)
        js = json.loads(f.read(size - 4096).split(b"\0", 1)[0])
        start = 2 * size
        end = start + int(js["config"]["keyslots_size"])
        used = sorted((int(k["area"]["offset"]), int(k["area"]["size"]))
                      for k in js["keyslots"].values())
        pos = start
        for off, ln in used + [(end, 0)]:
            if off > pos:
                f.seek(pos)
                f.write(bytes(off - pos))
            pos = max(pos, off + ln)
EOF
}

# info NAME IMG PASSFILE PLAIN KEYSLOT [HDR]: writes NAME.info from the peers' view.
info()
{
	local name=$1 img=$2 pass=$3 plain=$4 slot=$5 hdr=${6:-} hopt=()
	[ -n "$hdr" ] && hopt=(--header "$hdr")
	cs luksDump "${hopt[@]}" "$img" >dump
	cs open --test-passphrase "${hopt[@]}" --key-file "$pass" "$img"
	cs luksDump "${hopt[@]}" --dump-volume-key --batch-mode --key-file "$pass" "$img" >vkdump
	{
		echo "# made by tests/images/make-images.sh with $(cryptsetup --version | cut -d" " -f1-2)${QEMU_USED:+ and $(qemu-img --version | head -1 | cut -d" " -f1-3)}"
		echo "image=$name.img.gz"
		[ -n "$hdr" ] && echo "header=$name.hdr.gz"
		echo "passphrase=$(cat "$pass")"
		echo "keyslot=$slot"
		echo "plaintext_size=$(stat -c %s "$plain")"
		echo "plaintext_sha256=$(sha256sum "$plain" | cut -d' ' -f1)"
		echo "volume_key=$("$PY" "$it/luksmeta.py" volume-key vkdump)"
		"$PY" "$it/luksmeta.py" fields dump | grep -E '^(version|uuid|cipher|sector_size|data_offset|keyslots|label|subsystem|key_bits)='
	} >"$here/$name.info"
	gzip -9n <"$img" >"$here/$name.img.gz"
	[ -z "$hdr" ] || gzip -9n <"$hdr" >"$here/$name.hdr.gz"
	echo "made $name"
}

# Data through the reference cipher (checked against the peers by reftest.sh).
fill() # IMG PASSFILE PLAIN [HDR]
{
	local img=$1 pass=$2 plain=$3 hdr=${4:-} hopt=()
	[ -n "$hdr" ] && hopt=(--header "$hdr")
	cs luksDump "${hopt[@]}" "$img" >d
	cs luksDump "${hopt[@]}" --dump-volume-key --batch-mode --key-file "$pass" "$img" >vk
	"$PY" "$it/luksmeta.py" volume-key vk >vk.hex
	"$PY" "$it/refxts.py" encrypt --cipher "$("$PY" "$it/luksmeta.py" field d cipher)" \
		--sector-size "$("$PY" "$it/luksmeta.py" field d sector_size)" --key-file vk.hex \
		--offset "$("$PY" "$it/luksmeta.py" field d data_offset)" "$plain" "$img"
}

# 1. QEMU: LUKS1 aes-128-xts-plain64 (256-bit key), sha256, written by qemu-img.
name=qemu-luks1-aes128-xts-plain64
printf '%s' 'qemu fixture passphrase' >pass
plaintext "$name" plain
for try in $(seq 1 30); do
	rm -f img
	qemu-img convert -f raw -O luks --object secret,id=sec0,file=pass \
		-o key-secret=sec0,iter-time=10,cipher-alg=aes-128,cipher-mode=xts,ivgen-alg=plain64 \
		plain img && break
	echo "qemu-img failed (try $try)"
done
zero_unused img
QEMU_USED=1 info "$name" img pass plain 0

# 2. cryptsetup LUKS2: argon2id, aes-xts-plain64 256-bit, 4096-byte sectors,
# label, subsystem and a token, passphrase in keyslot 3.
name=cs-luks2-argon2id-xts256-4096
printf '%s' 'luks2 fixture passphrase' >pass
plaintext "$name" plain
truncate -s $((1088 * 512 + 65536)) img
cs luksFormat --batch-mode --type luks2 --pbkdf argon2id --pbkdf-force-iterations 4 \
	--pbkdf-memory 32 --pbkdf-parallel 1 --cipher aes-xts-plain64 --key-size 256 \
	--sector-size 4096 --luks2-metadata-size 16k --luks2-keyslots-size 512k --offset 1088 \
	--label "vmcrypt fixture" --subsystem "vmcrypt-tests" --uuid 0b5e4c1e-6f2a-4d4e-9a57-1c0ffee00002 \
	--key-slot 3 --key-file pass img 2>/dev/null
printf '%s' '{"type":"vmcrypt-fixture","keyslots":["3"],"note":"kept as-is"}' | cs token import img --token-id 1
fill img pass plain
zero_unused img
info "$name" img pass plain 3

# 3. cryptsetup LUKS1: aes-cbc-essiv:sha256, sha1, passphrase in keyslot 2.
name=cs-luks1-cbc-essiv-sha1
printf '%s' 'luks1 fixture passphrase' >pass
plaintext "$name" plain
truncate -s $((4096 * 512 + 65536)) img
cs luksFormat --batch-mode --type luks1 --pbkdf-force-iterations 1000 --cipher aes-cbc-essiv:sha256 \
	--key-size 256 --hash sha1 --uuid 0b5e4c1e-6f2a-4d4e-9a57-1c0ffee00003 --key-slot 2 \
	--key-file pass img
fill img pass plain
zero_unused img
info "$name" img pass plain 2

# 4. cryptsetup LUKS2 detached header, data encrypted by cryptsetup itself
# (offline reencrypt --encrypt): pbkdf2-sha512, 512-byte sectors.
name=cs-luks2-detached-pbkdf2-512
printf '%s' 'detached fixture passphrase' >pass
plaintext "$name" plain
cp plain img
cs reencrypt --encrypt --batch-mode --type luks2 --header hdr --pbkdf pbkdf2 \
	--pbkdf-force-iterations 1000 --hash sha512 --key-size 256 --sector-size 512 \
	--luks2-metadata-size 16k --luks2-keyslots-size 512k \
	--uuid 0b5e4c1e-6f2a-4d4e-9a57-1c0ffee00004 --key-file pass --force-offline-reencrypt img 2>/dev/null
zero_unused hdr
info "$name" img pass plain 0 hdr

ls -la "$here"
