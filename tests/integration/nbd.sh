#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt on images behind an NBD server (lib/io/nbd.c, libnbd), with the servers
# QEMU 7.2 and nbdkit 1.32 ship:
#  - a LUKS2 image vmcrypt encrypt made, exported by qemu-nbd on a Unix socket, by
#    qemu-nbd on 127.0.0.1 (TCP), by nbdkit's file plugin and by nbdkit's memory
#    plugin (the image copied in with nbdcopy): on each, vmcrypt dump agrees with
#    cryptsetup luksDump of the file, test-key opens (and exits 2 with a wrong
#    passphrase), add-key/remove-key over NBD leave a header cryptsetup opens with
#    exactly the passphrases expected, rekey over NBD leaves one cryptsetup opens
#    with the new passphrase only, and the plaintext (vmcrypt decrypt of the file and
#    over NBD) is the original;
#  - a thin image (vmcrypt create) re-keyed over NBD stays thin (base:allocation);
#  - vmcrypt killed (kill -9, and VMCRYPT_FAULT=kill:N) mid-rekey over NBD: rekey
#    --resume finishes and the plaintext is the original;
#  - qemu-nbd killed (kill -9) mid-rekey: vmcrypt exits non-zero at once with the
#    lost connection named once, the restarted server lets --resume finish;
#  - TLS with a pre-shared key (nbds+unix://, nbdkit --tls=require): the verbs work,
#    a wrong key and a plain connection are refused, no message repeats the query;
#  - a GPT disk over NBD re-keyed in its partition 2; exports as encrypt's and
#    decrypt's DST (--force); vmcrypt serve and mount of an export;
#  - a wrong export name, a read-only export opened for writing, a partition and
#    create on a URI are refused with a clear message and a non-zero exit.
# Every server is stopped by a trap, whatever happens to the case.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires qemu-nbd
requires nbdkit
requires nbdcopy
requires nbdinfo
requires test -x "$VMCRYPT"
requires nbdkit memory --dump-plugin

HAVE_CS=0
command -v cryptsetup >/dev/null 2>&1 && HAVE_CS=1
NEW=$TMPDIR_TEST/new
printf '%s' 'the new passphrase 3' >"$NEW"

# --- servers --------------------------------------------------------------------

servers_track


free_port()
{
	"$PYTHON" -S -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# export_image KIND IMG: serves IMG (qemu-unix, qemu-tcp, nbdkit-file, nbdkit-memory); URI.
# A memory export holds a copy: export_back copies it into IMG again.
export_image()
{
	local kind=$1 img=$2 sock=$PWD/nbd.sock port
	rm -f "$sock"
	case $kind in
	qemu-unix)
		serve qemu-nbd --persistent -f raw --socket "$sock" "$img"
		URI="nbd+unix:///?socket=$sock"
		;;
	qemu-tcp)
		port=$(free_port)
		serve qemu-nbd --persistent -f raw --bind 127.0.0.1 --port "$port" "$img"
		URI="nbd://127.0.0.1:$port"
		;;
	nbdkit-file)
		serve nbdkit -f -U "$sock" file "$img"
		URI="nbd+unix:///?socket=$sock"
		;;
	nbdkit-memory)
		serve nbdkit -f -U "$sock" memory "$(filesize "$img")"
		URI="nbd+unix:///?socket=$sock"
		wait_ready "$URI"
		nbdcopy "$img" "$URI" || fail "nbdcopy into nbdkit's memory plugin"
		;;
	esac
	wait_ready "$URI"
	KIND=$kind
}

# The file cryptsetup should look at: the exported file, or a copy of the memory export.
export_file()
{
	if [ "$KIND" = nbdkit-memory ]; then
		rm -f mem.img
		nbdcopy "$URI" mem.img || fail "nbdcopy out of nbdkit's memory plugin"
		echo mem.img
	else
		echo img
	fi
}

# --- checks ---------------------------------------------------------------------

