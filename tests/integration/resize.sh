#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt resize against cryptsetup: growing a LUKS1 or dynamic LUKS2 image changes
# only the (sparse) file; a fixed LUKS2 segment follows, as cryptsetup luksDump shows;
# +SIZE adds; shrinking needs --force (and --batch-mode off a terminal) and never cuts
# into the header; a partition's segment grows up to the partition's end and the disk
# file stays as it is; a detached header's segment follows its data file. After each
# change the old plaintext is intact, the new size is what vmcrypt decrypts, and
# cryptsetup still opens the key slot, also after a crash at any header write.
# Refusals (non-multiple sizes, an unfinished re-encryption, a read-only file, a qcow2
# container) leave the image untouched.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires cryptsetup
requires sfdisk
requires "$PYTHON" --version

M=$((1024 * 1024))

# new_image IMG PLAIN: a LUKS2 image by vmcrypt (dynamic segment, data at 16 MiB) holding PLAIN.
new_image()
{
	vmc encrypt "$2" "$1" --key-file "$PASS" "${FAST_PBKDF2[@]}"
}

# make_fixed IMG SIZE: turns the data segment into one of SIZE bytes (cryptsetup formats
# only dynamic segments), written by the independent luksmeta.py.
make_fixed()
{
	luksmeta edit-json "$1" segments.0.size "\"$2\""
	cs luksDump "$1" >fixed.dump
	grep -q "length: $2 \[bytes\]" fixed.dump || fail "precondition: no fixed segment of $2 bytes"
}

# expect_length HDR WHAT: cryptsetup's data segment length ("(whole device)" or N).
expect_length()
{
	local got
	cs luksDump "$1" >len.dump
	got=$(sed -n 's/^\tlength: *//p' len.dump | head -1)
	expect_eq "$got" "$2" "cryptsetup's segment length of $1"
}

# expect_plain IMG PLAIN SIZE [ARGS]: vmcrypt decrypts SIZE bytes starting with PLAIN,
# and cryptsetup opens the key slot.
expect_plain()
{
	local img=$1 plain=$2 size=$3
	shift 3
	rm -f out.raw
	vmc decrypt "$img" out.raw --key-file "$PASS" "$@"
	expect_eq "$(filesize out.raw)" "$size" "plaintext size of $img"
	expect_eq "$(sha256_range out.raw 0 "$(filesize "$plain")")" "$(sha256 "$plain")" \
		"old plaintext of $img"
}

# cs_opens HDR [ARGS]: cryptsetup accepts the passphrase.
cs_opens()
{
	cs open --test-passphrase --key-file "$PASS" "$@" || fail "cryptsetup cannot open $1"
}

# expect_sparse FILE BLOCKS: FILE holds no more allocated 512-byte blocks than BLOCKS.
expect_sparse()
{
	local now
	now=$(stat -c %b "$1")
	[ "$now" -le "$2" ] || fail "$1: $now blocks allocated, $2 before: the new area was written"
}

case_luks2_dynamic()
{
	make_plain plain 8192
	new_image img plain
	expect_length img "(whole device)"
	local blocks
	blocks=$(stat -c %b img)
	expect_exit 0 vmc resize img --size 40M -v
	grep -q "41943040 bytes" last.err || fail "resize -v did not print the new size"
	expect_eq "$(filesize img)" $((40 * M)) "file size after resize --size 40M"
	expect_sparse img "$blocks"
	expect_length img "(whole device)"
	expect_plain img plain $((24 * M))
	cs_opens img
	# Nothing to do: the same size again.
	expect_unchanged img vmc resize img --size 40M
}

case_luks2_fixed()
{
	make_plain plain 8192
	new_image img plain
	make_fixed img $((8 * M))
	local blocks
	blocks=$(stat -c %b img)
	expect_exit 0 vmc resize img --size +8M
	expect_eq "$(filesize img)" $((32 * M)) "file size after resize --size +8M"
	expect_sparse img "$blocks"
	expect_length img "$((16 * M)) [bytes]"
	expect_plain img plain $((16 * M))
	cs_opens img
	# The header commit is crash-safe: both copies agree (vmcrypt repair finds nothing).
	vmc repair img | grep -q "nothing to repair" || fail "header copies differ after resize"
}

