#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt on VM image containers through QEMU's block layer (lib/io/qemu.c: a private
# qemu-storage-daemon child, or qemu-nbd, serving the guest's disk over NBD), with
# qemu-img, qemu-storage-daemon, qemu-nbd, nbdinfo and cryptsetup as the judges:
#  - a LUKS2 image vmcrypt encrypt made, converted by qemu-img to qcow2 (the layout
#    image builders use: extended_l2=on, 128k clusters, metadata preallocation), VDI,
#    VMDK and VHDX: vmcrypt dump agrees with cryptsetup luksDump of the raw image,
#    test-key opens (exit 2 with a wrong passphrase, the container unchanged),
#    add-key/remove-key and rekey work in the container; qemu-img check is clean, the
#    container keeps its format and options, qemu-img convert -O raw gives an image
#    cryptsetup opens with exactly the passphrases expected, and vmcrypt decrypt of
#    the container is the original plaintext;
#  - partition 2 of a GPT disk (sfdisk) in a qcow2 (IMAGE@2): rekey, the old passphrase
#    refused, the partition cut out of qemu-img's raw conversion opens in cryptsetup
#    with the new one only, nothing outside the partition changed, decrypt is the
#    plaintext;
#  - a qcow2 SRC for encrypt: the guest's disk (the virtual size, qemu-img's raw
#    conversion) is encrypted, or with --source-format raw the container's bytes;
#  - decrypt/encrypt/create with --format qcow2, vdi, vmdk, vhdx: qemu-img reports the
#    format, checks the image clean, compares it identical to the plaintext, and a
#    mostly-zero plaintext gives a thin qcow2; cryptsetup opens what encrypt --type luks2
#    wrote (encrypt --format qcow2 without it writes QEMU's own encrypted qcow2, whose
#    tests are qcow2-crypt.sh's);
#  - a qcow2 overlay on a qcow2 backing file: rekey writes the overlay only (the
#    backing file's sha256 is unchanged); a missing backing file is one line naming it;
#  - bad input, the image unchanged and one line on stderr: a qcow2 with a garbage
#    header (exit 8), a read-only qcow2 (mode 0444, as user nobody when root) for
#    add-key (read-only verbs still work), a qcow2 another qemu-storage-daemon has open
#    for writing (exit 5, then add-key works once it stopped), neither
#    qemu-storage-daemon nor qemu-nbd in PATH (exit 7 naming the Debian packages), no
#    qemu-img for create --format qcow2 (exit 7, no file left);
#  - qemu-nbd as the fallback when qemu-storage-daemon is not in PATH: test-key,
#    rekey, and its errors reported under its name;
#  - vmcrypt killed mid-rekey of a qcow2 (kill -9, and VMCRYPT_FAULT=kill:N): its QEMU
#    child is gone within 2 s, rekey --resume finishes, the plaintext is the original,
#    qemu-img check is clean.
# After every case no qemu-storage-daemon/qemu-nbd process for the case's files is
# left, and no vmcrypt-qemu.* directory in the directory vmcrypt makes them in ($TMPDIR,
# set to one of this script's own). Servers the script starts are stopped by a trap.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires qemu-img
requires qemu-storage-daemon
requires qemu-nbd
requires nbdinfo
requires cryptsetup
requires sfdisk
requires pgrep
requires test -x "$VMCRYPT"
# The PATH cases run vmcrypt by absolute path, and every case runs in its own directory.
VMCRYPT=$(cd "$(dirname "$VMCRYPT")" && pwd)/$(basename "$VMCRYPT")

NEW=$TMPDIR_TEST/new
printf '%s' 'the new passphrase 3' >"$NEW"

# vmcrypt makes the private directory of its QEMU child in $XDG_RUNTIME_DIR, else
# $TMPDIR, else /tmp: here in a directory of ours, checked empty after every case.
unset XDG_RUNTIME_DIR
QTMP=$TMPDIR_TEST/qtmp
mkdir "$QTMP"
export TMPDIR=$QTMP

# --- servers --------------------------------------------------------------------

servers_track


# --- leftovers --------------------------------------------------------------------

