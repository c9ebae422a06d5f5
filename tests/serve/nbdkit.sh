#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The nbdkit plugin on its own (nbdkit PLUGIN file=IMAGE ...), against the real peers:
#  - nbdcopy and qemu-img convert read the whole plaintext (sha256 = the source), for
#    LUKS2 with 4096-byte sectors and LUKS1; what they write is read back by vmcrypt
#    decrypt and, for LUKS1, by QEMU's own luks driver;
#  - the password conventions (password=+FILE, -FD) and key-file= (every byte, also
#    newlines and NULs, also -FD); a wrong passphrase stops nbdkit with a message;
#  - readonly=true with -r shares the image with other readers; a writer refuses an
#    image another writer has open; block size hints follow the sector size;
#  - allow-discards: TRIM only when asked for; it frees the space of the trimmed sectors
#    (a hole in the image) and leaves every other byte as it was;
#  - nbdkit in the background (fork): the key is derived again there and it serves.
. "${SRCDIR:?}/../serve/functions.sh"

requires_plugin
requires qemu-img
requires test -x "$VMCRYPT"

DATA_KIB=32768

# nbdkit_run IMG PARAMS... -- CMD: nbdkit on a private socket running CMD ($uri set).
nbdkit_run()
{
	local img=$1 params=() cmd
	shift
	while [ "$1" != "--" ]; do
		params+=("$1")
		shift
	done
	shift
	cmd=$*
	nbdkit -U - "$PLUGIN" file="$img" "${params[@]}" --run "$cmd"
}

case_read_write()
{
	local type=$1
	shift
	make_plain plain "$DATA_KIB"
	new_image img plain "$type" "$@"
	nbdkit_run img password=+"$PASS" -- 'nbdcopy "$uri" out1 && qemu-img convert -f raw -O raw "$uri" out2'
	expect_same out1 plain "nbdcopy read through the plugin ($type)"
	expect_same out2 plain "qemu-img convert read through the plugin ($type)"

	make_plain new1 "$DATA_KIB"
	nbdkit_run img password=+"$PASS" -- 'nbdcopy new1 "$uri"'
	vmc decrypt img dec1 --key-file "$PASS"
	expect_same dec1 new1 "vmcrypt decrypt after nbdcopy wrote through the plugin ($type)"

	make_plain new2 "$DATA_KIB"
	nbdkit_run img password=+"$PASS" -- 'qemu-img convert -n -f raw -O raw new2 "$uri"'
	vmc decrypt img dec2 --key-file "$PASS"
	expect_same dec2 new2 "vmcrypt decrypt after qemu-img wrote through the plugin ($type)"
	if [ "$type" = luks1 ]; then
		qemu_luks_read img "$PASS" qemu.raw
		expect_same qemu.raw new2 "QEMU's luks driver after qemu-img wrote through the plugin"
	fi
}

case_passwords()
{
	local bin=binkey
	make_plain plain 1024
	new_image img plain luks2
	nbdkit_run img password=-3 -- 'nbdcopy "$uri" out' 3<"$PASS"
	expect_same out plain "password=-FD"
	nbdkit_run img key-file="$PASS" -- 'nbdcopy "$uri" out2'
	expect_same out2 plain "key-file=FILE"

	# A key file with a newline and NUL bytes: only key-file= passes it whole.
	printf 'line one\nline\0two\n' >"$bin"
	new_image img2 plain luks2 --key-file "$bin"
	nbdkit_run img2 key-file=-4 -- 'nbdcopy "$uri" out3' 4<"$bin"
	expect_same out3 plain "key-file=-FD with newline and NUL bytes"
	if nbdkit_run img2 password=+"$bin" -- true 2>err.txt; then
		fail "password=+FILE cannot carry a multi-line key file, yet nbdkit started"
	fi

	if nbdkit_run img password=+"$WRONG" -- true 2>err.txt; then
		fail "nbdkit started with a wrong passphrase"
	fi
	grep -q 'no key slot opens' err.txt || { cat err.txt >&2; fail "no clear message for a wrong passphrase"; }
	if nbdkit_run img -- true 2>err.txt; then
		fail "nbdkit started without a passphrase"
	fi
	grep -q 'passphrase is required' err.txt || { cat err.txt >&2; fail "no message for a missing passphrase"; }
}

