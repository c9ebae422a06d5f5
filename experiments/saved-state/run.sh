#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Where does the virtualiser write guest RAM (and the disk key in it) to disk? Boots the
# tests/vm guest (Debian kernel, busybox initramfs; TCG) with its disk encrypted three ways:
#   dmcrypt  a LUKS1 image the guest opens itself with dm-crypt (the key is in guest RAM)
#   luks     a LUKS1 image opened by QEMU's luks driver (the key is in QEMU's heap)
#   serve    a LUKS2 image served by `vmcrypt serve` over NBD (the key is in the server)
# and, per disk kind, exercises each path by which QEMU writes RAM to a file:
#   ram-shared   guest RAM from memory-backend-file share=on on a disk file system
#   ram-private  the same with share=off
#   savevm       an internal qcow2 snapshot (VM state inside the image; scanned through
#                the snapshot's own tables)
#   migrate      migrate to a file: what virsh save, managed save and an external memory
#                snapshot do (libvirt adds a header)
#   core-on      a core of QEMU (gcore) with dump-guest-core=on (QEMU's default)
#   core-off     the same with dump-guest-core=off
#   server-core  a core of the process holding the key of a served disk (nbdkit)
# and records with `vmcrypt scan --image` whether the volume key is in each file.
# Prints a Markdown table (also in $WORK/results.md) and keeps the scans (*.scan).
#
# Usage: experiments/saved-state/run.sh [--reduced] [WORKDIR]
#   --reduced  one path per disk kind, one boot each (the form the test suite runs):
#              dmcrypt/savevm, luks/core-off, serve/migrate
# Environment: VMCRYPT (default build/cli/vmcrypt), VMCRYPT_NBDKIT_PLUGIN (default the
# plugin next to it in the build tree), GUEST_MEM (MiB, default 256; 128 reduced),
# KEEP=1 keeps WORKDIR.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
reduced=false
if [ "${1:-}" = --reduced ]; then
	reduced=true
	shift