# plain_over_nbd KEY OUT: the plaintext vmcrypt decrypt reads over NBD.
plain_over_nbd()
{
	rm -f "$2"
	expect_exit 0 vmc decrypt "$URI" "$2" --key-file "$1"
}

cs_opens()
{
	cs open --test-passphrase --key-file "$2" "$1" >/dev/null 2>&1
}

# Every verb over each kind of export, cryptsetup judging the file.
case_verbs()
{
	local kind=$1 f rc
	make_plain plain 16384
	expect_exit 0 vmc encrypt plain img --type luks2 --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
	export_image "$kind" img
	echo "$kind: $URI"

	expect_exit 0 vmc dump "$URI"
	cp last.out nbd.dump
	expect_exit 0 vmc dump img
	cp last.out file.dump
	expect_eq "$(luksmeta field nbd.dump uuid)" "$(luksmeta field file.dump uuid)" "UUID over NBD vs the file"
	if [ "$HAVE_CS" = 1 ]; then
		cs luksDump img >cs.dump
		luksmeta compare cs.dump nbd.dump || fail "vmcrypt dump over NBD disagrees with cryptsetup luksDump"
	fi
	expect_exit 0 vmc test-key "$URI" --key-file "$PASS"
	expect_exit "$EXIT_PASS" vmc test-key "$URI" --key-file "$WRONG"

	expect_exit 0 vmc add-key "$URI" --key-file "$PASS" --new-key-file "$PASS2" "${FAST_PBKDF2[@]}"
	expect_exit 0 vmc test-key "$URI" --key-file "$PASS2"
	if [ "$HAVE_CS" = 1 ]; then
		f=$(export_file)
		cs_opens "$f" "$PASS2" || fail "cryptsetup refuses the passphrase add-key stored over NBD"
		cs_opens "$f" "$PASS" || fail "cryptsetup refuses the first passphrase after add-key over NBD"
	fi
	expect_exit 0 vmc remove-key "$URI" --key-file "$PASS2" --batch-mode
	expect_exit "$EXIT_PASS" vmc test-key "$URI" --key-file "$PASS2"
	if [ "$HAVE_CS" = 1 ]; then
		f=$(export_file)
		rc=0
		cs_opens "$f" "$PASS2" || rc=$?
		expect_eq "$rc" 2 "cryptsetup's exit with the passphrase remove-key removed over NBD"
		cs_opens "$f" "$PASS" || fail "cryptsetup refuses the remaining passphrase"
	fi

	expect_exit 0 vmc rekey "$URI" --key-file "$PASS" --new-key-file "$NEW" --batch-mode \
		"${FAST_PBKDF2[@]}" --hotzone-size 1M
	expect_exit "$EXIT_PASS" vmc test-key "$URI" --key-file "$PASS"
	plain_over_nbd "$NEW" out.nbd
	expect_same out.nbd plain "plaintext over NBD ($kind) after rekey over NBD"
	f=$(export_file)
	expect_exit 0 vmc decrypt "$f" out.file --key-file "$NEW"
	expect_same out.file plain "plaintext of the file after rekey over NBD ($kind)"
	if [ "$HAVE_CS" = 1 ]; then
		cs_opens "$f" "$NEW" || fail "cryptsetup refuses the new passphrase after rekey over NBD"
		if cs_opens "$f" "$PASS"; then fail "cryptsetup still opens with the old passphrase"; fi
	fi
}