case_readonly_and_busy()
{
	trap case_cleanup EXIT
	make_plain plain 1024
	new_image img plain luks2
	# A read-only server holds a shared lock: another reader may open the image.
	nbdkit -f -r -U ro.sock -P ro.pid "$PLUGIN" file=img password=+"$PASS" readonly=true \
		>ro.log 2>&1 &
	BG_PIDS+=($!)
	wait_for test -s ro.pid || { cat ro.log >&2; fail "read-only nbdkit did not start"; }
	nbdinfo --json "$(sock_uri ro.sock)" >info.json
	python3 -c 'import json,sys; d=json.load(open("info.json"))["exports"][0]; sys.exit(0 if d["is_read_only"] else 1)' ||
		fail "the read-only export is writable"
	if nbdcopy plain "$(sock_uri ro.sock)" 2>/dev/null; then
		fail "nbdcopy wrote into a read-only export"
	fi
	nbdkit_run img password=+"$PASS" readonly=true -r -- 'nbdcopy "$uri" out'
	expect_same out plain "a second reader beside a read-only server"
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec plain "vmcrypt decrypt beside a read-only server"
	# ... but a writer must wait.
	if nbdkit_run img password=+"$PASS" -- true 2>err.txt; then
		fail "a writer opened an image a reader has open"
	fi
	kill "$(cat ro.pid)"
	wait_for sh -c "! kill -0 $(cat ro.pid) 2>/dev/null"

	# A writer excludes everybody else.
	nbdkit -f -U rw.sock -P rw.pid "$PLUGIN" file=img password=+"$PASS" >rw.log 2>&1 &
	BG_PIDS+=($!)
	wait_for test -s rw.pid || { cat rw.log >&2; fail "nbdkit did not start"; }
	if nbdkit_run img password=+"$PASS" -- true 2>err.txt; then
		fail "a second writer opened the image"
	fi
	grep -q 'another process has open for writing\|in use by another process' err.txt ||
		{ cat err.txt >&2; fail "no clear message for a busy image"; }
	expect_exit "$EXIT_BUSY" vmc decrypt img dec2 --key-file "$PASS"
	kill "$(cat rw.pid)"
}

case_block_size()
{
	local min
	make_plain plain 1024
	new_image l2 plain luks2 --sector-size 4096
	new_image l1 plain luks1
	nbdkit_run l2 password=+"$PASS" -- 'nbdinfo --json "$uri" > l2.json'
	nbdkit_run l1 password=+"$PASS" -- 'nbdinfo --json "$uri" > l1.json'
	min=$(python3 -c 'import json; print(json.load(open("l2.json"))["exports"][0]["block_size_minimum"])')
	expect_eq "$min" 4096 "minimum block size of a 4096-byte-sector image"
	min=$(python3 -c 'import json; print(json.load(open("l1.json"))["exports"][0]["block_size_minimum"])')
	expect_eq "$min" 512 "minimum block size of a LUKS1 image"
	python3 -c 'import json,sys; d=json.load(open("l1.json"))["exports"][0]; sys.exit(0 if d["can_multi_conn"] and d["can_flush"] and d["can_fua"] and not d["can_trim"] else 1)' ||
		fail "expected multi-conn, flush and FUA, and no trim by default: $(cat l1.json)"
}

case_discards()
{
	requires_nbdsh
	make_plain plain 2048
	new_image img plain luks2
	nbdkit_run img password=+"$PASS" allow-discards=true -- 'nbdinfo --json "$uri" > info.json && "$NBD_PYTHON" -m nbd -u "$uri" -c "h.trim(65536, 1048576); h.flush()"'
	python3 -c 'import json,sys; sys.exit(0 if json.load(open("info.json"))["exports"][0]["can_trim"] else 1)' ||
		fail "allow-discards=true does not advertise trim"
	# The trimmed 64 KiB became a hole in the image file (as dm-crypt passes discards down).
	python3 - img <<'PY' || fail "the trimmed range is not a hole in the image"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
hdr = 16 << 20  # LUKS2 data offset
start = os.lseek(fd, hdr + 1048576, os.SEEK_HOLE)
sys.exit(0 if start == hdr + 1048576 and os.lseek(fd, start, os.SEEK_DATA) >= start + 65536 else 1)
PY
	vmc decrypt img dec --key-file "$PASS"
	python3 - plain dec <<'PY' || fail "bytes outside the trimmed range changed"
import sys
a, b = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
lo, hi = 1048576, 1048576 + 65536
sys.exit(0 if len(a) == len(b) and a[:lo] == b[:lo] and a[hi:] == b[hi:] else 1)
PY
}

case_background()
{
	trap case_cleanup EXIT
	make_plain plain 4096
	new_image img plain luks2
	# Without -f nbdkit forks: the plugin derives the key again in the child.
	nbdkit -U bg.sock -P bg.pid "$PLUGIN" file="$PWD/img" password=+"$PASS" 2>bg.log
	wait_for test -s bg.pid || { cat bg.log >&2; fail "nbdkit did not go to the background"; }
	nbdcopy "$(sock_uri bg.sock)" out
	expect_same out plain "nbdkit in the background"
	make_plain new 4096
	nbdcopy new "$(sock_uri bg.sock)"
	kill "$(cat bg.pid)"
	wait_for sh -c "! kill -0 $(cat bg.pid) 2>/dev/null" || fail "nbdkit did not stop"
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec new "written through nbdkit in the background"
}

run_case "read-write-luks2-4096" case_read_write luks2 --sector-size 4096
run_case "read-write-luks2-512" case_read_write luks2 --sector-size 512
run_case "read-write-luks1" case_read_write luks1
run_case "passwords" case_passwords
run_case "readonly-and-busy" case_readonly_and_busy
run_case "block-size" case_block_size
run_case "discards" case_discards
run_case "background" case_background
finish