# qemu_children DIR: pids of qemu-storage-daemon/qemu-nbd processes at work on files
# in DIR: DIR in their command line (JSON escapes '/' as '\/', so without the
# backslashes), or DIR as their working directory (relative image names).
qemu_children()
{
	local dir=$1 pid cmd cwd
	for pid in $(pgrep -f '(^|/)qemu-(storage-daemon|nbd)( |$)' || true); do
		cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
		cmd=${cmd//\\/}
		cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || cwd=
		if [[ $cmd == *"$dir/"* || $cwd == "$dir" || $cwd == "$dir/"* ]]; then
			echo "$pid"
		fi
	done
}

# expect_no_children DIR [SECONDS]: none of them is left (after at most SECONDS).
expect_no_children()
{
	local dir=$1 tenths=$((${2:-2} * 10)) pids pid
	for _ in $(seq 0 "$tenths"); do
		pids=$(qemu_children "$dir")
		[ -n "$pids" ] || return 0
		sleep 0.1
	done
	for pid in $pids; do
		echo "left running: pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2
	done
	fail "a QEMU process for the files in $dir is still running"
}

# expect_no_private_dirs DIR: vmcrypt removed every directory it made in DIR.
expect_no_private_dirs()
{
	local left
	left=$(find "$1" -mindepth 1 -maxdepth 1 -name 'vmcrypt-qemu*' 2>/dev/null)
	[ -z "$left" ] || fail "vmcrypt left its private directories behind: $left"
}

expect_clean()
{
	expect_no_children "$PWD"
	expect_no_private_dirs "$QTMP"
}

# Each case stops its own servers when it ends (the script's trap catches the rest),
# then no QEMU child of vmcrypt and no private directory may be left.
in_case()
{
	trap stop_servers EXIT
	"$@"
	stop_servers
	expect_clean
}

# --- checks ---------------------------------------------------------------------

# img_info IMG KEY: a field of qemu-img info --output=json (KEY dot-separated).
img_info()
{
	qemu-img info --output=json "$1" | "$PYTHON" -S -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[k]
print(str(v).lower() if isinstance(v, bool) else v)' "$2"
}

# qcheck IMG FMT: qemu-img check finds nothing wrong.
qcheck()
{
	if ! qemu-img check -f "$2" "$1" >check.out 2>&1 || ! grep -q 'No errors were found' check.out; then
		cat check.out >&2
		fail "qemu-img check $1 ($2) is not clean"
	fi
}

# to_raw IMG FMT OUT: the guest's disk as qemu-img reads it.
to_raw()
{
	rm -f "$3"
	qemu-img convert -f "$2" -O raw "$1" "$3" || fail "qemu-img convert -f $2 -O raw $1"
}

cs_opens()
{
	cs open --test-passphrase --key-file "$2" "$1" >/dev/null 2>&1 ||
		fail "cryptsetup refuses ${3:-the passphrase} ($2) on $1"
}

cs_refuses()
{
	local rc=0
	cs open --test-passphrase --key-file "$2" "$1" >/dev/null 2>&1 || rc=$?
	expect_eq "$rc" 2 "cryptsetup's exit with ${3:-a passphrase that must not open} ($2) on $1"
}

# refused_unchanged CODE FILE WORD CMD...: CMD exits CODE with one line on stderr
# naming WORD, and FILE is unchanged.
refused_unchanged()
{
	local want=$1 file=$2 word=$3 rc=0
	shift 3
	expect_unchanged "$file" "$@" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "command: $*" >&2
		head -c 2000 last.err >&2
		fail "expected exit $want, got $rc: $*"
	fi
	[ "$(wc -l <last.err)" -eq 1 ] || fail "$*: not one line on stderr: $(cat last.err)"
	grep -q -- "$word" last.err || fail "$*: the message does not name '$word': $(cat last.err)"
	echo "  exit $rc: $(cat last.err)"
}

# pending IMG: IMG's header shows an unfinished re-encryption.
pending()
{
	vmc dump "$1" >pending.out 2>/dev/null || true
	grep -q 'online-reencrypt' pending.out
}

# luks_image PLAIN OUT: a LUKS2 raw image of PLAIN (passphrase PASS), by vmcrypt.
luks_image()
{
	expect_exit 0 vmc encrypt "$1" "$2" --type luks2 --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
}

# --- cases ----------------------------------------------------------------------

# Every key verb inside a container qemu-img converted a LUKS2 image to.
case_container()
{
	local fmt=$1 opts=${2:-} img vsize
	img=disk.$fmt
	make_plain plain 16384
	luks_image plain luks.raw
	qemu-img convert -f raw -O "$fmt" ${opts:+-o "$opts"} luks.raw "$img"
	expect_eq "$(img_info "$img" format)" "$fmt" "qemu-img's format of $img"
	vsize=$(img_info "$img" virtual-size)
	if [ "$fmt" = qcow2 ]; then
		expect_eq "$(img_info "$img" format-specific.data.extended-l2)" true "extended_l2 of $img"
	fi

	expect_exit 0 vmc dump "$img"
	cp last.out vmc.dump
	cs luksDump luks.raw >cs.dump
	luksmeta compare cs.dump vmc.dump || fail "vmcrypt dump of the $fmt disagrees with cryptsetup luksDump"
	expect_unchanged "$img" vmc test-key "$img" --key-file "$PASS" || fail "test-key in $fmt: $(cat last.err)"
	local rc=0
	expect_unchanged "$img" vmc test-key "$img" --key-file "$WRONG" || rc=$?
	expect_eq "$rc" "$EXIT_PASS" "test-key in $fmt with a wrong passphrase"

	expect_exit 0 vmc add-key "$img" --key-file "$PASS" --new-key-file "$PASS2" "${FAST_PBKDF2[@]}"
	expect_exit 0 vmc test-key "$img" --key-file "$PASS2"
	to_raw "$img" "$fmt" added.raw
	cs_opens added.raw "$PASS2" "the passphrase add-key stored in the $fmt"
	cs_opens added.raw "$PASS" "the first passphrase after add-key in the $fmt"
	expect_exit 0 vmc remove-key "$img" --key-file "$PASS2" --batch-mode
	expect_exit "$EXIT_PASS" vmc test-key "$img" --key-file "$PASS2"

	expect_exit 0 vmc rekey "$img" --key-file "$PASS" --new-key-file "$NEW" --batch-mode \
		"${FAST_PBKDF2[@]}" --hotzone-size 4M
	expect_exit "$EXIT_PASS" vmc test-key "$img" --key-file "$PASS"
	expect_exit 0 vmc test-key "$img" --key-file "$NEW"
	if pending "$img"; then fail "the rekey in the $fmt left a re-encryption unfinished"; fi

	qcheck "$img" "$fmt"
	expect_eq "$(img_info "$img" format)" "$fmt" "qemu-img's format of $img after the rekey"
	expect_eq "$(img_info "$img" virtual-size)" "$vsize" "virtual size of $img after the rekey"
	if [ "$fmt" = qcow2 ]; then
		expect_eq "$(img_info "$img" format-specific.data.extended-l2)" true "extended_l2 after the rekey"
		expect_eq "$(img_info "$img" cluster-size)" 131072 "cluster size after the rekey"
	fi
	to_raw "$img" "$fmt" back.raw
	cs_opens back.raw "$NEW" "the new passphrase after rekey in the $fmt"
	cs_refuses back.raw "$PASS" "the old passphrase after rekey in the $fmt"
	cs_refuses back.raw "$PASS2" "the removed passphrase"
	expect_exit 0 vmc decrypt "$img" out --key-file "$NEW"
	expect_same out plain "plaintext of the $fmt after add-key, remove-key and rekey"
}

# part_field DISK N start|size: partition N's start or size in sectors (sfdisk).
part_field()
{
	sfdisk -d "$1" | sed -n "s/^[^ ]*$2 : .*$3= *\([0-9]*\).*/\1/p"
}

# Partition 2 of a GPT disk image inside a qcow2.
case_partition()
{
	local start size end total
	make_plain plain 12288
	truncate -s 48M disk.raw
	printf 'label: gpt\nstart=2048, size=8M\nstart=, size=28M\n' | sfdisk -q disk.raw
	head -c 8M /dev/urandom | dd of=disk.raw bs=1M seek=1 conv=notrunc status=none
	start=$(($(part_field disk.raw 2 start) * 512))
	size=$(($(part_field disk.raw 2 size) * 512))
	end=$((start + size))
	total=$(filesize disk.raw)
	expect_exit 0 vmc encrypt plain disk.raw@2 --force -q --key-file "$PASS" "${FAST_PBKDF2[@]}"
	cp disk.raw disk.orig
	qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2

	expect_exit 0 vmc rekey disk.qcow2@2 --key-file "$PASS" --new-key-file "$NEW" --batch-mode \
		"${FAST_PBKDF2[@]}" --hotzone-size 4M
	local rc=0
	expect_unchanged disk.qcow2 vmc test-key disk.qcow2@2 --key-file "$PASS" || rc=$?
	expect_eq "$rc" "$EXIT_PASS" "test-key of disk.qcow2@2 with the old passphrase"
	expect_exit 0 vmc test-key disk.qcow2@2 --key-file "$NEW"
	qcheck disk.qcow2 qcow2

	to_raw disk.qcow2 qcow2 back.raw
	dd if=back.raw of=part2.raw bs=1M iflag=skip_bytes,count_bytes skip="$start" count="$size" status=none
	expect_eq "$(filesize part2.raw)" "$size" "size of partition 2 cut out of the disk"
	cs_opens part2.raw "$NEW" "the new passphrase in partition 2"
	cs_refuses part2.raw "$PASS" "the old passphrase in partition 2"
	expect_eq "$(sha256_range back.raw 0 "$start")" "$(sha256_range disk.orig 0 "$start")" \
		"the disk before partition 2 (GPT, partition 1)"
	expect_eq "$(sha256_range back.raw "$end" $((total - end)))" \
		"$(sha256_range disk.orig "$end" $((total - end)))" "the disk after partition 2 (backup GPT)"
	expect_exit 0 vmc decrypt disk.qcow2@2 out --key-file "$NEW"
	expect_same out plain "plaintext of disk.qcow2@2 after the rekey"
}

# A qcow2 SRC for encrypt: the guest's disk, or with --source-format raw the file.
case_qcow2_source()
{
	local vsize fsize off padded
	truncate -s 24M src.raw
	head -c 4M /dev/urandom | dd of=src.raw bs=1M seek=2 conv=notrunc status=none
	head -c 1M /dev/urandom | dd of=src.raw bs=1M seek=23 conv=notrunc status=none
	qemu-img convert -f raw -O qcow2 src.raw plain.qcow2
	vsize=$(img_info plain.qcow2 virtual-size)
	fsize=$(filesize plain.qcow2)
	echo "plain.qcow2: virtual size $vsize, file size $fsize"
	[ "$fsize" -lt "$vsize" ] || fail "the source qcow2 is not smaller than its virtual size"
	to_raw plain.qcow2 qcow2 guest.raw

	expect_unchanged plain.qcow2 vmc encrypt plain.qcow2 e.img --key-file "$PASS" --batch-mode \
		"${FAST_PBKDF2[@]}" || fail "encrypt of a qcow2 SRC: $(cat last.err)"
	expect_exit 0 vmc dump e.img
	cp last.out e.dump
	off=$(luksmeta field e.dump data_offset)
	expect_eq "$(filesize e.img)" $((off + vsize)) "size of e.img (data offset + the qcow2's virtual size)"
	cs_opens e.img "$PASS"
	expect_exit 0 vmc decrypt e.img out --key-file "$PASS"
	expect_same out guest.raw "plaintext of a qcow2 SRC vs qemu-img convert -O raw"

	expect_unchanged plain.qcow2 vmc encrypt plain.qcow2 e2.img --source-format raw --key-file "$PASS" \
		--batch-mode "${FAST_PBKDF2[@]}" || fail "encrypt --source-format raw: $(cat last.err)"
	[ "$(filesize e2.img)" -ne "$(filesize e.img)" ] ||
		fail "--source-format raw gave the same size as the guest's disk"
	expect_exit 0 vmc decrypt e2.img out2 --key-file "$PASS"
	padded=$(((fsize + 4095) / 4096 * 4096))
	cp plain.qcow2 padded.qcow2
	truncate -s "$padded" padded.qcow2
	expect_same out2 padded.qcow2 "plaintext with --source-format raw vs the qcow2 file's bytes"
}

# decrypt to a qcow2: qemu-img's judgement of it, and thin for a mostly-zero disk.
case_decrypt_qcow2()
{
	local actual
	truncate -s 64M plain
	head -c 4M /dev/urandom | dd of=plain bs=1M seek=0 conv=notrunc status=none
	head -c 4M /dev/urandom | dd of=plain bs=1M seek=40 conv=notrunc status=none
	luks_image plain e.img
	expect_unchanged e.img vmc decrypt e.img out.qcow2 --format qcow2 --key-file "$PASS" ||
		fail "decrypt --format qcow2: $(cat last.err)"
	expect_eq "$(img_info out.qcow2 format)" qcow2 "qemu-img's format of the output"
	expect_eq "$(img_info out.qcow2 virtual-size)" $((64 << 20)) "virtual size of the output"
	qemu-img compare -f raw -F qcow2 plain out.qcow2 >cmp.out 2>&1 ||
		fail "qemu-img compare: $(cat cmp.out)"
	grep -q 'Images are identical' cmp.out || fail "qemu-img compare: $(cat cmp.out)"
	qcheck out.qcow2 qcow2
	actual=$(img_info out.qcow2 actual-size)
	echo "out.qcow2: $actual bytes allocated for 64 MiB with 8 MiB of data"
	[ "$actual" -le $((16 << 20)) ] || fail "the qcow2 output is not thin: $actual bytes allocated"
}

# create and encrypt into new containers.
case_new_containers()
{
	local fmt vsize off
	expect_exit 0 vmc create --size 32M new.vdi --format vdi --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
	expect_eq "$(img_info new.vdi format)" vdi "qemu-img's format of new.vdi"
	qcheck new.vdi vdi
	expect_exit 0 vmc dump new.vdi
	cp last.out new.dump
	off=$(luksmeta field new.dump data_offset)
	vsize=$(img_info new.vdi virtual-size)
	expect_eq "$vsize" $((off + (32 << 20))) "virtual size of new.vdi (data offset + 32M)"
	expect_exit 0 vmc test-key new.vdi --key-file "$PASS"
	to_raw new.vdi vdi new.raw
	cs luksDump new.raw >cs.dump
	luksmeta compare cs.dump new.dump || fail "vmcrypt dump of new.vdi disagrees with cryptsetup"
	cs_opens new.raw "$PASS"

	make_plain plain 8192
	for fmt in qcow2 vdi vmdk vhdx; do
		# --type luks2: a LUKS2 image inside a plain qcow2 (without it, --format qcow2 is
		# QEMU's own encrypted qcow2: tests/integration/qcow2-crypt.sh).
		expect_exit 0 vmc encrypt plain "e.$fmt" --format "$fmt" --type luks2 --key-file "$PASS" \
			--batch-mode "${FAST_PBKDF2[@]}"
		expect_eq "$(img_info "e.$fmt" format)" "$fmt" "qemu-img's format of e.$fmt"
		qcheck "e.$fmt" "$fmt"
		to_raw "e.$fmt" "$fmt" "e.$fmt.raw"
		cs_opens "e.$fmt.raw" "$PASS" "the passphrase of encrypt --format $fmt"
		cs_refuses "e.$fmt.raw" "$WRONG"
		expect_exit 0 vmc decrypt "e.$fmt" "out.$fmt" --key-file "$PASS"
		expect_same "out.$fmt" plain "plaintext of encrypt --format $fmt"
		expect_clean
	done
}

# A qcow2 overlay: writes go to the overlay only; a missing backing file.
case_backing()
{
	local before
	make_plain plain 16384
	luks_image plain luks.raw
	qemu-img convert -f raw -O qcow2 luks.raw base.qcow2
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 overlay.qcow2
	before=$(sha256 base.qcow2)
	expect_exit 0 vmc rekey overlay.qcow2 --key-file "$PASS" --new-key-file "$NEW" --batch-mode \
		"${FAST_PBKDF2[@]}" --hotzone-size 4M
	expect_eq "$(sha256 base.qcow2)" "$before" "sha256 of the backing file after the rekey of the overlay"
	expect_exit "$EXIT_PASS" vmc test-key overlay.qcow2 --key-file "$PASS"
	expect_exit 0 vmc test-key base.qcow2 --key-file "$PASS"
	qcheck overlay.qcow2 qcow2
	expect_eq "$(img_info overlay.qcow2 backing-filename)" base.qcow2 "backing file of the overlay"
	to_raw overlay.qcow2 qcow2 back.raw
	cs_opens back.raw "$NEW" "the new passphrase through the overlay"
	cs_refuses back.raw "$PASS" "the old passphrase through the overlay"
	expect_exit 0 vmc decrypt overlay.qcow2 out --key-file "$NEW"
	expect_same out plain "plaintext of the overlay after the rekey"
	expect_eq "$(sha256 base.qcow2)" "$before" "sha256 of the backing file at the end"

	mkdir away
	mv base.qcow2 away/
	refused_unchanged "$EXIT_NOTLUKS" overlay.qcow2 base.qcow2 vmc dump overlay.qcow2
	expect_unchanged overlay.qcow2 vmc rekey overlay.qcow2 --key-file "$NEW" --new-key-file "$PASS" \
		--batch-mode "${FAST_PBKDF2[@]}" && fail "rekey without the backing file succeeded"
	true
}

# The arguments that run a command as another user (nobody when we are root);
# returns 1 if that cannot be done here.
other_user()
{
	# shellcheck disable=SC2016 # expanded by the shell su starts
	local su=(su nobody -s /bin/sh -c 'exec "$0" "$@"' --)
	local ngid
	OTHER=()
	[ "$(id -u)" -eq 0 ] || return 0
	ngid=$(id -g nobody 2>/dev/null) || return 1
	if setpriv --reuid=nobody --regid="$ngid" --clear-groups true >/dev/null 2>&1; then
		OTHER=(setpriv --reuid=nobody --regid="$ngid" --clear-groups)
	elif "${su[@]}" true >/dev/null 2>&1; then
		OTHER=("${su[@]}")
	else
		return 1
	fi
}

# Bad input: refused with one line, the image unchanged.
case_bad_input()
{
	local sock=$PWD/busy.sock otmp=$PWD/other.tmp env_prog
	make_plain plain 8192
	luks_image plain luks.raw
	qemu-img convert -f raw -O qcow2 luks.raw good.qcow2

	# valid magic, garbage header
	cp good.qcow2 bad.qcow2
	head -c 100 /dev/zero | tr '\0' '\377' | dd of=bad.qcow2 bs=1 seek=4 conv=notrunc status=none
	refused_unchanged "$EXIT_IO" bad.qcow2 bad.qcow2 vmc dump bad.qcow2
	refused_unchanged "$EXIT_IO" bad.qcow2 bad.qcow2 vmc test-key bad.qcow2 --key-file "$PASS"
	refused_unchanged "$EXIT_IO" bad.qcow2 bad.qcow2 vmc add-key bad.qcow2 --key-file "$PASS" \
		--new-key-file "$PASS2" "${FAST_PBKDF2[@]}"

	# read-only
	cp good.qcow2 ro.qcow2
	chmod 444 ro.qcow2
	env_prog=$(command -v env)
	if other_user; then
		cp "$PASS" k.ro
		cp "$PASS2" k2.ro
		chmod 644 k.ro k2.ro
		mkdir -m 1777 "$otmp"
		chmod 0711 "$TMPDIR_TEST" "$PWD"
		if "${OTHER[@]}" "$env_prog" test -r "$PWD/ro.qcow2" && "${OTHER[@]}" "$VMCRYPT" --version >/dev/null 2>&1; then
			expect_unchanged ro.qcow2 "${OTHER[@]}" "$env_prog" TMPDIR="$otmp" "$VMCRYPT" test-key \
				"$PWD/ro.qcow2" --key-file "$PWD/k.ro" || fail "test-key of a read-only qcow2: $(cat last.err)"
			local rc=0
			expect_unchanged ro.qcow2 "${OTHER[@]}" "$env_prog" TMPDIR="$otmp" "$VMCRYPT" add-key \
				"$PWD/ro.qcow2" --key-file "$PWD/k.ro" --new-key-file "$PWD/k2.ro" "${FAST_PBKDF2[@]}" || rc=$?
			[ "$rc" -ne 0 ] || fail "add-key on a read-only qcow2 succeeded"
			[ "$(wc -l <last.err)" -eq 1 ] || fail "add-key on a read-only qcow2: not one line: $(cat last.err)"
			echo "  read-only qcow2 (${OTHER[*]:-as $(id -un)}): add-key exit $rc: $(cat last.err)"
			expect_no_private_dirs "$otmp"
		else
			echo "SKIP: the read-only sub-case: ${OTHER[*]} cannot reach $PWD or $VMCRYPT"
		fi
		chmod 0700 "$TMPDIR_TEST" "$PWD"
	else
		echo "SKIP: the read-only sub-case: neither setpriv nor su runs a command as nobody"
	fi

	# in use by another writer
	cp good.qcow2 busy.qcow2
	serve qemu-storage-daemon --blockdev "driver=qcow2,node-name=d,file.driver=file,file.filename=$PWD/busy.qcow2" \
		--nbd-server "addr.type=unix,addr.path=$sock" --export type=nbd,id=e,node-name=d,writable=on
	wait_ready "nbd+unix:///d?socket=$sock"
	refused_unchanged "$EXIT_BUSY" busy.qcow2 lock vmc add-key busy.qcow2 --key-file "$PASS" \
		--new-key-file "$PASS2" "${FAST_PBKDF2[@]}"
	stop_pid "$SERVER_PID"
	expect_exit 0 vmc add-key busy.qcow2 --key-file "$PASS" --new-key-file "$PASS2" "${FAST_PBKDF2[@]}"
	expect_exit 0 vmc test-key busy.qcow2 --key-file "$PASS2"

	# no QEMU at all in PATH
	mkdir nobin
	refused_unchanged "$EXIT_NOTSUP" good.qcow2 qemu-system-common \
		env PATH="$PWD/nobin" "$VMCRYPT" dump good.qcow2
	grep -q qemu-utils last.err || fail "the message does not name qemu-utils: $(cat last.err)"
	refused_unchanged "$EXIT_NOTSUP" good.qcow2 qemu-utils \
		env PATH="$PWD/nobin" "$VMCRYPT" rekey good.qcow2 --key-file "$PASS" --new-key-file "$NEW" \
		--batch-mode "${FAST_PBKDF2[@]}"
	expect_exit "$EXIT_NOTSUP" env PATH="$PWD/nobin" "$VMCRYPT" create --size 8M new.qcow2 --format qcow2 \
		--key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
	grep -q qemu-utils last.err || fail "create without qemu-img does not name qemu-utils: $(cat last.err)"
	[ "$(wc -l <last.err)" -eq 1 ] || fail "create without qemu-img: not one line: $(cat last.err)"
	[ ! -e new.qcow2 ] || fail "create without qemu-img left new.qcow2"
}

# qemu-storage-daemon not in PATH: qemu-nbd serves the image.
case_qemu_nbd()
{
	mkdir bin
	ln -s "$(command -v qemu-nbd)" bin/qemu-nbd
	make_plain plain 16384
	luks_image plain luks.raw
	qemu-img convert -f raw -O qcow2 luks.raw disk.qcow2
	expect_exit 0 env PATH="$PWD/bin" "$VMCRYPT" dump disk.qcow2
	expect_exit 0 env PATH="$PWD/bin" "$VMCRYPT" test-key disk.qcow2 --key-file "$PASS"
	expect_exit "$EXIT_PASS" env PATH="$PWD/bin" "$VMCRYPT" test-key disk.qcow2 --key-file "$WRONG"
	expect_exit 0 env PATH="$PWD/bin" "$VMCRYPT" rekey disk.qcow2 --key-file "$PASS" --new-key-file "$NEW" \
		--batch-mode "${FAST_PBKDF2[@]}" --hotzone-size 4M
	expect_exit 0 env PATH="$PWD/bin" "$VMCRYPT" test-key disk.qcow2 --key-file "$NEW"
	expect_exit "$EXIT_PASS" env PATH="$PWD/bin" "$VMCRYPT" test-key disk.qcow2 --key-file "$PASS"
	qcheck disk.qcow2 qcow2
	to_raw disk.qcow2 qcow2 back.raw
	cs_opens back.raw "$NEW" "the new passphrase after rekey through qemu-nbd"
	cs_refuses back.raw "$PASS" "the old passphrase after rekey through qemu-nbd"
	expect_exit 0 vmc decrypt disk.qcow2 out --key-file "$NEW"
	expect_same out plain "plaintext after rekey through qemu-nbd"
	# Its errors come under its own name: proof that qemu-nbd did the work.
	qemu-img create -q -f qcow2 missing.qcow2 16M
	qemu-img create -q -f qcow2 -b "$PWD/missing.qcow2" -F qcow2 orphan.qcow2
	rm missing.qcow2
	refused_unchanged "$EXIT_NOTLUKS" orphan.qcow2 'qemu-nbd.*missing.qcow2' \
		env PATH="$PWD/bin" "$VMCRYPT" dump orphan.qcow2
}

# wait_started IMG OFFSET: until the LUKS2 header at host OFFSET of IMG shows the
# re-encryption under way (or the background vmcrypt ended).
wait_started()
{
	for _ in $(seq 1 500); do
		dd if="$1" of=hdr.bin bs=64K iflag=skip_bytes skip="$2" count=1 status=none
		grep -a -q 'reencrypt' hdr.bin && return 0
		kill -0 "$BG_PID" 2>/dev/null || break
		sleep 0.01
	done
	fail "the re-encryption did not start: $(cat bg.out)"
}

# same_big A B WHAT: expect_same, with cmp first (two sha256 of 256 MiB cost seconds).
same_big()
{
	cmp -s "$1" "$2" || expect_same "$@"
}

# kill_fixture IMG [last]: ./plain, 256 MiB of random data, and IMG, a qcow2 qemu-img
# converted its LUKS2 image to; made once for the kill cases (the last one takes it).
KILL_SHARED=$TMPDIR_TEST/kill-shared
kill_fixture()
{
	local img=$1
	if [ ! -e "$KILL_SHARED/disk.qcow2" ]; then
		mkdir -p "$KILL_SHARED"
		head -c 256M /dev/urandom >"$KILL_SHARED/plain"
		luks_image "$KILL_SHARED/plain" luks.raw
		qemu-img convert -f raw -O qcow2 luks.raw "$KILL_SHARED/disk.qcow2.tmp"
		rm -f luks.raw
		mv "$KILL_SHARED/disk.qcow2.tmp" "$KILL_SHARED/disk.qcow2"
	fi
	ln "$KILL_SHARED/plain" plain # (only read)
	if [ "${2:-}" = last ]; then
		mv "$KILL_SHARED/disk.qcow2" "$img"
	else
		cp "$KILL_SHARED/disk.qcow2" "$img"
	fi
}

# vmcrypt dies mid-rekey of a qcow2 (kill -9, or VMCRYPT_FAULT=kill:N).
case_kill()
{
	local how=$1 img=$PWD/disk.qcow2 hdr rc=0
	kill_fixture "$img" "${2:-}"
	# Where the guest's first cluster (the LUKS header) lies in the file.
	hdr=$(qemu-img map --output=json "$img" | "$PYTHON" -S -c '
import json, sys
print(next(e["offset"] for e in json.load(sys.stdin) if e["start"] == 0))')
	if [ "$how" = kill ]; then
		"$VMCRYPT" rekey "$img" --key-file "$PASS" --new-key-file "$NEW" --batch-mode \
			"${FAST_PBKDF2[@]}" --hotzone-size 4M >bg.out 2>&1 </dev/null &
		BG_PID=$!
		echo "$BG_PID" >>"$SERVER_PIDS"
		wait_started "$img" "$hdr"
		kill -9 "$BG_PID" 2>/dev/null || true
		{ wait "$BG_PID" || rc=$?; } 2>/dev/null # (not bash's "Killed" line)
	else
		{ VMCRYPT_FAULT=$how "$VMCRYPT" rekey "$img" --key-file "$PASS" --new-key-file "$NEW" \
			--batch-mode "${FAST_PBKDF2[@]}" --hotzone-size 4M >bg.out 2>&1 </dev/null ||
			rc=$?; } 2>/dev/null
	fi
	expect_eq "$rc" 137 "exit status of vmcrypt killed mid-rekey ($how): $(cat bg.out)"
	expect_no_children "$PWD" 2
	expect_no_private_dirs "$QTMP"
	pending "$img" || fail "no unfinished re-encryption after the kill ($how): nothing tested"
	qcheck "$img" qcow2
	expect_exit 0 vmc rekey "$img" --resume --key-file "$NEW" --batch-mode
	if pending "$img"; then fail "still unfinished after --resume"; fi
	qcheck "$img" qcow2
	expect_exit 0 vmc decrypt "$img" out --key-file "$NEW"
	same_big out plain "plaintext after the interrupted rekey of the qcow2 was resumed"
	rm -f out
	# cryptsetup reads only the header: the first 32 MiB qemu-img reads, sparse after that.
	qemu-img dd -f qcow2 -O raw bs=1M count=32 if="$img" of=back.raw
	truncate -s "$(img_info "$img" virtual-size)" back.raw
	cs_opens back.raw "$NEW" "the new passphrase after the resumed rekey"
	cs_refuses back.raw "$PASS" "the old passphrase after the resumed rekey"
}

run_case "qcow2 (extended_l2, 128k clusters, preallocated metadata): dump, test-key, add/remove-key, rekey" \
	in_case case_container qcow2 extended_l2=on,cluster_size=128k,preallocation=metadata
run_case "VDI: dump, test-key, add/remove-key, rekey" in_case case_container vdi
run_case "VMDK: dump, test-key, add/remove-key, rekey" in_case case_container vmdk
run_case "VHDX: dump, test-key, add/remove-key, rekey" in_case case_container vhdx
run_case "partition 2 of a GPT disk in a qcow2: rekey disk.qcow2@2" in_case case_partition
run_case "encrypt of a qcow2 SRC: the guest's disk; --source-format raw: the file" in_case case_qcow2_source
run_case "decrypt --format qcow2: identical, clean, thin" in_case case_decrypt_qcow2
run_case "create --format vdi, encrypt --format qcow2/vdi/vmdk/vhdx" in_case case_new_containers
run_case "a qcow2 overlay: rekey leaves the backing file alone; a missing backing file" in_case case_backing
run_case "bad input: garbage qcow2 header, read-only, busy, no QEMU in PATH" in_case case_bad_input
run_case "qemu-nbd when qemu-storage-daemon is not in PATH: test-key, rekey" in_case case_qemu_nbd
run_case "vmcrypt kill -9 mid-rekey of a qcow2, then --resume" in_case case_kill kill
run_case "vmcrypt VMCRYPT_FAULT=kill:40 mid-rekey of a qcow2, then --resume" in_case case_kill kill:40 last

finish