# A thin image stays thin through a rekey over NBD: the server's holes are skipped
# (base:allocation), as the file backend skips them in a local copy (SEEK_HOLE).
case_thin()
{
	local local_kib nbd_kib
	expect_exit 0 vmc create img --type luks2 --size 256M --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
	cp --sparse=always img local.img
	expect_exit 0 vmc rekey local.img --key-file "$PASS" --new-key-file "$NEW" --batch-mode "${FAST_PBKDF2[@]}"
	local_kib=$(du -k local.img | cut -f1)
	export_image qemu-unix img
	expect_exit 0 vmc rekey "$URI" --key-file "$PASS" --new-key-file "$NEW" --batch-mode "${FAST_PBKDF2[@]}"
	nbd_kib=$(du -k img | cut -f1)
	echo "allocated after the rekey of a 256 MiB thin image: $local_kib KiB (local), $nbd_kib KiB (over NBD)"
	[ "$nbd_kib" -le $((local_kib + 1024)) ] ||
		fail "the rekey over NBD filled the image: $nbd_kib KiB, $local_kib KiB for the local copy"
	expect_exit 0 vmc test-key img --key-file "$NEW"
	if [ "$HAVE_CS" = 1 ]; then cs_opens img "$NEW" || fail "cryptsetup refuses the new passphrase"; fi
}

pending()
{
	vmc dump "$URI" 2>/dev/null | grep -q 'online-reencrypt'
}

# rekey_bg: vmcrypt rekey (64K hotzones: long enough to interrupt) in the background.
rekey_bg()
{
	"$VMCRYPT" rekey "$URI" --key-file "$PASS" --new-key-file "$NEW" --batch-mode \
		"${FAST_PBKDF2[@]}" --hotzone-size 64K >bg.out 2>&1 </dev/null &
	BG_PID=$!
}

# wait_started FILE: until the header in FILE shows the re-encryption under way.
wait_started()
{
	for _ in $(seq 1 200); do
		head -c 32768 "$1" | grep -a -q 'reencrypt' && return 0
		kill -0 "$BG_PID" 2>/dev/null || break
		sleep 0.02
	done
	fail "the re-encryption did not start: $(cat bg.out)"
}

finish_and_check()
{
	expect_exit 0 vmc rekey "$URI" --resume --key-file "$NEW" --batch-mode
	if pending; then fail "still unfinished after --resume"; fi
	plain_over_nbd "$NEW" out.nbd
	expect_same out.nbd plain "plaintext after the interrupted rekey over NBD was resumed"
	if [ "$HAVE_CS" = 1 ]; then cs_opens img "$NEW" || fail "cryptsetup refuses the new passphrase"; fi
}

# vmcrypt dies mid-rekey: by kill -9, or at its Nth write (VMCRYPT_FAULT, every backend).
case_kill_client()
{
	local how=$1 rc=0
	make_plain plain 65536
	expect_exit 0 vmc encrypt plain img --type luks2 --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
	export_image nbdkit-file img
	if [ "$how" = kill ]; then
		rekey_bg
		wait_started img
		sleep 0.3
		kill -9 "$BG_PID" 2>/dev/null || true
		{ wait "$BG_PID" || rc=$?; } 2>/dev/null # (not bash's "Killed" line)
	else
		{ VMCRYPT_FAULT=$how "$VMCRYPT" rekey "$URI" --key-file "$PASS" --new-key-file "$NEW" \
			--batch-mode "${FAST_PBKDF2[@]}" --hotzone-size 64K >bg.out 2>&1 </dev/null ||
			rc=$?; } 2>/dev/null
	fi
	expect_eq "$rc" 137 "exit status of vmcrypt killed mid-rekey ($how)"
	pending || fail "no unfinished re-encryption after the kill ($how)"
	finish_and_check
}