case_luks1()
{
	truncate -s 24M img
	cs luksFormat --type luks1 -q --pbkdf-force-iterations 1000 --key-file "$PASS" img
	vmc decrypt img before.raw --key-file "$PASS"
	expect_eq "$(filesize before.raw)" $((22 * M)) "LUKS1 plaintext before"
	expect_exit 0 vmc resize img --size +10M
	expect_eq "$(filesize img)" $((34 * M)) "LUKS1 file size after +10M"
	expect_length img "" # LUKS1: no segment length, the payload runs to the end
	expect_plain img before.raw $((32 * M))
	cs_opens img
	# 512-byte sectors: a size that is not a multiple is refused, naming the sector size.
	local rc=0
	expect_unchanged img vmc resize img --size $((34 * M + 100)) || rc=$?
	expect_eq "$rc" "$EXIT_USAGE" "LUKS1 resize to a non-multiple of 512"
	grep -q "512-byte sector" last.err || fail "unclear message: $(cat last.err)"
}

case_shrink()
{
	make_plain plain 8192
	new_image img plain
	make_fixed img $((8 * M))
	vmc resize img --size 40M
	expect_length img "$((24 * M)) [bytes]"
	local rc=0
	# Without --force: refused, nothing touched.
	expect_unchanged img vmc resize img --size 24M || rc=$?
	expect_eq "$rc" "$EXIT_USAGE" "shrink without --force"
	grep -q -- "--force" last.err || fail "the refusal does not name --force: $(cat last.err)"
	grep -q "file system" last.err || fail "the refusal does not mention the file system"
	# --force without a terminal or --batch-mode: refused too.
	rc=0
	expect_unchanged img vmc resize img --size 24M --force || rc=$?
	expect_eq "$rc" "$EXIT_USAGE" "shrink with --force, no terminal, no --batch-mode"
	grep -q -- "--batch-mode" last.err || fail "the refusal does not name --batch-mode"
	# Into the header or the key slots, or below the data offset: refused even with --force.
	for size in 16M 8M 4096; do
		rc=0
		expect_unchanged img vmc resize img --size "$size" --force --batch-mode || rc=$?
		expect_eq "$rc" "$EXIT_USAGE" "shrink to $size"
		grep -q "cut into the LUKS header" last.err || fail "unclear message: $(cat last.err)"
	done
	# With --force: the header first, then the file; the kept data intact.
	expect_exit 0 vmc resize img --size 24M --force --batch-mode
	expect_eq "$(filesize img)" $((24 * M)) "file size after shrinking"
	expect_length img "$((8 * M)) [bytes]"
	expect_plain img plain $((8 * M))
	cs_opens img
	# A dynamic segment shrinks with its file.
	new_image dyn plain
	vmc resize dyn --size 64M
	expect_exit 0 vmc resize dyn --size 28M --force -q
	expect_length dyn "(whole device)"
	expect_plain dyn plain $((12 * M))
	cs_opens dyn
}

case_non_multiple()
{
	make_plain plain 1024
	new_image img plain
	local rc=0
	expect_unchanged img vmc resize img --size $((32 * M + 512)) || rc=$?
	expect_eq "$rc" "$EXIT_USAGE" "a size that is not a multiple of 4096"
	grep -q "4096-byte sector" last.err || fail "unclear message: $(cat last.err)"
	rc=0
	expect_unchanged img vmc resize img || rc=$?
	expect_eq "$rc" "$EXIT_USAGE" "resize without --size"
	rc=0
	expect_unchanged img vmc resize img --size +x || rc=$?
	expect_eq "$rc" "$EXIT_USAGE" "resize --size +x"
}

