#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vmcrypt audit and vmcrypt scan from the command line: exit statuses 0/10/11, options, --json.
# Uses the interop tests' shared functions.sh (VMCRYPT, run_case, finish).
FIXTURES=$(cd "$(dirname "$0")" && pwd)/fixtures
. "$(dirname "$0")/../integration/functions.sh"

status()
{
	local rc=0
	"$@" >out 2>err || rc=$?
	echo "$rc"
}

case_audit_status()
{
	[ "$(status "$VMCRYPT" audit --root "$FIXTURES/pass/root")" = 0 ]
	grep -q '^Summary: .* 0 FAIL' out
	[ "$(status "$VMCRYPT" audit --root "$FIXTURES/warn/root")" = 0 ]
	grep -q '^\[WARN\] swap: /dev/dm-1$' out
	[ "$(status "$VMCRYPT" audit --root "$FIXTURES/fail/root")" = 10 ]
	grep -q '^\[FAIL\] hibernation$' out
	grep -q '^       fix: ' out
}

case_audit_json()
{
	[ "$(status "$VMCRYPT" audit --json --root "$FIXTURES/fail/root")" = 10 ]
	"$PYTHON" - out <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["worst"] == "FAIL", d["worst"]
ids = {r["check"] for r in d["results"]}
for want in ("swap", "hibernation", "core-pattern", "init-on-free", "ksm", "domain-disk",
             "qemu-dump-guest-core", "virtualbox", "xen"):
    assert want in ids, want
assert all(r["fix"] for r in d["results"] if r["status"] in ("WARN", "FAIL"))
PY
}

case_audit_domain_xml()
{
	[ "$(status "$VMCRYPT" audit --root "$FIXTURES/warn2/root" \
		--domain-xml "$FIXTURES/warn2/domain-tenant.xml")" = 0 ]
	grep -q '^\[WARN\] domain-balloon: domain tenant' out
	[ "$(status "$VMCRYPT" audit --domain-xml missing.xml)" = "$EXIT_NOTLUKS" ]
	[ "$(status "$VMCRYPT" audit stray-argument)" = "$EXIT_USAGE" ]
}

# An image, its volume key planted in an otherwise random dump.
make_dump()
{
	"$VMCRYPT" create img --type luks1 --size 1M "${FAST_PBKDF2[@]}" --key-file "$PASS" -q
	"$VMCRYPT" dump img --dump-volume-key --key-file "$PASS" -q | sed -n 's/^Volume key: //p' >vk.hex
	[ "$(wc -c <vk.hex)" = 129 ]
	head -c 3000000 /dev/urandom >dump
	head -c 777777 /dev/urandom >clean
	xxd -r -p vk.hex | dd of=dump bs=1 seek=1234567 conv=notrunc status=none
}

case_scan_known()
{
	make_dump
	[ "$(status "$VMCRYPT" scan --image img --key-file "$PASS" dump clean)" = 11 ]
	grep -q '^dump: offset 1234567 (0x12d687): the volume key (512 bits) of img$' out
	grep -q '^The volume key of img is in dump\.$' out
	grep -q '^No trace of the volume key of img in clean\.$' out
	[ "$(status "$VMCRYPT" scan --image img --key-file "$PASS" clean)" = 0 ]
	[ "$(status "$VMCRYPT" scan --json --image img --key-file "$PASS" dump)" = 11 ]
	"$PYTHON" -c 'import json,sys; d=json.load(open("out")); assert d["files"][0]["volume_key"]=="complete"; assert d["findings"][0]["offset"]==1234567'
	[ "$(status "$VMCRYPT" scan --image img --key-file "$WRONG" dump)" = "$EXIT_PASS" ]
}