# The server dies mid-rekey: vmcrypt must fail at once, not hang; a new server, --resume.
case_kill_server()
{
	local rc=0 lines
	make_plain plain 65536
	expect_exit 0 vmc encrypt plain img --type luks2 --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
	export_image qemu-unix img
	timeout 60 "$VMCRYPT" rekey "$URI" --key-file "$PASS" --new-key-file "$NEW" --batch-mode \
		"${FAST_PBKDF2[@]}" --hotzone-size 64K >bg.out 2>&1 </dev/null &
	BG_PID=$!
	wait_started img
	sleep 0.3
	{
		kill -9 "$SERVER_PID"
		wait "$SERVER_PID" || true
	} 2>/dev/null
	wait "$BG_PID" || rc=$?
	echo "vmcrypt after the server was killed: exit $rc: $(cat bg.out)"
	[ "$rc" -ne 124 ] || fail "vmcrypt hung after the NBD server was killed"
	[ "$rc" -ne 0 ] || fail "the rekey finished before the server was killed: nothing tested"
	expect_eq "$rc" "$EXIT_IO" "exit status when the NBD server dies"
	expect_eq "$(grep -c 'connection to the NBD server was lost' bg.out)" 1 \
		"reports of the lost connection (once, whatever the number of threads)"
	lines=$(wc -l <bg.out)
	[ "$lines" -le 2 ] || fail "$lines lines of errors for one lost connection"
	export_image qemu-unix img
	pending || fail "no unfinished re-encryption after the server was killed"
	finish_and_check
}

random_hex()
{
	"$PYTHON" -S -c 'import os; print(os.urandom(32).hex())'
}

# TLS with a pre-shared key (nbds+unix://, the key file named in the query string,
# which no message may repeat).
case_tls()
{
	local sock=$PWD/tls.sock
	make_plain plain 4096
	expect_exit 0 vmc encrypt plain img --type luks2 --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
	printf 'alice:%s\n' "$(random_hex)" >psk.keys
	printf 'alice:%s\n' "$(random_hex)" >wrong.keys
	chmod 600 psk.keys wrong.keys
	serve nbdkit -f -U "$sock" --tls=require --tls-psk="$PWD/psk.keys" file img
	URI="nbds+unix://alice@/?socket=$sock&tls-psk-file=$PWD/psk.keys"
	wait_ready "$URI"
	expect_exit 0 vmc test-key "$URI" --key-file "$PASS"
	expect_exit 0 vmc add-key "$URI" --key-file "$PASS" --new-key-file "$PASS2" "${FAST_PBKDF2[@]}"
	plain_over_nbd "$PASS2" out
	expect_same out plain "plaintext over TLS"
	if [ "$HAVE_CS" = 1 ]; then cs_opens img "$PASS2" || fail "cryptsetup refuses the key added over TLS"; fi
	expect_unchanged img vmc test-key "nbds+unix://alice@/?socket=$sock&tls-psk-file=$PWD/wrong.keys" \
		--key-file "$PASS" && fail "a wrong TLS key was accepted"
	if grep -q 'tls-psk-file' last.err; then fail "a message repeats the query string: $(cat last.err)"; fi
	expect_unchanged img vmc test-key "nbd+unix:///?socket=$sock" --key-file "$PASS" &&
		fail "a connection without TLS was accepted by a server that requires it"
	grep -q 'TLS' last.err || fail "unclear error without TLS: $(cat last.err)"
}