case_partition()
{
	# Partition 2: 32 MiB from sector 22528 (11 MiB); 8 MiB of plaintext in it.
	truncate -s 64M disk.img
	printf 'label: gpt\nstart=2048, size=20480\nstart=22528, size=65536\n' | sfdisk -q disk.img
	make_plain src 8192
	vmc encrypt src disk.img@2 --force --batch-mode --key-file "$PASS" "${FAST_PBKDF2[@]}"
	local start=$((22528 * 512)) rc=0
	part_out()
	{
		dd if=disk.img of=part bs=1M iflag=skip_bytes,count_bytes skip="$start" \
			count=$((32 * M)) status=none
	}
	part_out
	expect_length part "(whole device)"
	# A dynamic segment fills the partition already: no room to grow.
	expect_unchanged disk.img vmc resize disk.img@2 --size +4M || rc=$?
	expect_eq "$rc" "$EXIT_IO" "growing past the partition's end"
	grep -q "room for at most" last.err || fail "unclear message: $(cat last.err)"
	# Made smaller it becomes fixed; then it grows again up to the partition's end.
	expect_exit 0 vmc resize disk.img@2 --size 8M --force --batch-mode
	part_out
	expect_length part "$((8 * M)) [bytes]"
	expect_exit 0 vmc resize --partition 2 disk.img --size +4M
	part_out
	expect_length part "$((12 * M)) [bytes]"
	cs_opens part
	expect_plain disk.img@2 src $((12 * M))
	expect_exit 0 vmc resize disk.img@2 --size 16M
	part_out
	expect_length part "$((16 * M)) [bytes]"
	expect_eq "$(filesize disk.img)" $((64 * M)) "the disk file's size"
	rc=0
	expect_unchanged disk.img vmc resize disk.img@2 --size 20M || rc=$?
	expect_eq "$rc" "$EXIT_IO" "growing past the partition's end"
	# Partition 1 is not LUKS.
	rc=0
	expect_unchanged disk.img vmc resize disk.img@1 --size 4M || rc=$?
	expect_eq "$rc" "$EXIT_NOTLUKS" "partition 1 (not LUKS)"
}

case_detached()
{
	make_plain plain 4096
	truncate -s 4M data
	truncate -s 16M hdr
	cs luksFormat --type luks2 -q "${FAST_PBKDF2[@]}" --key-file "$PASS" --header hdr data
	vmc decrypt data before.raw --header hdr --key-file "$PASS"
	expect_exit 0 vmc resize data --header hdr --size 8M
	expect_eq "$(filesize data)" $((8 * M)) "data file after resize"
	expect_plain data before.raw $((8 * M)) --header hdr
	# A fixed segment in the detached header follows the data file.
	make_fixed hdr $((8 * M))
	expect_exit 0 vmc resize data --header hdr --size +4M
	expect_eq "$(filesize data)" $((12 * M)) "data file after +4M"
	expect_length hdr "$((12 * M)) [bytes]"
	expect_plain data before.raw $((12 * M)) --header hdr
	cs_opens hdr
}

case_reencrypt_refused()
{
	truncate -s 24M img
	cs luksFormat --type luks2 -q "${FAST_PBKDF2[@]}" --key-file "$PASS" img
	cs reencrypt --batch-mode --force-offline-reencrypt "${FAST_PBKDF2[@]}" --init-only \
		--key-file "$PASS" img
	grep -q online-reencrypt <(cs luksDump img) || fail "precondition: no unfinished reencryption"
	local rc=0
	expect_unchanged img vmc resize img --size +8M || rc=$?
	expect_eq "$rc" "$EXIT_NOTSUP" "resize during a re-encryption"
	grep -q "re-encryption is unfinished" last.err || fail "unclear message: $(cat last.err)"
}