fi
VMCRYPT=${VMCRYPT:-$top/build/cli/vmcrypt}
if $reduced; then GUEST_MEM=${GUEST_MEM:-128}; else GUEST_MEM=${GUEST_MEM:-256}; fi
WORK=${1:-$(mktemp -d /tmp/saved-state.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
cd "$WORK"

say() { echo "saved-state: $*" >&2; }
die() {
	say "$*"
	exit 1
}
skip() {
	say "skipped: $*"
	exit 77
}
for cmd in qemu-system-x86_64 qemu-img cpio python3 gcore; do
	command -v "$cmd" >/dev/null || skip "$cmd is missing"
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
rc=0
setup_out=$("$top/tests/vm/setup.sh" --quiet) || rc=$?
[ "$rc" = 77 ] && skip "the tests/vm guest cannot be set up here"
[ "$rc" = 0 ] || die "tests/vm/setup.sh failed"
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
	if ! cryptsetup open --readonly --key-file "$key" --keyfile-size "$(arg sskeylen)" "$data" vol 2>/tmp/err; then
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
"$VMCRYPT" encrypt plain.raw luks.img --type luks1 "${fast[@]}" >/dev/null
"$VMCRYPT" encrypt plain.raw serve.img "${fast[@]}" >/dev/null
"$VMCRYPT" encrypt plain.raw dmcrypt.img --type luks1 "${fast[@]}" >/dev/null
# The guest reads its passphrase from a small disk (padded to whole sectors).
cp pass keydisk
truncate -s 4096 keydisk
KEYLEN=$(stat -c %s pass)

# ---- the monitor ------------------------------------------------------------------------
# hmp SOCKET COMMAND...: one human monitor command at a time, its output on stdout.
hmp() {
	python3 - "$@" <<'PY'
import socket, sys
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
    print(until_prompt().replace("\r", ""))
PY
}

# ---- one boot ---------------------------------------------------------------------------
# boot NAME KIND CORE SHARE: starts the guest with disk kind KIND (dmcrypt, luks, serve),
# -machine dump-guest-core=CORE, guest RAM from a memory-backend-file on $WORK with
# share=SHARE (on, off; none: ordinary anonymous RAM), and an empty qcow2 (NAME.qcow2)
# for savevm to store VM state in (the data disks are read-only, so savevm skips them).
# Waits until the guest has read its whole disk; QPID is QEMU's pid.
QPID=
boot() {
	local name=$1 kind=$2 core=$3 share=$4 i append="ssmode=read" mem=() disk=()
	[ "$share" = none ] || mem=(-object "memory-backend-file,id=ram,size=${GUEST_MEM}M,mem-path=$WORK/$name.ram,share=$share" -machine memory-backend=ram)
	case $kind in
	dmcrypt)
		append="ssmode=dmcrypt sskeylen=$KEYLEN"
		disk=(-drive "file=$WORK/dmcrypt.img,format=raw,if=none,id=d0,readonly=on"
			-device "virtio-blk-pci,drive=d0,serial=data"
			-drive "file=$WORK/keydisk,format=raw,if=none,id=k,readonly=on"
			-device "virtio-blk-pci,drive=k,serial=key") ;;
	luks)
		disk=(-object "secret,id=sec0,file=$WORK/pass"
			-drive "file=$WORK/luks.img,format=luks,key-secret=sec0,if=none,id=d0,readonly=on"
			-device "virtio-blk-pci,drive=d0,serial=data") ;;
	serve)
		disk=(-drive "file=nbd:unix:$WORK/serve.sock,format=raw,if=none,id=d0,readonly=on"
			-device "virtio-blk-pci,drive=d0,serial=data") ;;
	esac
	qemu-img create -q -f qcow2 "$name.qcow2" 1G
	say "$name: booting (TCG, dump-guest-core=$core, file-backed RAM: $share)"
	qemu-system-x86_64 -machine "pc,dump-guest-core=$core" -accel tcg -cpu max -m "$GUEST_MEM" \
		-smp 1 -nodefaults -no-user-config -display none -no-reboot \
		-serial "file:$name.console" -monitor "unix:$name.mon,server=on,wait=off" \
		-kernel "$KERNEL" -initrd initrd.cpio \
		-append "console=ttyS0 panic=-1 quiet cryptomgr.notests=1 $append" \
		"${mem[@]}" "${disk[@]}" -drive "file=$WORK/$name.qcow2,format=qcow2,if=none,id=st" \
		</dev/null >"$name.qemu.log" 2>&1 &
	QPID=$!
	pids+=("$QPID")
	for ((i = 0; i < 600; i++)); do
		grep -q 'SS-READY' "$name.console" 2>/dev/null && break
		kill -0 "$QPID" 2>/dev/null || die "$name: QEMU exited: $(tail -5 "$name.qemu.log")"
		sleep 0.5
	done
	grep -q 'SS-READY' "$name.console" || die "$name: the guest never got ready"
	tr -d '\r' <"$name.console" | grep '^SS-' >"$name.guest"
	grep -q "^SS-SHA $PLAIN_SHA" "$name.guest" || die "$name: the guest read wrong plaintext: $(cat "$name.guest")"
	say "$name: guest ready ($(grep '^SS-AES' "$name.guest" || echo 'no dm-crypt in the guest'))"
}

quit_qemu() {
	hmp "$1.mon" quit >/dev/null 2>&1 || true
	wait "$QPID" 2>/dev/null || true
}

# The paths. Each leaves a file and queues it for scanning: "PATH KIND FILE".
queue=()
do_savevm() {
	hmp "$1.mon" "savevm s1" >/dev/null
	queue+=("savevm $2 $1.qcow2")
}
do_migrate() {
	local i status=
	hmp "$1.mon" stop "migrate \"exec:cat > $WORK/$1.migrate\"" >/dev/null
	for ((i = 0; i < 600; i++)); do
		status=$(hmp "$1.mon" "info migrate" | sed -n 's/^Migration status: //p')
		[ "$status" = completed ] && break
		[ "$status" = failed ] && die "$1: migration failed"
		sleep 0.5
	done
	[ "$status" = completed ] || die "$1: migration did not complete"
	queue+=("migrate $2 $1.migrate")
}
do_core() { # NAME KIND on|off
	gcore -o "$WORK/$1.core" "$QPID" >/dev/null 2>&1 || die "$1: gcore failed"
	queue+=("core-$3 $2 $1.core.$QPID")
}

# ---- vmcrypt serve ----------------------------------------------------------------------
serve_pid=
start_server() {
	"$VMCRYPT" serve serve.img --key-file pass --socket "$WORK/serve.sock" >serve.out 2>&1 &
	serve_pid=$!
	pids+=("$serve_pid")
	for ((i = 0; i < 100; i++)); do
		[ -S serve.sock ] && return 0
		sleep 0.1
	done
	die "vmcrypt serve did not start: $(cat serve.out)"
}
stop_server() {
	# The server holds the image's write lock: the scans come after it stops.
	kill "$serve_pid" 2>/dev/null || true
	wait "$serve_pid" 2>/dev/null || true
	rm -f serve.sock
}
server_core() {
	local nbd_pid
	nbd_pid=$(pgrep -P "$serve_pid" | head -n 1 || true)
	[ -n "$nbd_pid" ] || nbd_pid=$serve_pid
	gcore -o "$WORK/$1.server-core" "$nbd_pid" >/dev/null 2>&1 || die "gcore of the server failed"
	queue+=("server-core serve $1.server-core.$nbd_pid")
}

