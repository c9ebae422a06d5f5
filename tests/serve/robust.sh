#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Robustness of vmcrypt serve:
#  - a client killed (SIGKILL) in the middle of a write leaves the server serving,
#    and the image consistent;
#  - the server killed (SIGKILL to nbdkit) in the middle of a write: vmcrypt serve
#    reports it, the image opens again at once (no stale lock) and what was written
#    and flushed before the kill is there; the same when vmcrypt serve itself is
#    killed (nbdkit, bound to its parent, flushes and exits);
#  - 4 clients in parallel (nbdsh, one connection each, odd request sizes) write
#    disjoint regions; the whole plaintext is then exactly the expected one.
. "${SRCDIR:?}/../serve/functions.sh"

requires_plugin
requires test -x "$VMCRYPT"

DATA_KIB=65536

case_kill_client()
{
	local pid
	trap case_cleanup EXIT
	make_plain plain "$DATA_KIB"
	new_image img plain luks2
	serve_start img --key-file "$PASS" --socket "$PWD/s.sock"
	make_plain new "$DATA_KIB"
	nbdcopy --flush new "$(serve_uri)" &
	pid=$!
	sleep 0.3
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	kill -0 "$SERVE_PID" || fail "the server died with its client"
	nbdcopy --flush new "$(serve_uri)"
	nbdcopy "$(serve_uri)" out
	expect_same out new "written after a client was killed"
	serve_stop
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec new "the image after a killed client"
}

# write_flushed URI FILE OFFSET: writes FILE at OFFSET and flushes, in one client.
write_flushed()
{
	nbdsh -u "$1" -c "h.pwrite(open('$2', 'rb').read(), $3); h.flush()"
}

# A client that writes random data to [OFFSET, OFFSET+LEN) until killed.
write_forever()
{
	nbdsh -u "$1" -c "
import os
while True:
    for o in range($2, $2 + $3, 1048576):
        h.pwrite(os.urandom(1048576), o)
"
}

case_kill_server()
{
	local victim=$1 nbdkit_pid writer rc=0 half=$((DATA_KIB * 512))
	requires_nbdsh
	trap case_cleanup EXIT
	make_plain plain "$DATA_KIB"
	new_image img plain luks2
	serve_start img --key-file "$PASS" --socket "$PWD/s.sock"
	nbdkit_pid=$(pgrep -P "$SERVE_PID" nbdkit)
	[ -n "$nbdkit_pid" ] || fail "no nbdkit under vmcrypt serve"
	# The first half: written and flushed before the kill.
	head -c "$half" /dev/urandom >first
	write_flushed "$(serve_uri)" first 0
	write_forever "$(serve_uri)" "$half" "$half" 2>/dev/null &
	writer=$!
	BG_PIDS+=("$writer")
	sleep 1
	if [ "$victim" = nbdkit ]; then
		kill -KILL "$nbdkit_pid"
		wait "$SERVE_PID" || rc=$?
		expect_eq "$rc" "$EXIT_IO" "exit status of vmcrypt serve when nbdkit is killed"
		grep -q 'killed by signal 9' serve.err || fail "no message about nbdkit's death: $(cat serve.err)"
	else
		kill -KILL "$SERVE_PID"
		wait "$SERVE_PID" 2>/dev/null || true
		wait_for sh -c "! kill -0 $nbdkit_pid 2>/dev/null" ||
			fail "nbdkit outlived the killed vmcrypt serve"
	fi
	wait "$writer" 2>/dev/null || true
	# The lock went with the process: the image opens at once, and is consistent.
	vmc decrypt img dec --key-file "$PASS"
	[ "$(sha256_range dec 0 "$half")" = "$(sha256 first)" ] ||
		fail "data written and flushed before the kill is lost"
	rm -f s.sock
	serve_start img --key-file "$PASS" --socket "$PWD/s.sock"
	serve_stop
}

case_parallel()
{
	local i quarter=$((DATA_KIB * 256)) pids=()
	requires_nbdsh
	trap case_cleanup EXIT
	make_plain plain "$DATA_KIB"
	new_image img plain luks2 --sector-size 4096
	make_plain expect "$DATA_KIB"
	serve_start img --key-file "$PASS" --socket "$PWD/s.sock"
	for i in 0 1 2 3; do
		# Requests of 1 MiB + 4 KiB (libnbd keeps to the 4096-byte minimum block
		# size the plugin advertises): they start everywhere in the library's chunks.
		nbdsh -u "$(serve_uri)" -c "
data = open('expect', 'rb').read()[$i * $quarter:($i + 1) * $quarter]
step = 1048576 + 4096
for o in range(0, len(data), step):
    h.pwrite(data[o:o + step], $i * $quarter + o)
h.flush()
" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || fail "a parallel writer failed"
	done
	nbdcopy "$(serve_uri)" out
	expect_same out expect "read back after 4 parallel writers"
	serve_stop
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec expect "vmcrypt decrypt after 4 parallel writers"
}

run_case "kill-client" case_kill_client
run_case "kill-nbdkit" case_kill_server nbdkit
run_case "kill-serve" case_kill_server serve
run_case "parallel-4" case_parallel
finish
