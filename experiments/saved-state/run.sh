#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Does a saved VM state hold the disk key? Boots the tests/vm guest (Debian kernel,
# busybox initramfs; TCG) with its disk (a) a LUKS1 image opened by QEMU's luks
# driver, (b) an image served by `vmcrypt serve`, (c) a LUKS1 image the guest opens
# itself with dm-crypt (with AES-NI, and with the generic AES code); saves the VM state
# to a file through the QEMU monitor (`migrate "exec:cat > FILE"`, what `virsh save`
# does) and runs `vmcrypt scan --image` on it. For (a) and (b) it also scans a core
# dump (gcore) of the process that holds the key: QEMU, and the nbdkit server.
# Prints a Markdown table of the results (also in $WORK/results.md).
#
# Usage: experiments/saved-state/run.sh [WORKDIR]
# Environment: VMCRYPT (default build/cli/vmcrypt), VMCRYPT_NBDKIT_PLUGIN (default the
# plugin next to it in the build tree), GUEST_MEM (MiB, default 256), KEEP=1 keeps WORKDIR.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
VMCRYPT=${VMCRYPT:-$top/build/cli/vmcrypt}
GUEST_MEM=${GUEST_MEM:-256}
WORK=${1:-$(mktemp -d /tmp/saved-state.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$WORK"

say() { echo "saved-state: $*" >&2; }
die() {
	say "$*"
	exit 1
}
for cmd in qemu-system-x86_64 cpio python3 gcore; do
	command -v "$cmd" >/dev/null || die "$cmd is missing"
done
[ -x "$VMCRYPT" ] || die "no vmcrypt binary at $VMCRYPT (build first, or set VMCRYPT)"
VMCRYPT=$(cd "$(dirname "$VMCRYPT")" && pwd)/$(basename "$VMCRYPT")
# vmcrypt serve runs nbdkit with this plugin (an uninstalled build has it next to cli/).
VMCRYPT_NBDKIT_PLUGIN=${VMCRYPT_NBDKIT_PLUGIN:-$(dirname "$(dirname "$VMCRYPT")")/nbdkit/nbdkit-vmcrypt-plugin.so}
export VMCRYPT_NBDKIT_PLUGIN

pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	[ "${KEEP:-0}" = 1 ] || [ $# -gt 0 ] || rm -rf "$WORK"
}
trap cleanup EXIT

# ---- the guest -------------------------------------------------------------------------
setup_out=$("$top/tests/vm/setup.sh" --quiet) || die "tests/vm/setup.sh failed"
KERNEL=$(sed -n 's/^kernel=//p' <<<"$setup_out")
INITRAMFS=$(sed -n 's/^initramfs=//p' <<<"$setup_out")

# Our /init in a second cpio appended to the harness's initramfs (the later /init wins).
mkdir -p overlay
cat >overlay/init <<'INIT'
#!/bin/sh
# shellcheck shell=sh
PATH=/bin:/sbin
export PATH
DM_DISABLE_UDEV=1
export DM_DISABLE_UDEV
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/mapper /run/cryptsetup /tmp
echo 1 >/proc/sys/kernel/printk
while read -r name kind; do insmod "/lib/modules/$name" 2>/dev/null; done </etc/modules.list
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
by_serial() {
	for d in /sys/block/vd*; do
		[ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && { echo "/dev/${d##*/}"; return 0; }
	done
	return 1
}
i=0
while ! data=$(by_serial data); do
	i=$((i + 1)); [ $i -gt 200 ] && { echo "SS-ERROR no data disk"; poweroff -f; }
	sleep 0.1
done
dev=$data
if [ "$(arg ssmode)" = dmcrypt ]; then
	key=$(by_serial key)
	if ! cryptsetup open --key-file "$key" --keyfile-size "$(arg sskeylen)" "$data" vol 2>/tmp/err; then
		echo "SS-ERROR cryptsetup: $(cat /tmp/err)"
	fi
	dev=/dev/mapper/vol
	echo "SS-AES $(grep -A2 '^name *: xts(aes)' /proc/crypto | sed -n 's/^driver *: //p' | head -n 1)"
fi
echo "SS-SHA $(dd if="$dev" bs=1048576 2>/dev/null | sha256sum | cut -d' ' -f1)"
echo "SS-READY"
while :; do sleep 3600; done
INIT
chmod +x overlay/init
(cd overlay && echo init | cpio -o -H newc --quiet) >overlay.cpio
cat "$INITRAMFS" overlay.cpio >initrd.cpio

# ---- images ----------------------------------------------------------------------------
printf '%s' 'saved-state experiment passphrase' >pass
head -c 8M /dev/urandom >plain.raw
PLAIN_SHA=$(sha256sum plain.raw | cut -d' ' -f1)
fast=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file pass --batch-mode)
"$VMCRYPT" encrypt plain.raw qemu-luks1.img --type luks1 "${fast[@]}" >/dev/null
"$VMCRYPT" encrypt plain.raw served.img "${fast[@]}" >/dev/null
"$VMCRYPT" encrypt plain.raw guest-luks1.img --type luks1 "${fast[@]}" >/dev/null
# The guest reads its passphrase from a small disk (padded to whole sectors).
cp pass keydisk
truncate -s 4096 keydisk
KEYLEN=$(stat -c %s pass)

# ---- one run ---------------------------------------------------------------------------
# hmp SOCKET COMMAND...: one human monitor command, its output on stdout.
hmp() {
	python3 - "$@" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
def until_prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace")
until_prompt()
for cmd in sys.argv[2:]:
    s.sendall(cmd.encode() + b"\n")
    out = until_prompt()
    print(out.replace("\r", ""))
PY
}

# run NAME CPU APPEND CORE_PID_OF QEMU-DISK-ARGS...: boot, wait for SS-READY, save the
# state to NAME.state; CORE_PID_OF is "qemu" to gcore QEMU too, else "".
run() {
	local name=$1 cpu=$2 append=$3 core=$4 qpid i status
	shift 4
	say "$name: booting (TCG, -cpu $cpu)"
	qemu-system-x86_64 -machine pc,dump-guest-core=off -accel tcg -cpu "$cpu" -m "$GUEST_MEM" \
		-smp 1 -nodefaults -no-user-config -display none -no-reboot \
		-serial "file:$name.console" -monitor "unix:$name.mon,server=on,wait=off" \
		-kernel "$KERNEL" -initrd initrd.cpio \
		-append "console=ttyS0 panic=-1 quiet cryptomgr.notests=1 $append" \
		"$@" </dev/null >"$name.qemu.log" 2>&1 &
	qpid=$!
	pids+=("$qpid")
	for ((i = 0; i < 600; i++)); do
		grep -q 'SS-READY' "$name.console" 2>/dev/null && break
		kill -0 "$qpid" 2>/dev/null || die "$name: QEMU exited: $(tail -5 "$name.qemu.log")"
		sleep 0.5
	done
	grep -q 'SS-READY' "$name.console" || die "$name: the guest never got ready"
	tr -d '\r' <"$name.console" | grep '^SS-' >"$name.guest"
	grep -q "^SS-SHA $PLAIN_SHA" "$name.guest" || die "$name: the guest read wrong plaintext: $(cat "$name.guest")"
	say "$name: guest ready ($(grep '^SS-AES' "$name.guest" || echo 'no dm-crypt')); saving the VM state"
	hmp "$name.mon" stop "migrate \"exec:cat > $WORK/$name.state\"" >/dev/null
	for ((i = 0; i < 600; i++)); do
		status=$(hmp "$name.mon" "info migrate" | sed -n 's/^Migration status: //p')
		[ "$status" = completed ] && break
		[ "$status" = failed ] && die "$name: migration failed"
		sleep 0.5
	done
	[ "$status" = completed ] || die "$name: migration did not complete"
	if [ "$core" = qemu ]; then
		gcore -o "$WORK/$name.qemu-core" "$qpid" >/dev/null 2>&1 || say "$name: gcore failed"
	fi
	hmp "$name.mon" quit >/dev/null || true
	wait "$qpid" || true
}

# scan NAME FILE IMAGE: vmcrypt scan --image, result line for the table.
results=()
scan() {
	local name=$1 file=$2 img=$3 rc=0 verdict
	"$VMCRYPT" scan --image "$img" --key-file pass "$file" >"$file.scan" 2>&1 || rc=$?
	case $rc in
	0) verdict="no" ;;
	11) verdict="**yes**" ;;
	*) die "$name: vmcrypt scan failed (exit $rc): $(tail -3 "$file.scan")" ;;
	esac
	local what
	what=$(grep -c ': offset ' "$file.scan" || true)
	results+=("| $name | $(basename "$file" | sed "s/^$name\.//") | $(stat -c %s "$file") | $verdict | $what | $(grep -E '^(The volume key|Half of|No trace)' "$file.scan" | head -n 1) |")
	say "$name: $(basename "$file"): key found: $verdict ($what findings)"
}