# ---- the runs ---------------------------------------------------------------------------
if $reduced; then
	boot r-dmcrypt dmcrypt off none
	do_savevm r-dmcrypt dmcrypt
	quit_qemu r-dmcrypt
	boot r-luks luks off none
	do_core r-luks luks off
	quit_qemu r-luks
	start_server
	boot r-serve serve off none
	do_migrate r-serve serve
	quit_qemu r-serve
	stop_server
else
	# Three boots per kind: (a) ordinary RAM, QEMU's default dump-guest-core=on; (b) RAM
	# from a shared file mapping; (c) a private file mapping, dump-guest-core=off. Cores
	# are not taken of (b): the kernel's default coredump_filter (0x33), which gcore
	# follows, leaves shared file mappings out of cores whatever dump-guest-core says.
	# The written pages of a private file mapping are dumped like anonymous memory.
	for kind in dmcrypt luks serve; do
		[ "$kind" = serve ] && start_server
		boot "$kind-a" "$kind" on none
		do_savevm "$kind-a" "$kind"
		do_migrate "$kind-a" "$kind"
		do_core "$kind-a" "$kind" on
		[ "$kind" = serve ] && server_core "$kind-a"
		quit_qemu "$kind-a"
		boot "$kind-b" "$kind" off on
		queue+=("ram-shared $kind $kind-b.ram")
		quit_qemu "$kind-b"
		boot "$kind-c" "$kind" off off
		queue+=("ram-private $kind $kind-c.ram")
		do_core "$kind-c" "$kind" off
		quit_qemu "$kind-c"
		[ "$kind" = serve ] && stop_server
	done
fi

# ---- scans and the table ----------------------------------------------------------------
declare -A verdict
for q in "${queue[@]}"; do
	read -r path kind file <<<"$q"
	rc=0
	"$VMCRYPT" scan --json --image "$kind.img" --key-file pass "$file" >"$file.scan" 2>"$file.scan.err" || rc=$?
	[ "$rc" = 0 ] || [ "$rc" = 11 ] || die "$file: vmcrypt scan failed (exit $rc): $(tail -3 "$file.scan.err")"
	# A qcow2's snapshot VM state is reported as a file of its own: that is the one.
	v=$(python3 - "$file.scan" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
f = [x for x in d["files"] if "qcow2_snapshot" in x] or d["files"]
f = f[0]
n = sum(1 for h in d["findings"] if h["path"] == f["path"])
word = {"complete": "**key**", "partial": "**half the key**", "none": "no key"}[f["volume_key"]]
print(f"{word} ({n} finding{'s' if n != 1 else ''} in {f['size'] / 1048576:.0f} MiB)")
PY
)
	verdict[$path,$kind]=$v
	say "$path/$kind: $file: $v"
done

{
	echo "| path (file written) | in-guest dm-crypt | QEMU luks driver | vmcrypt serve |"
	echo "|---|---|---|---|"
	for path in ram-shared ram-private savevm migrate core-on core-off server-core; do
		row="| $path |"
		any=false
		for kind in dmcrypt luks serve; do
			v=${verdict[$path,$kind]:-}
			[ -n "$v" ] && any=true
			row+=" ${v:--} |"
		done
		$any && echo "$row"
	done
	echo
	for f in *.guest; do echo "$f: $(tr '\n' ' ' <"$f")"; done
	echo "QEMU: $(qemu-system-x86_64 --version | head -n 1); guest RAM ${GUEST_MEM} MiB; $WORK on $(df -T "$WORK" | awk 'NR == 2 { print $2 }')"
} | tee results.md
say "details in $WORK (*.scan: vmcrypt scan --json output per file)"
# The reduced form is a test: what the full run found must still hold.
if $reduced; then
	[[ ${verdict[savevm,dmcrypt]} == '**key**'* ]] || die "savevm/dmcrypt: expected the key"
	[[ ${verdict[core-off,luks]} == '**key**'* ]] || die "core-off/luks: expected the key"
	[[ ${verdict[migrate,serve]} == 'no key'* ]] || die "migrate/serve: expected no key"
fi