# Refusals: each with a message and its exit status, the image unchanged.
case_refusals()
{
	local sock=$PWD/nbd.sock
	make_plain plain 4096
	expect_exit 0 vmc encrypt plain img --type luks2 --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"

	serve qemu-nbd --persistent -f raw -x theexport --socket "$sock" img
	wait_ready "nbd+unix:///theexport?socket=$sock"
	URI="nbd+unix:///theexport?socket=$sock"
	expect_exit 0 vmc test-key "$URI" --key-file "$PASS"
	expect_unchanged img vmc test-key "nbd+unix:///another?socket=$sock" --key-file "$PASS" &&
		fail "a wrong export name was accepted"
	grep -q "no export named 'another'" last.err || fail "unclear error for a wrong export name: $(cat last.err)"
	expect_eq "$(wc -l <last.err)" 1 "lines of error for a wrong export name"
	stop_pid "$SERVER_PID"

	rm -f "$sock"
	serve qemu-nbd --persistent --read-only -f raw --socket "$sock" img
	URI="nbd+unix:///?socket=$sock"
	wait_ready "$URI"
	expect_exit 0 vmc dump "$URI"
	expect_unchanged img vmc add-key "$URI" --key-file "$PASS" --new-key-file "$PASS2" \
		"${FAST_PBKDF2[@]}" && fail "add-key on a read-only export succeeded"
	grep -q 'read-only' last.err || fail "unclear error for a read-only export: $(cat last.err)"
	expect_exit "$EXIT_NOTLUKS" vmc dump "$URI" --partition 1
	grep -q 'no partition table' last.err ||
		fail "unclear error for a partition of a disk without a table: $(cat last.err)"
	expect_unchanged img vmc create "$URI" --size 1M --key-file "$PASS" --force --batch-mode \
		"${FAST_PBKDF2[@]}" && fail "create into a read-only export succeeded"
	grep -q 'read-only' last.err || fail "unclear error for create on a read-only export: $(cat last.err)"
	expect_exit "$EXIT_USAGE" vmc create "$URI" --size 1M --key-file "$PASS" "${FAST_PBKDF2[@]}"
	grep -q 'exists; use --force' last.err || fail "create into an export without --force: $(cat last.err)"
	stop_pid "$SERVER_PID"
	expect_exit "$EXIT_NOTLUKS" vmc dump "$URI"
	grep -q 'No such file' last.err || fail "unclear error without a server: $(cat last.err)"
}

# A GPT disk over NBD: partition 2 (a LUKS2 image) re-keyed there; an export as DST of
# encrypt and decrypt (written into, --force), cryptsetup judging the files.
case_partition_dst()
{
	local sock=$PWD/nbd.sock
	make_plain plain 8192
	truncate -s 64M disk
	printf 'label: gpt\nstart=2048, size=20480, type=linux\nstart=22528, size=100000, type=linux\n' |
		sfdisk -q disk || fail "sfdisk"
	expect_exit 0 vmc encrypt plain disk@2 --force --batch-mode --key-file "$PASS" "${FAST_PBKDF2[@]}"
	serve qemu-nbd --persistent -f raw --socket "$sock" disk
	URI="nbd+unix:///?socket=$sock"
	wait_ready "$URI"
	expect_exit 0 vmc rekey "$URI" --partition 2 --key-file "$PASS" --new-key-file "$NEW" \
		--batch-mode "${FAST_PBKDF2[@]}"
	expect_exit "$EXIT_PASS" vmc test-key "$URI" --partition 2 --key-file "$PASS"
	if [ "$HAVE_CS" = 1 ]; then
		dd if=disk of=part2 bs=512 skip=22528 count=100000 status=none
		cs_opens part2 "$NEW" || fail "cryptsetup refuses the partition re-keyed over NBD"
	fi
	expect_exit 0 vmc decrypt disk@2 out --key-file "$NEW"
	cmp -n "$(filesize plain)" out plain || fail "the partition's plaintext changed"
	stop_pid "$SERVER_PID"

	# DST: an export of a 32 MiB file (16 MiB of header room), filled by encrypt, read back
	# by decrypt into another.
	rm -f "$sock" out
	truncate -s 32M dst
	serve qemu-nbd --persistent -f raw --socket "$sock" dst
	wait_ready "$URI"
	expect_exit 0 vmc encrypt plain "$URI" --force --batch-mode --key-file "$PASS" "${FAST_PBKDF2[@]}"
	if [ "$HAVE_CS" = 1 ]; then cs_opens dst "$PASS" || fail "cryptsetup refuses what encrypt wrote into an export"; fi
	stop_pid "$SERVER_PID"
	rm -f "$sock"
	# The image's plaintext runs to the export's end: 16 MiB, SRC's 8 MiB first.
	truncate -s 16M plainout
	serve qemu-nbd --persistent -f raw --socket "$sock" plainout
	wait_ready "$URI"
	expect_exit 0 vmc decrypt dst "$URI" --force --batch-mode --key-file "$PASS"
	stop_pid "$SERVER_PID"
	cmp -n "$(filesize plain)" plainout plain || fail "decrypt into an export: not the plaintext"
}