case_read_only()
{
	make_plain plain 1024
	mkdir ro
	new_image ro/img plain
	chmod 0444 ro/img
	local rc=0 here size
	here=$(pwd)
	size=$(filesize ro/img)
	if [ "$(id -u)" != 0 ]; then
		expect_unchanged ro/img vmc resize ro/img --size +8M || rc=$?
	elif command -v setpriv >/dev/null 2>&1 && id nobody >/dev/null 2>&1; then
		# Root writes anyway: become nobody, for whom the 0444 file is read-only.
		chmod 0711 "$TMPDIR_TEST"
		chmod 0755 "$here" ro
		if ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$VMCRYPT"; then
			echo "note: user nobody cannot run $VMCRYPT; read-only case skipped"
			return 0
		fi
		expect_unchanged ro/img setpriv --reuid=nobody --regid=nogroup --clear-groups \
			"$VMCRYPT" resize ro/img --size +8M || rc=$?
	else
		echo "note: root without setpriv/nobody; read-only case skipped"
		return 0
	fi
	expect_eq "$rc" "$EXIT_IO" "resize of a read-only file"
	expect_eq "$(filesize ro/img)" "$size" "size of the read-only file"
	grep -q "ro/img" last.err || fail "the refusal does not name the file: $(cat last.err)"
}

# A crash at every header write of a resize (VMCRYPT_FAULT, docs/FORMAT-NOTES.md): the
# segment is the old or the new one, it ends within the file, cryptsetup opens the
# image and the kept plaintext is intact.
case_faults()
{
	make_plain plain 8192
	new_image base plain
	make_fixed base $((8 * M))
	vmc resize base --size 32M
	local mode op size n rc len
	for mode in kill powercut; do
		for op in grow shrink; do
			[ "$op" = grow ] && size=48M || size=$((24 * M))
			n=1
			while :; do
				cp --sparse=always base img
				rc=0
				VMCRYPT_FAULT=$mode:$n vmc resize img --size "$size" --force -q \
					>fault.out 2>&1 </dev/null || rc=$?
				[ "$rc" -eq 0 ] && break
				[ "$rc" -eq 137 ] || { cat fault.out >&2; fail "$mode:$n $op: exit $rc"; }
				cs luksDump img >fault.dump || fail "$mode:$n $op: cryptsetup rejects the header"
				len=$(sed -n 's/^\tlength: *\([0-9]*\) \[bytes\]/\1/p' fault.dump)
				case $op:$len in
				grow:$((16 * M)) | grow:$((32 * M)) | shrink:$((16 * M)) | shrink:$((8 * M))) ;;
				*) fail "$mode:$n $op: segment length '$len'" ;;
				esac
				[ $((16 * M + len)) -le "$(filesize img)" ] ||
					fail "$mode:$n $op: the segment ends beyond the file"
				cs_opens img
				expect_plain img plain "$len"
				n=$((n + 1))
				[ "$n" -le 20 ] || fail "$op never completes under $mode"
			done
			echo "$op: $mode at writes 1..$((n - 1)), complete at $n"
			[ "$n" -gt 1 ] || fail "$op: no header write was interrupted"
		done
	done
}

case_container()
{
	if ! command -v qemu-img >/dev/null 2>&1; then
		echo "note: qemu-img is not installed; container case skipped"
		return 0
	fi
	make_plain plain 1024
	new_image img plain
	qemu-img convert -q -f raw -O qcow2 img img.qcow2
	local rc=0
	expect_unchanged img.qcow2 vmc resize img.qcow2 --size +8M || rc=$?
	expect_eq "$rc" "$EXIT_NOTSUP" "resize of a qcow2 image"
	grep -q "qemu-img resize" last.err || fail "the refusal does not point to qemu-img resize"
}

run_case "luks2 dynamic grow" case_luks2_dynamic
run_case "luks2 fixed segment grow (+SIZE)" case_luks2_fixed
run_case "luks1 grow" case_luks1
run_case "shrink: refusals, --force" case_shrink
run_case "sizes refused" case_non_multiple
run_case "partition of a GPT disk" case_partition
run_case "detached header" case_detached
run_case "unfinished re-encryption refused" case_reencrypt_refused
run_case "crash at every header write" case_faults
run_case "read-only file" case_read_only
run_case "qcow2 container refused" case_container
finish
