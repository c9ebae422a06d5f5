#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt qemu-args and libvirt-xml: their output works when pasted.
#  - LUKS1: the -blockdev and -drive arguments (QEMU's own luks driver, passphrase
#    in the --key-file) make qemu-system-x86_64 read the plaintext; without
#    --key-file a placeholder and a note are printed;
#  - LUKS2 and a detached header: the vmcrypt serve command line they print, run,
#    and the NBD -blockdev they print, pasted, read the plaintext;
#  - libvirt-xml: the secret and <disk> elements are well-formed, name the image
#    and one secret UUID; the serve route gives a <disk type='network'>.
. "${SRCDIR:?}/../serve/functions.sh"

requires qemu-system-x86_64
requires test -x "$VMCRYPT"

# qemu_reads NODE ARGS...: QEMU (stopped before the guest runs) with ARGS reads the
# first bytes of NODE through its monitor; they must be make_plain's first line.
qemu_reads()
{
	local node=$1 out
	shift
	out=$(printf 'qemu-io %s "read -v 0 32"\nquit\n' "$node" |
		timeout 60 qemu-system-x86_64 -nodefaults -display none -M pc -accel tcg -S \
			-monitor stdio "$@" 2>&1)
	echo "$out" | grep -q 'vmcrypt.interop.' || { echo "$out" >&2; return 1; }
}

case_luks1()
{
	local line
	make_plain plain 2048
	new_image img plain luks1
	vmc qemu-args img --key-file "$PASS" >args.txt
	line=$(grep '^-object .* -blockdev ' args.txt)
	# shellcheck disable=SC2086 # pasted arguments
	qemu_reads vmcrypt0 $line || fail "pasted -blockdev: $line"
	line=$(grep '^-object .* -drive ' args.txt)
	# shellcheck disable=SC2086
	qemu_reads virtio0 $line || fail "pasted -drive: $line"
	grep -q "file.filename=$PWD/img" args.txt || fail "the image path is not absolute"
	vmc qemu-args img >noKey.txt
	grep -q 'PASSPHRASE_FILE' noKey.txt || fail "no placeholder without --key-file"
	grep -q '^# Replace PASSPHRASE_FILE' noKey.txt || fail "no note about the placeholder"
	vmc qemu-args img --read-only --key-file "$PASS" >ro.txt
	grep -q 'read-only=on' ro.txt || fail "no read-only=on"
}

case_serve_route()
{
	local what=$1 hdr=() line cmd
	trap case_cleanup EXIT
	requires_plugin
	make_plain plain 2048
	if [ "$what" = detached ]; then
		hdr=(--header "$PWD/hdr")
		new_image img plain luks1 --header hdr
	else
		new_image img plain luks2
	fi
	mkdir -m 0700 run
	export XDG_RUNTIME_DIR=$PWD/run
	vmc qemu-args img "${hdr[@]}" --key-file "$PASS" >args.txt
	cmd=$(grep '^vmcrypt serve ' args.txt) || fail "no vmcrypt serve command: $(cat args.txt)"
	line=$(grep '^-blockdev driver=nbd' args.txt) || fail "no NBD -blockdev: $(cat args.txt)"
	# Run the printed command (vmcrypt from the build tree).
	eval "set -- ${cmd#vmcrypt serve }"
	serve_start "$@"
	# shellcheck disable=SC2086
	qemu_reads vmcrypt0 $line || fail "pasted NBD -blockdev: $line"
	serve_stop
}

case_libvirt()
{
	local uuid
	make_plain plain 1024
	new_image img plain luks1
	vmc libvirt-xml img --key-file "$PASS" >xml.txt
	sed -n '/^<secret/,/^<\/secret>/p' xml.txt >secret.xml
	sed -n '/^<disk/,/^<\/disk>/p' xml.txt >disk.xml
	uuid=$(python3 - "$PWD/img" <<'PY'
import sys, xml.etree.ElementTree as E
s = E.parse("secret.xml").getroot()
d = E.parse("disk.xml").getroot()
u = s.find("uuid").text
assert s.find("usage/volume").text == sys.argv[1]
assert d.get("type") == "file" and d.find("source").get("file") == sys.argv[1]
enc = d.find("source/encryption")
assert enc.get("format") == "luks"
assert enc.find("secret").get("type") == "passphrase" and enc.find("secret").get("uuid") == u
assert d.find("driver").get("type") == "raw"
print(u)
PY
	) || fail "bad libvirt XML: $(cat xml.txt)"
	grep -q "^virsh secret-define /dev/stdin <<'EOF'$" xml.txt || fail "no secret-define step"
	grep -q "^virsh secret-set-value $uuid --file $PASS --plain$" xml.txt ||
		fail "no secret-set-value step for $uuid: $(cat xml.txt)"

	new_image img2 plain luks2
	mkdir -m 0700 run
	XDG_RUNTIME_DIR=$PWD/run vmc libvirt-xml img2 >xml2.txt
	grep -q '^vmcrypt serve ' xml2.txt || fail "no serve route for LUKS2"
	sed -n '/^<disk/,/^<\/disk>/p' xml2.txt >disk2.xml
	python3 -c 'import sys, xml.etree.ElementTree as E; d=E.parse("disk2.xml").getroot(); sys.exit(0 if d.get("type")=="network" and d.find("source").get("protocol")=="nbd" and d.find("source/host").get("socket")==sys.argv[1] else 1)' \
		"$PWD/run/vmcrypt/img2.sock" || fail "bad network <disk>: $(cat disk2.xml)"
}

run_case "luks1" case_luks1
run_case "serve-route-luks2" case_serve_route luks2
run_case "serve-route-detached" case_serve_route detached
run_case "libvirt" case_libvirt
finish