# serve and mount of an export: vmcrypt serve re-exports the plaintext (nbdcopy reads
# it), vmcrypt mount shows it as DIR/disk.raw.
case_serve_mount()
{
	local sock=$PWD/nbd.sock qemu_pid
	make_plain plain 8192
	expect_exit 0 vmc encrypt plain img --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}"
	serve qemu-nbd --persistent --shared=8 -f raw --socket "$sock" img
	qemu_pid=$SERVER_PID
	URI="nbd+unix:///?socket=$sock"
	wait_ready "$URI"
	expect_exit "$EXIT_USAGE" vmc serve "$URI" --key-file "$PASS"
	# A sanitizer build's plugin cannot load into an uninstrumented nbdkit (the ASan
	# runtime must come first); the plain build's run checks serve.
	# (ldd's whole output first: grep -q may close the pipe early, and pipefail would
	# then count ldd's SIGPIPE as "no".)
	local libs
	libs=$(ldd "$VMCRYPT" 2>/dev/null || true)
	if grep -q libasan <<<"$libs"; then
		echo "(serve skipped: ASan build)"
	else
		serve "$VMCRYPT" serve "$URI" --key-file "$PASS" --socket "$PWD/plain.sock"
		wait_ready "nbd+unix:///?socket=$PWD/plain.sock"
		nbdcopy "nbd+unix:///?socket=$PWD/plain.sock" served || fail "nbdcopy from vmcrypt serve"
		stop_pid "$SERVER_PID"
		cmp -n "$(filesize plain)" served plain || fail "vmcrypt serve of an export: not the plaintext"
	fi
	if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
		mkdir mnt
		expect_exit 0 vmc mount "$URI" mnt --key-file "$PASS"
		cmp -n "$(filesize plain)" mnt/disk.raw plain || fail "vmcrypt mount of an export: not the plaintext"
		fusermount3 -u mnt || fail "fusermount3 -u"
	else
		echo "(mount skipped: no /dev/fuse or fusermount3)"
	fi
	stop_pid "$qemu_pid"
}

# Each case stops its own servers when it ends (the script's trap catches the rest).
in_case()
{
	trap stop_servers EXIT
	"$@"
}

run_case "qemu-nbd, Unix socket: dump, test-key, add/remove-key, rekey" in_case case_verbs qemu-unix
run_case "qemu-nbd, TCP on 127.0.0.1: dump, test-key, add/remove-key, rekey" in_case case_verbs qemu-tcp
run_case "nbdkit file plugin: dump, test-key, add/remove-key, rekey" in_case case_verbs nbdkit-file
run_case "nbdkit memory plugin: dump, test-key, add/remove-key, rekey" in_case case_verbs nbdkit-memory
run_case "a thin image stays thin through a rekey over NBD" in_case case_thin
run_case "vmcrypt kill -9 mid-rekey over NBD, then --resume" in_case case_kill_client kill
run_case "vmcrypt VMCRYPT_FAULT=kill:300 mid-rekey over NBD, then --resume" in_case case_kill_client kill:300
run_case "qemu-nbd kill -9 mid-rekey: an error, no hang; restarted, --resume" in_case case_kill_server
if nbdkit --dump-config | grep -q '^tls=yes'; then
	run_case "nbdkit with TLS (pre-shared key): test-key, add-key, decrypt" in_case case_tls
else
	echo "SKIP: TLS case: nbdkit was built without TLS"
fi
run_case "a partition over NBD re-keyed; exports as DST of encrypt and decrypt" in_case case_partition_dst
run_case "vmcrypt serve and mount of an export" in_case case_serve_mount
run_case "refusals: wrong export name, read-only export, partition, create, no server" in_case case_refusals

finish