# (a) QEMU's own luks driver opens the LUKS1 image: the key lives in QEMU's heap.
run a-qemu-luks max "ssmode=read" qemu \
	-object "secret,id=sec0,file=$WORK/pass" \
	-drive "file=$WORK/qemu-luks1.img,format=luks,key-secret=sec0,if=none,id=d0" \
	-device virtio-blk-pci,drive=d0,serial=data
scan a-qemu-luks a-qemu-luks.state qemu-luks1.img
for c in a-qemu-luks.qemu-core.*; do
	[ -e "$c" ] && scan a-qemu-luks "$c" qemu-luks1.img
done

# (b) vmcrypt serve: the key lives in the nbdkit process, QEMU sees plaintext over NBD.
"$VMCRYPT" serve served.img --key-file pass --socket "$WORK/serve.sock" >serve.out 2>&1 &
serve_pid=$!
pids+=("$serve_pid")
for ((i = 0; i < 100; i++)); do
	[ -S serve.sock ] && break
	sleep 0.1
done
[ -S serve.sock ] || die "vmcrypt serve did not start: $(cat serve.out)"
run b-vmcrypt-serve max "ssmode=read" "" \
	-drive "file=nbd:unix:$WORK/serve.sock,format=raw,if=none,id=d0" \
	-device virtio-blk-pci,drive=d0,serial=data
