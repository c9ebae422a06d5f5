#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad input to the keyslot and header verbs: a header backup of another image, a
# damaged key slot area, truncated images, a read-only image, a locked image. Each
# gets a clear error and the documented exit status, and the image keeps its bytes.
. "$(dirname "$0")/lib.sh"

# slot_area IMG SLOT: "OFFSET LENGTH" of the key material of SLOT, read from the disk.
slot_area()
{
	"$PYTHON" -S - "$1" "$2" <<'EOF'
import json, struct, sys
path, slot = sys.argv[1], int(sys.argv[2])
with open(path, "rb") as f:
    head = f.read(4096)
    if struct.unpack(">H", head[6:8])[0] == 1:
        key_bytes = struct.unpack(">I", head[108:112])[0]
        base = 208 + 48 * slot
        km, stripes = struct.unpack(">II", head[base + 40:base + 48])
        print(km * 512, (key_bytes * stripes + 511) // 512 * 512)
    else:
        hdr_size = struct.unpack(">Q", head[8:16])[0]
        f.seek(4096)
        meta = json.loads(f.read(hdr_size - 4096).rstrip(b"\0"))
        area = meta["keyslots"][str(slot)]["area"]
        print(area["offset"], area["size"])
EOF
}

# The writing verbs, each as a command line for IMG (key files K1, K2 open it).
writers()
{
	local img=$1
	cat <<EOF
add-key ${FAST_PBKDF2[*]} --key-file $K1 --new-key-file $K3 $img
change-key ${FAST_PBKDF2[*]} --key-file $K2 --new-key-file $K3 $img
remove-key --key-file $K2 $img
kill-slot --batch-mode $img 1
erase --batch-mode $img
config --uuid 6b3a3b0e-8a55-4b53-a0a4-1f5b8cfd7e01 $img
header restore --batch-mode $img $PWD/good.hdr
repair $img
EOF
	if [ "$(vmc dump "$img" 2>/dev/null | sed -n 's/^Version: *//p')" = 2 ]; then
		echo "config --label x $img"
		echo "config --priority prefer --key-slot 1 $img"
		echo "token import --json-file $PWD/tok.json $img"
		echo "token remove --token-id 0 $img"
	fi
}

case_foreign_backup()
{
	local v=$1
	new_image "$v" img
	add_key img K1 K2
	new_image "$v" other K3
	vmc header backup other other.hdr
	# Another UUID: refused without --force, whatever the data offset.
	expect_refused "$EXIT_USAGE" img vmc header restore --batch-mode img other.hdr
	grep -q 'another image' last.err || fail "the error does not say why: $(cat last.err)"
	# The same UUID but another data offset (a smaller LUKS2 keyslots area, or a
	# LUKS1 payload not aligned to 2 MiB): refused too.
	if [ "$v" = 2 ]; then
		vmc create --size 1M --uuid "$(cs luksUUID img)" --luks2-keyslots-size 1M \
			--key-file "$K3" "${FAST_PBKDF2[@]}" moved
	else
		truncate -s 4M moved
		cs luksFormat -q --type luks1 --uuid "$(cs luksUUID img)" --align-payload 4096 \
			--offset 6144 "${FAST_PBKDF2[@]}" --key-file "$K3" moved 2>/dev/null ||
			cs luksFormat -q --type luks1 --uuid "$(cs luksUUID img)" --offset 6144 \
				"${FAST_PBKDF2[@]}" --key-file "$K3" moved
	fi
	vmc header backup moved moved.hdr
	expect_refused "$EXIT_USAGE" img vmc header restore --batch-mode img moved.hdr
	grep -q 'data offset' last.err || fail "the error does not say why: $(cat last.err)"
	# Not a header at all: refused even with --force.
	head -c 65536 /dev/urandom >junk.hdr
	expect_refused "$EXIT_NOTLUKS" img vmc header restore --force --batch-mode img junk.hdr
	expect_refused "$EXIT_NOTLUKS" img vmc header restore --batch-mode img no-such-file
	expect_keys img "K1=0 K2=1 K3=-"
	# With --force, the other header it is.
	vmc header restore --force --batch-mode img other.hdr
	expect_keys img "K1=- K2=- K3=0"
	expect_healthy img
}

case_damaged_slot()
{
	local v=$1 off len
	new_image "$v" img
	add_key img K1 K2
	read -r off len < <(slot_area img 1)
	# Overwrite the middle of slot 1's key material: K2 no longer opens anything.
	dd if=/dev/urandom of=img bs=512 seek=$(((off + len / 2) / 512)) count=8 conv=notrunc \
		status=none
	expect_refused "$EXIT_PASS" img vmc test-key --key-file "$K2" img
	expect_refused "$EXIT_PASS" img vmc test-key --key-file "$K2" --key-slot 1 img
	expect_refused "$EXIT_PASS" img vmc add-key "${FAST_PBKDF2[@]}" --key-file "$K2" img "$K3"
	expect_refused "$EXIT_PASS" img vmc change-key --key-file "$K2" img "$K3"
	expect_refused "$EXIT_PASS" img vmc remove-key --key-file "$K2" img
	expect_eq "$(cs_opens img K2)" no "cryptsetup with the damaged slot's key"
	# The other slot still works, and the damaged one can be killed and replaced.
	expect_keys img "K1=0 K2=- K3=- @1"
	expect_data img K1
	vmc kill-slot img 1
	add_key img K1 K2
	expect_keys img "K1=0 K2=1"
	expect_healthy img
}

case_truncated()
{
	local v=$1 size line
	new_image "$v" full
	add_key full K1 K2
	vmc header backup full "$PWD/good.hdr.$v"
	# Nothing, a part of the header, a part of slot 0's key material, a part of
	# slot 1's key material, everything but the data.
	for size in 0 100 $((v == 2 ? 20000 : 1000)) $((v == 2 ? 40000 : 5000)) \
		$((v == 2 ? 300000 : 300000)) $((v == 2 ? 16777216 : 2097152)); do
		cp full "img.$size"
		truncate -s "$size" "img.$size"
		# Everything that needs key material or the whole header region fails clearly.
		for cmd in "test-key --key-file $K1" "test-key --key-file $K2" \
			"add-key ${FAST_PBKDF2[*]} --key-file $K2 --new-key-file $K3" \
			"change-key ${FAST_PBKDF2[*]} --key-file $K2 --new-key-file $K3" \
			"remove-key --key-file $K2" "decrypt --key-file $K1 --force --batch-mode"; do
			case $size in
			0 | 100) want=$EXIT_NOTLUKS ;;
			*) want=$EXIT_CORRUPT ;;
			esac
			# With only the data missing, a LUKS1 image is complete up to its payload
			# and the key verbs work; so does test-key on LUKS2 (the data segment
			# may be empty); decrypt reads nothing.
			if [ "$size" -ge 2097152 ]; then
				continue
			fi
			# shellcheck disable=SC2086 # $cmd is a list of words
			if [ "${cmd%% *}" = decrypt ]; then
				expect_refused "$want" "img.$size" vmc $cmd "img.$size" out.raw
				[ ! -e out.raw ] || fail "decrypt of a truncated image left out.raw"
			else
				expect_refused "$want" "img.$size" vmc $cmd "img.$size"
			fi
			grep -qE "truncated|too small|beyond the end|not a LUKS|corrupted" last.err ||
				fail "size $size, $cmd: unclear error: $(cat last.err)"
		done
		rm -f back.hdr
		case $size in
		0 | 100) want=$EXIT_NOTLUKS ;;
		*) want=$EXIT_CORRUPT ;;
		esac
		if [ "$size" -lt $((v == 2 ? 16777216 : 2097152)) ]; then
			expect_refused "$want" "img.$size" vmc header backup "img.$size" back.hdr
			[ ! -e back.hdr ] || fail "size $size: a partial header backup was left behind"
		fi
		# A header backup restores the truncated image's header (and only that).
		if [ "$size" -ge 20000 ]; then
			vmc header restore --batch-mode "img.$size" "$PWD/good.hdr.$v"
			expect_eq "$(vmc_opens "img.$size" K2)" yes "restored header, size $size"
		fi
	done
}

