#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# /init of the dm-crypt test guest (busybox sh): runs the jobs of the command disk.
#
# Disks are found by their virtio serial (/sys/block/vdX/serial), never by order:
#   vmc-cmd   tar archive: "jobs" and the key files (the passphrases travel only here)
#   others    named by the job lines
# jobs, one per line, fields separated by spaces ("-" = none):
#   ID read  IMAGE KEYFILE HEADER -
#   ID write IMAGE KEYFILE HEADER INPUT
# IMAGE, HEADER and INPUT are disk serials, KEYFILE a file name in the archive.
# Console protocol (one line each; the host parses these and nothing else):
#   VMC-BOOTED <kernel release>
#   VMC-RESULT <id> sha256 <hex> bytes <n>     read: sha256 of the whole dm-crypt device
#   VMC-RESULT <id> write ok bytes <n>         write: INPUT copied onto the device, synced
#   VMC-ERROR <id|init> <message>
#   VMC-LOG <anything>                          diagnostics (timings, kernel log)
#   VMC-DONE
# Then the guest powers off; if this script dies, the kernel panics and QEMU exits
# (panic=-1 with -no-reboot).
# shellcheck shell=sh

PATH=/bin:/sbin
export PATH
# libdevmapper makes the /dev/mapper nodes itself: there is no udev here.
DM_DISABLE_UDEV=1
export DM_DISABLE_UDEV

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/mapper /run/cryptsetup /tmp
# Keep kernel chatter (dm-crypt notices) off the console lines we print.
echo 1 >/proc/sys/kernel/printk

finish() {
	echo "VMC-DONE"
	sync
	poweroff -f
	sleep 5
	exit 1
}

echo "VMC-BOOTED $(uname -r)"

failed_modules=""
while read -r name kind; do
	if ! insmod "/lib/modules/$name" 2>/tmp/insmod.err; then
		# EEXIST: already loaded as another module's dependency.
		if grep -q 'File exists' /tmp/insmod.err; then
			continue
		fi
		if [ "$kind" = required ]; then
			failed_modules="$failed_modules $name"
			echo "VMC-ERROR init insmod $name: $(cat /tmp/insmod.err)"
		fi
	fi
done </etc/modules.list

disk_by_serial() {
	for d in /sys/block/vd*; do
		[ -e "$d/serial" ] || continue
		if [ "$(cat "$d/serial")" = "$1" ]; then
			echo "/dev/${d##*/}"
			return 0
		fi
	done
	return 1
}

# virtio disks appear asynchronously after the module loads.
tries=0
while ! cmd=$(disk_by_serial vmc-cmd); do
	tries=$((tries + 1))
	if [ $tries -gt 100 ]; then
		echo "VMC-ERROR init no command disk (serial vmc-cmd)"
		finish
	fi
	sleep 0.1
done
if ! tar -x -f "$cmd" -C /job 2>/tmp/tar.err; then
	echo "VMC-ERROR init cannot unpack the command disk: $(cat /tmp/tar.err)"
	finish
fi
rm -f /tmp/insmod.err /tmp/tar.err

# One job: open, read or write, close. Prints one VMC-RESULT or VMC-ERROR line.
run_job() {
	id=$1 op=$2 image=$3 keyfile=$4 header=$5 input=$6
	err=/tmp/err.$id
	name=vmc$id
	read -r t0 _ </proc/uptime

	if ! dev=$(disk_by_serial "$image"); then
		echo "VMC-ERROR $id no disk with serial $image"
		return
	fi
	set -- --key-file "/job/$keyfile" --disable-keyring --disable-locks --disable-external-tokens
	if [ "$header" != - ]; then
		if ! hdev=$(disk_by_serial "$header"); then
			echo "VMC-ERROR $id no header disk with serial $header"
			return
		fi
		set -- "$@" --header "$hdev"
	fi
	if [ "$op" = read ]; then
		set -- "$@" --readonly
	fi
	if ! cryptsetup open "$dev" "$name" "$@" >"$err" 2>&1; then
		echo "VMC-ERROR $id cryptsetup open failed: $(tr '\n' ' ' <"$err")"
		dmesg | tail -n 5 | sed 's/^/VMC-LOG /'
		return
	fi
	size=$(blockdev --getsize64 "/dev/mapper/$name")
	read -r t1 _ </proc/uptime
	case $op in
	read)
		if sum=$(sha256sum <"/dev/mapper/$name" 2>"$err"); then
			echo "VMC-RESULT $id sha256 ${sum%% *} bytes $size"
		else
			echo "VMC-ERROR $id reading the device failed: $(tr '\n' ' ' <"$err")"
		fi
		;;
	write)
		if ! idev=$(disk_by_serial "$input"); then
			echo "VMC-ERROR $id no input disk with serial $input"
		elif [ "$(blockdev --getsize64 "$idev")" != "$size" ]; then
			echo "VMC-ERROR $id input has $(blockdev --getsize64 "$idev") bytes, device has $size"
		elif dd if="$idev" of="/dev/mapper/$name" bs=1M conv=fsync 2>"$err"; then
			sync
			echo "VMC-RESULT $id write ok bytes $size"
		else
			echo "VMC-ERROR $id writing the device failed: $(tr '\n' ' ' <"$err")"
		fi
		;;
	*)
		echo "VMC-ERROR $id unknown operation $op"
		;;
	esac
	if ! cryptsetup close "$name" >"$err" 2>&1; then
		echo "VMC-ERROR $id cryptsetup close failed: $(tr '\n' ' ' <"$err")"
	fi
	rm -f "$err"
	read -r t2 _ </proc/uptime
	echo "VMC-LOG $id open ${t0}..${t1} $op ..${t2}"
}

if [ -n "$failed_modules" ]; then
	echo "VMC-ERROR init required modules missing:$failed_modules"
else
	while read -r id op image keyfile header input; do
		case $id in
		'' | '#'*) continue ;;
		esac
		run_job "$id" "$op" "$image" "$keyfile" "$header" "$input" </dev/null
	done </job/jobs
fi
# The key files die with the guest's RAM; wipe them anyway.
rm -rf /job
finish
