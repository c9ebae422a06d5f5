#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt serve, with nbdkit and the plugin, against the real peers:
#  - on a Unix socket and on a loopback TCP port, nbdcopy and qemu-img convert read
#    the whole plaintext through the URI serve printed; what they write is read back
#    by vmcrypt decrypt (and QEMU's luks driver for LUKS1) after SIGTERM or SIGINT,
#    which stop nbdkit cleanly (exit 0, image flushed);
#  - the QEMU -blockdev and -drive arguments it prints work when pasted into
#    qemu-system-x86_64; the libvirt <disk> element is well-formed XML;
#  - --read-only shares the image with other readers and refuses writes;
#  - a busy image (another serve, or a mount) gives exit 5 with a message, a wrong
#    passphrase exit 2; the default socket lives in a private directory; a stale
#    socket left by a killed server is replaced; binary key files pass whole.
. "${SRCDIR:?}/../serve/functions.sh"

requires_plugin
requires qemu-img
requires test -x "$VMCRYPT"

DATA_KIB=32768

case_socket()
{
	local type=$1 sig=$2 uri
	trap case_cleanup EXIT
	make_plain plain "$DATA_KIB"
	new_image img plain "$type"
	serve_start img --key-file "$PASS" --socket "$PWD/s.sock"
	uri=$(serve_uri)
	expect_eq "$uri" "$(sock_uri "$PWD/s.sock")" "the URI serve printed"
	nbdcopy "$uri" out1
	expect_same out1 plain "nbdcopy read through vmcrypt serve ($type)"
	qemu-img convert -f raw -O raw "$uri" out2
	expect_same out2 plain "qemu-img convert read through vmcrypt serve ($type)"
	make_plain new "$DATA_KIB"
	qemu-img convert -n -f raw -O raw new "$uri"
	serve_stop "$sig"
	[ ! -e s.sock ] || fail "the socket is left behind"
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec new "vmcrypt decrypt after qemu-img wrote through vmcrypt serve ($type)"
	if [ "$type" = luks1 ]; then
		qemu_luks_read img "$PASS" qemu.raw
		expect_same qemu.raw new "QEMU's luks driver after a write through vmcrypt serve"
	fi
}

case_port()
{
	local port
	trap case_cleanup EXIT
	make_plain plain 8192
	new_image img plain luks2
	port=$(free_port)
	serve_start img --key-file "$PASS" --port "$port"
	expect_eq "$(serve_uri)" "nbd://127.0.0.1:$port" "the URI serve printed"
	grep -q "server.type=inet,server.host=127.0.0.1,server.port=$port" serve.out ||
		fail "no -blockdev for the port"
	if command -v ss >/dev/null 2>&1; then
		ss -ltnH "sport = :$port" >listen.txt
		grep -q "127.0.0.1:$port" listen.txt || fail "nbdkit does not listen on 127.0.0.1:$port"
		if grep -v -q "127.0.0.1:$port" listen.txt; then
			fail "nbdkit listens beyond the loopback: $(cat listen.txt)"
		fi
	fi
	make_plain new 8192
	nbdcopy new "nbd://127.0.0.1:$port"
	nbdcopy "nbd://127.0.0.1:$port" out
	expect_same out new "nbdcopy over TCP"
	serve_stop INT
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec new "written over TCP"
}

# The printed arguments, pasted into QEMU (stopped before the guest runs), read the disk.
case_qemu_paste()
{
	local line out
	requires qemu-system-x86_64
	trap case_cleanup EXIT
	make_plain plain 4096
	new_image img plain luks2
	serve_start img --key-file "$PASS" --socket "$PWD/s.sock"
	for line in "$(grep '^-blockdev ' serve.out)" "$(grep '^-drive ' serve.out)"; do
		# shellcheck disable=SC2086 # the printed arguments are meant to be split
		out=$(printf 'info block\nqemu-io %s "read -v 0 32"\nquit\n' \
			"$(case $line in -blockdev*) echo vmcrypt0 ;; *) echo virtio0 ;; esac)" |
			timeout 60 qemu-system-x86_64 -nodefaults -display none -M pc -accel tcg -S \
				-monitor stdio $line 2>&1)
		echo "$out" | grep -q 'vmcrypt.interop.' ||
			{ echo "$out" >&2; fail "QEMU with the pasted '$line' did not read the plaintext"; }
	done
	sed -n '/^<disk/,/^<\/disk>/p' serve.out >disk.xml
	python3 -c 'import sys, xml.etree.ElementTree as E; d=E.parse("disk.xml").getroot(); h=d.find("source/host"); sys.exit(0 if d.get("type")=="network" and h.get("transport")=="unix" and h.get("socket")==sys.argv[1] else 1)' "$PWD/s.sock" ||
		fail "bad libvirt <disk>: $(cat disk.xml)"
	serve_stop
}