case_read_only()
{
	local v=$1 line rc dir=$PWD/ro
	requires_user_switch
	new_image "$v" img
	add_key img K1 K2
	vmc header backup img "$PWD/good.hdr"
	chmod 0644 "$PWD/good.hdr"
	printf '{"type":"ro","keyslots":[]}' >"$PWD/tok.json"
	chmod 0644 "$PWD/tok.json"
	[ "$v" = 1 ] || vmc token import --json-file "$PWD/tok.json" img
	mkdir "$dir"
	cp img "$dir/img"
	chmod 0444 "$dir/img"
	# The user may create files in the directory, but the image is root's and 0444.
	chmod 0755 "$PWD"
	chown 65534:65534 "$dir"
	while read -r line; do
		rc=0
		# shellcheck disable=SC2086
		expect_unchanged "$dir/img" as_user "$VMCRYPT" $line || rc=$?
		[ "$rc" -eq "$EXIT_IO" ] ||
			fail "read-only image: '$line' exit $rc, not $EXIT_IO: $(cat last.err)"
		grep -qi 'permission denied\|read-only' last.err ||
			fail "read-only image: '$line': unclear error: $(cat last.err)"
	done < <(writers "$dir/img")
	# The reading verbs work.
	as_user "$VMCRYPT" test-key --key-file "$K2" "$dir/img"
	as_user "$VMCRYPT" dump "$dir/img" >/dev/null
	as_user "$VMCRYPT" header backup "$dir/img" "$dir/backup.hdr"
	[ "$v" = 1 ] || as_user "$VMCRYPT" token export --token-id 0 "$dir/img" >/dev/null
	expect_same "$dir/img" img "the read-only image"
}

case_locked()
{
	local v=$1 holder line rc
	new_image "$v" img
	add_key img K1 K2
	vmc header backup img "$PWD/good.hdr"
	printf '{"type":"locked","keyslots":[]}' >"$PWD/tok.json"
	# Another writer holds the image (flock -x, as cryptsetup does while writing).
	(flock -x 9 && exec sleep 60) 9<img &
	holder=$!
	wait_locked img
	while read -r line; do
		rc=0
		# shellcheck disable=SC2086
		expect_unchanged img "$VMCRYPT" $line || rc=$?
		[ "$rc" -eq "$EXIT_BUSY" ] || {
			kill "$holder"
			fail "locked image: '$line' exit $rc, not $EXIT_BUSY: $(cat last.err)"
		}
	done < <(writers img)
	kill "$holder"
	wait "$holder" 2>/dev/null || true
	# Released: the same verb works.
	add_key img K1 K3
	expect_keys img "K1=0 K2=1 K3=2"
}

for v in 1 2; do
	run_case "header backup of another image LUKS$v" case_foreign_backup "$v"
	run_case "damaged key slot area LUKS$v" case_damaged_slot "$v"
	run_case "truncated image LUKS$v" case_truncated "$v"
	run_case "read-only image, ordinary user LUKS$v" case_read_only "$v"
	run_case "image locked by another writer LUKS$v" case_locked "$v"
done
finish