case_scan_any()
{
	make_dump
	[ "$(status "$VMCRYPT" scan --max-bit-errors 2 dump)" = 0 ]
	grep -q '0 findings' out
	[ "$(status "$VMCRYPT" scan --header img dump)" = 0 ]
	grep -q 'none of the keys found is its volume key' out
	[ "$(status "$VMCRYPT" scan --max-bit-errors 65 dump)" = "$EXIT_USAGE" ]
	[ "$(status "$VMCRYPT" scan --key-file "$PASS" dump)" = "$EXIT_USAGE" ]
	[ "$(status "$VMCRYPT" scan --image img --key-file "$PASS" --max-bit-errors 1 dump)" = "$EXIT_USAGE" ]
	[ "$(status "$VMCRYPT" scan)" = "$EXIT_USAGE" ]
	[ "$(status "$VMCRYPT" scan missing)" = "$EXIT_NOTLUKS" ]
}

# A qcow2 snapshot made by savevm in a paused QEMU (TCG, no guest runs): QEMU's loader
# device puts the image's volume key into guest RAM first, so the snapshot's VM state holds it.
case_qcow2_savevm()
{
	# (A skip inside a case would count as a failure: say so and pass.)
	if ! command -v qemu-system-x86_64 >/dev/null || ! command -v qemu-img >/dev/null; then
		echo "qcow2-savevm: no qemu-system-x86_64 or qemu-img: not run"
		return 0
	fi
	make_dump
	xxd -r -p vk.hex >vk.bin
	qemu-img create -q -f qcow2 vm.qcow2 16M
	qemu-img create -q -f qcow2 clean.qcow2 16M
	printf 'savevm s1\nquit\n' | timeout 120 qemu-system-x86_64 -S -nodefaults -display none \
		-machine accel=tcg -m 64 -drive file=vm.qcow2,if=none,id=d \
		-device loader,file=vk.bin,addr=0x100000 -monitor stdio >qemu.out 2>&1
	qemu-img snapshot -l vm.qcow2 | grep -q ' s1 '
	qemu-img snapshot -c disk-only clean.qcow2
	[ "$(status "$VMCRYPT" audit --root / --image vm.qcow2 --image clean.qcow2)" = 10 ]
	grep -q "^\[FAIL\] image-snapshots: vm.qcow2$" out
	grep -q "keep VM state, unencrypted, inside the image (.*'s1'" out
	grep -q "^\[PASS\] image-snapshots: clean.qcow2$" out
	[ "$(status "$VMCRYPT" audit --json --image vm.qcow2)" = 10 ]
	"$PYTHON" -c 'import json; d=json.load(open("out")); r=[x for x in d["results"] if x["check"]=="image-snapshots"]; assert r[0]["status"]=="FAIL" and r[0]["fix"], r'
	[ "$(status "$VMCRYPT" scan --image img --key-file "$PASS" vm.qcow2 clean.qcow2)" = 11 ]
	grep -q "^vm.qcow2 (snapshot 's1', VM state): offset [0-9]* (0x[0-9a-f]*): the volume key (512 bits) of img$" out
	grep -q "^The volume key of img is in vm.qcow2 (snapshot 's1', VM state)\.$" out
	grep -q "^Scanned 2 files and 1 VM state of qcow2 snapshots" out
	[ "$(status "$VMCRYPT" scan --json --image img --key-file "$PASS" vm.qcow2)" = 11 ]
	"$PYTHON" -c 'import json; d=json.load(open("out")); f=d["files"][1]; assert f["qcow2_snapshot"]["name"]=="s1" and f["volume_key"]=="complete", f'
	# Deleting the snapshot punches its clusters out: the key is gone from the file.
	qemu-img snapshot -d s1 vm.qcow2
	[ "$(status "$VMCRYPT" scan --image img --key-file "$PASS" vm.qcow2)" = 0 ]
}

requires xxd
run_case audit-status case_audit_status
run_case audit-json case_audit_json
run_case audit-domain-xml case_audit_domain_xml
run_case scan-known case_scan_known
run_case scan-any case_scan_any
run_case qcow2-savevm case_qcow2_savevm
finish