case_read_only()
{
	trap case_cleanup EXIT
	make_plain plain 4096
	new_image img plain luks2
	serve_start img --key-file "$PASS" --socket "$PWD/s.sock" --read-only
	grep -q 'read-only=on' serve.out || fail "no read-only=on in the -blockdev"
	grep -q '<readonly/>' serve.out || fail "no <readonly/> in the libvirt disk"
	if nbdcopy plain "$(serve_uri)" 2>/dev/null; then
		fail "wrote through a read-only serve"
	fi
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec plain "vmcrypt decrypt beside a read-only serve"
	serve_stop
}

case_busy()
{
	trap case_cleanup EXIT
	make_plain plain 1024
	new_image img plain luks2
	serve_start img --key-file "$PASS" --socket "$PWD/s.sock"
	expect_exit "$EXIT_BUSY" vmc serve img --key-file "$PASS" --socket "$PWD/s2.sock"
	grep -q 'in use by another process' last.err || fail "no clear message: $(cat last.err)"
	expect_exit "$EXIT_BUSY" vmc serve img --key-file "$PASS" --read-only --socket "$PWD/s2.sock"
	if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
		mkdir mnt
		expect_exit "$EXIT_BUSY" vmc mount img mnt --key-file "$PASS"
		mountpoint -q mnt && fail "mounted a busy image"
	fi
	# The same socket, still served: refused before the passphrase is asked.
	make_plain p2 1024
	new_image img2 p2 luks2
	expect_exit "$EXIT_IO" vmc serve img2 --key-file "$PASS" --socket "$PWD/s.sock"
	grep -q 'another server is listening' last.err || fail "no message for a socket in use"
	serve_stop
}

case_errors()
{
	make_plain plain 1024
	new_image img plain luks2
	expect_exit "$EXIT_PASS" vmc serve img --key-file "$WRONG" --socket "$PWD/s.sock"
	[ ! -e s.sock ] || fail "socket left after a failed start"
	expect_exit "$EXIT_USAGE" vmc serve img --key-file "$PASS" --socket "$PWD/s.sock" --port 10809
	expect_exit "$EXIT_NOTLUKS" vmc serve plain --key-file "$PASS" --socket "$PWD/s.sock"
	VMCRYPT_NBDKIT=/nonexistent/nbdkit expect_exit "$EXIT_NOTLUKS" vmc serve img --key-file "$PASS" --socket "$PWD/s.sock"
	grep -q 'cannot run /nonexistent/nbdkit' last.err || fail "no message for a missing nbdkit: $(cat last.err)"
}

case_default_socket()
{
	local sock mode
	trap case_cleanup EXIT
	make_plain plain 1024
	new_image disk.img plain luks2
	mkdir -m 0700 run
	export XDG_RUNTIME_DIR=$PWD/run
	serve_start disk.img --key-file "$PASS"
	sock=$PWD/run/vmcrypt/disk.img.sock
	expect_eq "$(serve_uri)" "$(sock_uri "$sock")" "the default socket"
	expect_eq "$(stat -c %a run/vmcrypt)" 700 "mode of the socket directory"
	# Connecting needs write permission on the socket: nobody else has it.
	mode=$(stat -c %a "$sock")
	[ $((8#$mode & 8#022)) -eq 0 ] || fail "others may connect to the socket (mode $mode)"
	nbdcopy "$(serve_uri)" out
	expect_same out plain "read through the default socket"
	serve_stop
	# qemu-args names the same socket for a LUKS2 image.
	vmc qemu-args disk.img >args.txt
	grep -q "server.path=$sock" args.txt || fail "qemu-args and serve disagree: $(cat args.txt)"
	# A directory others may enter is refused.
	chmod 0755 run/vmcrypt
	expect_exit "$EXIT_IO" vmc serve disk.img --key-file "$PASS"
	grep -q 'private' last.err || fail "no message for a shared socket directory"
}

case_stale_socket()
{
	trap case_cleanup EXIT
	make_plain plain 1024
	new_image img plain luks2
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$PWD/s.sock"
	serve_start img --key-file "$PASS" --socket "$PWD/s.sock"
	nbdcopy "$(serve_uri)" out
	expect_same out plain "read after replacing a stale socket"
	serve_stop
}

case_binary_key()
{
	trap case_cleanup EXIT
	printf 'key\nwith\0newline and NUL\n' >binkey
	make_plain plain 1024
	vmc encrypt plain img --key-file binkey "${FAST_PBKDF2[@]}" >/dev/null
	serve_start img --key-file binkey --socket "$PWD/s.sock"
	nbdcopy "$(serve_uri)" out
	expect_same out plain "a binary key file through vmcrypt serve"
	serve_stop
}

run_case "socket-luks2" case_socket luks2 TERM
run_case "socket-luks1" case_socket luks1 INT
run_case "port" case_port
run_case "qemu-paste" case_qemu_paste
run_case "read-only" case_read_only
run_case "busy" case_busy
run_case "errors" case_errors
run_case "default-socket" case_default_socket
run_case "stale-socket" case_stale_socket
run_case "binary-key" case_binary_key
finish