# The process that holds the key: nbdkit, a child of vmcrypt serve.
nbd_pid=$(pgrep -P "$serve_pid" | head -n 1 || true)
[ -n "$nbd_pid" ] || nbd_pid=$serve_pid
gcore -o "$WORK/b-vmcrypt-serve.server-core" "$nbd_pid" >/dev/null 2>&1 || say "gcore of the server failed"
# The server holds the image's write lock: scan once it has stopped.
kill "$serve_pid" 2>/dev/null || true
wait "$serve_pid" 2>/dev/null || true
scan b-vmcrypt-serve b-vmcrypt-serve.state served.img
for c in b-vmcrypt-serve.server-core.*; do
	[ -e "$c" ] && scan b-vmcrypt-serve "$c" served.img
done

# (c) the guest unlocks its own disk with dm-crypt: with AES-NI (-cpu max) and without.
for cpu in max qemu64; do
	name=c-guest-dmcrypt-$cpu
	run "$name" "$cpu" "ssmode=dmcrypt sskeylen=$KEYLEN" "" \
		-drive "file=$WORK/guest-luks1.img,format=raw,if=none,id=d0" \
		-device virtio-blk-pci,drive=d0,serial=data \
		-drive "file=$WORK/keydisk,format=raw,if=none,id=k,readonly=on" \
		-device virtio-blk-pci,drive=k,serial=key
	scan "$name" "$name.state" guest-luks1.img
	# Without the passphrase: which image does this state unlock?
	"$VMCRYPT" scan --header guest-luks1.img "$name.state" >"$name.state.header-scan" 2>&1 || true
	say "$name: $(tail -n 1 "$name.state.header-scan")"
done

{
	echo "| case | file | bytes | key in it | findings | verdict |"
	echo "|---|---|---|---|---|---|"
	printf '%s\n' "${results[@]}"
	echo
	for f in c-guest-dmcrypt-*.guest; do echo "$f: $(grep '^SS-AES' "$f")"; done
	for f in c-guest-dmcrypt-*.state.header-scan; do echo "$f: $(tail -n 1 "$f")"; done
} | tee results.md
say "details in $WORK (*.scan: vmcrypt scan output per file)"
