# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Helpers of the serving tests (nbdkit plugin, vmcrypt serve and mount), on top of
# the interop tests' functions.sh (SRCDIR names tests/integration).
#
# Environment: VMCRYPT (required), VMCRYPT_NBDKIT_PLUGIN (the built plugin; without
# it the NBD tests skip), SRCDIR (tests/integration).

# shellcheck source=../integration/functions.sh
. "${SRCDIR:?SRCDIR must name tests/integration}/functions.sh"

PLUGIN=${VMCRYPT_NBDKIT_PLUGIN:-}
export VMCRYPT_NBDKIT_PLUGIN

requires_plugin()
{
	[ -n "$PLUGIN" ] && [ -e "$PLUGIN" ] || skip "the nbdkit plugin was not built (VMCRYPT_NBDKIT_PLUGIN)"
	requires nbdkit
	requires nbdcopy
	requires nbdinfo
	nbdkit "$PLUGIN" --dump-plugin >/dev/null 2>&1 || skip "nbdkit cannot load $PLUGIN"
}

# The FUSE tests need the device, the mount helper and a mount that works here.
requires_fuse()
{
	[ -c /dev/fuse ] || skip "no /dev/fuse in this sandbox"
	[ -r /dev/fuse ] && [ -w /dev/fuse ] || skip "/dev/fuse is not readable and writable by $(id -un)"
	requires fusermount3
	requires mountpoint
}

# Background processes and mounts of the current case, undone when it ends.
BG_PIDS=()
MOUNTS=()
case_cleanup()
{
	local p m
	for m in "${MOUNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -u "$m" 2>/dev/null
	done
	for p in "${BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${BG_PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	return 0
}

# new_image IMG PLAIN TYPE [vmcrypt encrypt options]: an image holding PLAIN.
new_image()
{
	local img=$1 plain=$2 type=$3
	shift 3
	vmc encrypt "$plain" "$img" --type "$type" --key-file "$PASS" "${FAST_PBKDF2[@]}" \
		--batch-mode "$@" >/dev/null
}

# wait_for COND_CMD... : polls up to 20 s.
wait_for()
{
	local i
	for i in $(seq 200); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# serve_start ARGS...: vmcrypt serve in the background (stdout serve.out, stderr
# serve.err); returns once it printed its QEMU arguments. Sets SERVE_PID.
serve_start()
{
	: >serve.out
	"$VMCRYPT" serve "$@" >serve.out 2>serve.err </dev/null &
	SERVE_PID=$!
	BG_PIDS+=("$SERVE_PID")
	if ! wait_for serve_ready; then
		cat serve.err >&2
		fail "vmcrypt serve $* did not become ready"
	fi
	kill -0 "$SERVE_PID" 2>/dev/null || { cat serve.err >&2; fail "vmcrypt serve exited"; }
}

# Ready (it printed its QEMU arguments), or gone: no need to wait longer.
serve_ready()
{
	grep -q '^-blockdev ' serve.out || ! kill -0 "$SERVE_PID" 2>/dev/null
}

# serve_stop [SIGNAL]: stops it (default SIGTERM) and expects exit status 0.
serve_stop()
{
	local sig=${1:-TERM} rc=0
	kill -"$sig" "$SERVE_PID"
	wait "$SERVE_PID" || rc=$?
	[ "$rc" -eq 0 ] || { cat serve.err >&2; fail "vmcrypt serve exited $rc after SIG$sig"; }
	grep -q 'is flushed and closed' serve.err || fail "vmcrypt serve did not say it flushed"
}

# The NBD URI that serve printed (from its -drive line), or the one of a socket.
serve_uri()
{
	sed -n 's/^-drive file=\(nbd[^,]*\),.*/\1/p' serve.out
}
sock_uri()
{
	echo "nbd+unix:///?socket=$1"
}

# mount_start IMG DIR ARGS...: vmcrypt mount in the background mode; records the
# mount and the serving process (MOUNT_PID, from its message).
mount_start()
{
	local img=$1 dir=$2
	shift 2
	MOUNTS+=("$dir")
	"$VMCRYPT" mount "$img" "$dir" "$@" >mount.out 2>mount.err </dev/null ||
		{ cat mount.err >&2; fail "vmcrypt mount $img $dir failed"; }
	MOUNT_PID=$(sed -n 's/.*kill -TERM \([0-9]*\)).*/\1/p' mount.out)
	[ -n "$MOUNT_PID" ] || fail "vmcrypt mount did not name its process: $(cat mount.out)"
	mountpoint -q "$dir" || fail "$dir is not a mount point after vmcrypt mount"
}

# mount_stop DIR: fusermount3 -u, then waits for the serving process to end.
mount_stop()
{
	fusermount3 -u "$1"
	wait_for sh -c "! kill -0 $MOUNT_PID 2>/dev/null" || fail "the mount process $MOUNT_PID did not end"
}

# A TCP port nobody listens on (a race is possible but harmless in tests).
free_port()
{
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# nbdsh runs "python3 -m nbd" from PATH; find a python3 that has the nbd module
# (python3-libnbd installs it for the system python). Sets NBD_PYTHON.
requires_nbdsh()
{
	local py
	NBD_PYTHON=
	for py in python3 /usr/bin/python3; do
		if "$py" -c 'import nbd' >/dev/null 2>&1; then
			NBD_PYTHON=$(command -v "$py")
			break
		fi
	done
	[ -n "$NBD_PYTHON" ] || skip "no python3 with the nbd module (python3-libnbd)"
	export NBD_PYTHON
}
nbdsh()
{
	"$NBD_PYTHON" -m nbd "$@"
}
