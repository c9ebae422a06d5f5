#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Re-key in place of QEMU's encrypted qcow2, with QEMU as the peer: an image made by
# qemu-img (extended L2, 128 KiB clusters, preallocated metadata) with data written by
# qemu-io and an internal snapshot.
#  - rekey gives a new volume key and passphrase: qemu-img check is clean, QEMU reads
#    the same plaintext in the active layer and the snapshot, the old passphrase no
#    longer opens;
#  - an unfinished re-key: QEMU refuses the image (incompatible feature bit 63), vmcrypt
#    refuses to read or change it, rekey --resume finishes it;
#  - kill -9 (VMCRYPT_FAULT=kill:N) and power cuts (powercut:N) at every ninth write of
#    a re-key in 256 KiB steps (at every write of one in 128 KiB steps with
#    VMCRYPT_LONG_TESTS=1), each resumed and checked as above; ENOSPC (enospc:N) stops it
#    resumable; Ctrl-C (SIGINT) stops it cleanly, exit 9;
#  - a step cut and then damaged (a sector holding neither key's ciphertext, or
#    fingerprints that do not match the state): exit 6, the image untouched;
#  - saved VM state of a snapshot (made by qcow2-vmstate.py: QEMU 7.2 cannot savevm into
#    an encrypted qcow2) is re-encrypted: it decrypts under the new volume key only
#    (refxts.py), also after a kill -9 in the middle and --resume.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires qemu-img
requires qemu-io
requires test -x "$VMCRYPT"

# QEMU's secrets and --image-opts: QEMU_SECRETS and qcow2_opts (functions.sh).
SEC=("${QEMU_SECRETS[@]}")
qopts() { qcow2_opts "$@"; }

# qread IMG OUT KEYID [SNAPSHOT]: the plaintext QEMU reads.
qread()
{
	local img=$1 out=$2 key=$3 snap=${4:-}
	rm -f "$out"
	qemu-img convert "${SEC[@]}" ${snap:+-l "snapshot.name=$snap"} --image-opts \
		"$(qopts "$img" "$key")" -O raw "$out"
}

# The image every case starts from, made once: ORIG, and its plaintexts REF, REF_SNAP.
ORIG=$TMPDIR_TEST/orig.qcow2 REF=$TMPDIR_TEST/ref.raw REF_SNAP=$TMPDIR_TEST/ref.snap.raw
(
	cd "$TMPDIR_TEST"
	qemu_img_luks create -q -f qcow2 "${SEC[@]}" -o \
		encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,extended_l2=on,cluster_size=128k,preallocation=metadata \
		"$ORIG" 32M
	qemu-io "${SEC[@]}" --image-opts "$(qopts "$ORIG")" -c 'write -P 0x5a 0 2M' \
		-c 'write -P 0x11 4097 5000' -c 'write -P 0x77 30M 1M' >/dev/null
	qemu-img snapshot "${SEC[@]}" -c s1 --image-opts "$(qopts "$ORIG")"
	qemu-io "${SEC[@]}" --image-opts "$(qopts "$ORIG")" -c 'write -P 0x99 100k 700k' \
		-c 'write -P 0x42 12M 3M' >/dev/null
	qread "$ORIG" "$REF" sec0
	qread "$ORIG" "$REF_SNAP" sec0 s1
)

# verify IMG: clean, QEMU reads the plaintext of both layers with the new passphrase
# only, and vmcrypt agrees.
verify()
{
	local img=$1
	qemu-img check "${SEC[@]}" --image-opts "$(qopts "$img" sec1)" >check.out 2>&1 ||
		fail "qemu-img check: $(cat check.out)"
	grep -q "No errors were found" check.out || fail "qemu-img check: $(cat check.out)"
	qread "$img" got.raw sec1
	expect_same got.raw "$REF" "QEMU's plaintext after the re-key"
	qread "$img" got.snap sec1 s1
	expect_same got.snap "$REF_SNAP" "QEMU's plaintext of snapshot s1 after the re-key"
	if qemu-io "${SEC[@]}" --image-opts "$(qopts "$img" sec0)" -c 'read 0 512' >/dev/null 2>&1; then
		fail "the old passphrase still opens $img"
	fi
	vmc decrypt --force --batch-mode --key-file "$PASS2" "$img" out.raw </dev/null
	expect_same out.raw "$REF" "vmcrypt's plaintext after the re-key"
}

# vmstate ARGS...: saved VM state in a snapshot, written and read through refxts.py.
vmstate()
{
	"$PYTHON" -S "$SRCDIR/qcow2-vmstate.py" "$@"
}

rekey()
{
	vmc rekey --batch-mode --key-file "$PASS" --new-key-file "$PASS2" --iter-time 10 "$@"
}

case_rekey()
{
	cp "$ORIG" e.qcow2
	vmc dump --dump-volume-key --batch-mode --key-file "$PASS" e.qcow2 2>/dev/null |
		grep '^Volume key:' >vk.old
	rekey e.qcow2 </dev/null
	verify e.qcow2
	vmc dump --dump-volume-key --batch-mode --key-file "$PASS2" e.qcow2 2>/dev/null |
		grep '^Volume key:' >vk.new
	! cmp -s vk.old vk.new || fail "the volume key did not change"
	expect_eq "$(stat -c %s e.qcow2)" "$(stat -c %s "$ORIG")" "the file's size after the re-key"
	echo "rekey: new volume key and passphrase; active layer and snapshot read back by QEMU"
}

case_unfinished()
{
	cp "$ORIG" e.qcow2
	# Killed mid-way, after the image was marked: QEMU refuses, vmcrypt resumes.
	VMCRYPT_FAULT=kill:40 rekey --hotzone-size 256K e.qcow2 </dev/null >/dev/null 2>&1 || true
	if qemu-img info e.qcow2 >info.out 2>&1; then
		fail "QEMU opens a half re-keyed image: $(cat info.out)"
	fi
	grep -qi 'unsupported\|feature' info.out || fail "QEMU's refusal: $(cat info.out)"
	expect_exit "$EXIT_NOTSUP" vmc decrypt --key-file "$PASS2" e.qcow2 out.raw
	expect_exit "$EXIT_NOTSUP" vmc add-key --key-file "$PASS2" --iter-time 10 e.qcow2 "$PASS"
	vmc dump e.qcow2 >/dev/null 2>&1 || fail "dump of a half re-keyed image"
	vmc rekey --resume --batch-mode --key-file "$PASS2" e.qcow2 </dev/null
	verify e.qcow2
	echo "unfinished: QEMU refuses ($(grep -io 'unsupported[^:]*' info.out | head -1)), rekey --resume finishes"
}

# fault_loop MODE STEP: MODE:N for N = 1, 1+STEP, ... until a re-key runs to its end.
fault_loop()
{
	local mode=$1 step=$2 n=1 rc points=0
	while :; do
		cp "$ORIG" e.qcow2
		rc=0
		VMCRYPT_FAULT="$mode:$n" rekey --hotzone-size "$FAULT_HOTZONE" e.qcow2 </dev/null >run.out 2>&1 ||
			rc=$?
		if [ "$rc" -eq 0 ]; then
			verify e.qcow2
			break
		fi
		points=$((points + 1))
		# Resume. Nothing to resume: either the image was not marked yet (the old
		# passphrase still opens it; the new one was perhaps added to it) and a re-key
		# starts over, or the re-key had finished (the old passphrase opens nothing).
		rc=0
		vmc rekey --resume --batch-mode --key-file "$PASS2" e.qcow2 </dev/null >res.out 2>&1 ||
			rc=$?
		if [ "$rc" -eq "$EXIT_NOTLUKS" ] &&
			"$VMCRYPT" test-key --key-file "$PASS" e.qcow2 </dev/null >/dev/null 2>&1; then
			rekey --hotzone-size "$FAULT_HOTZONE" e.qcow2 </dev/null >res.out 2>&1 ||
				fail "$mode:$n: restart: $(cat res.out)"
		elif [ "$rc" -eq "$EXIT_NOTLUKS" ]; then
			: # finished before the fault
		elif [ "$rc" -ne 0 ]; then
			fail "$mode:$n: resume exit $rc: $(cat res.out)"
		fi
		verify e.qcow2
		n=$((n + step))
	done
	echo "$mode: $points fault points, each resumed and verified"
}

case_kill()
{
	fault_loop kill "$FAULT_STEP"
}

case_powercut()
{
	fault_loop powercut "$FAULT_STEP"
}

case_enospc()
{
	local rc=0
	cp "$ORIG" e.qcow2
	VMCRYPT_FAULT=enospc:30 rekey --hotzone-size 256K e.qcow2 </dev/null >run.out 2>&1 || rc=$?
	[ "$rc" -eq "$EXIT_IO" ] || fail "ENOSPC: exit $rc: $(cat run.out)"
	vmc rekey --resume --batch-mode --key-file "$PASS2" e.qcow2 </dev/null
	verify e.qcow2
	echo "ENOSPC mid-way: exit 8, then resumed"
}

# Saved VM state (QEMU 7.2 cannot savevm into an encrypted qcow2, docs/FORMAT-NOTES.md):
# qcow2-vmstate.py adds 300000 bytes of it to snapshot s1 of a small image, past the
# disk's range of its L1 table, encrypted through refxts.py at the clusters' host offsets.
# QEMU sees it (qemu-img check after rebuilding the refcounts, snapshot -l's VM SIZE).
# After the re-key ('kill': killed inside the state's clusters, then resumed) the state
# decrypts to its plaintext under the new volume key only, at the same host clusters,
# and QEMU reads both layers as before.
case_vmstate()
{
	local mode=${1:-} vs=300000 rc=0 n=0 lo=1 hi=512 mid
	local REF=$PWD/ref.raw REF_SNAP=$PWD/ref.snap.raw # for verify
	requires_python_libcrypto
	qemu_img_luks create -q -f qcow2 "${SEC[@]}" -o \
		encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10,extended_l2=on,cluster_size=128k,preallocation=metadata \
		v.qcow2 8M
	qemu-io "${SEC[@]}" --image-opts "$(qopts v.qcow2)" -c 'write -P 0x5a 0 256k' \
		-c 'write -P 0x11 4097 5000' >/dev/null
	qemu-img snapshot "${SEC[@]}" -c s1 --image-opts "$(qopts v.qcow2)"
	qemu-io "${SEC[@]}" --image-opts "$(qopts v.qcow2)" -c 'write -P 0x99 100k 200k' \
		-c 'write -P 0x42 6M 300k' >/dev/null
	qread v.qcow2 "$REF" sec0
	qread v.qcow2 "$REF_SNAP" sec0 s1
	vmc dump --dump-volume-key --batch-mode --key-file "$PASS" v.qcow2 2>/dev/null |
		sed -n 's/^Volume key: //p' >vk.old
	vmstate add --key-file vk.old --snapshot s1 --size "$vs" v.qcow2 state.plain >hosts
	qemu-img check -r all "${SEC[@]}" --image-opts "$(qopts v.qcow2)" >repair.out 2>&1 ||
		fail "qemu-img check -r all: $(cat repair.out)"
	qemu-img check "${SEC[@]}" --image-opts "$(qopts v.qcow2)" >check.out 2>&1 ||
		fail "qemu-img check after the repair: $(cat check.out)"
	qemu-img snapshot -l "${SEC[@]}" --image-opts "$(qopts v.qcow2)" >snap.out
	grep -Eq '^1 +s1 +293 KiB ' snap.out || fail "QEMU's VM SIZE of s1: $(cat snap.out)"
	vmstate read --key-file vk.old --snapshot s1 v.qcow2 got.state >/dev/null
	expect_same got.state state.plain "the VM state before the re-key"
	if [ "$mode" = kill ]; then
		# The first write whose kill finds a state cluster re-keyed (bisected, about 9
		# short runs): the kill falls among the state's clusters, wherever the writes
		# before them come to.
		while [ "$lo" -lt "$hi" ]; do
			mid=$(((lo + hi) / 2))
			vmstate_kill "$mid"
			if [ "$rc" -eq 0 ] || [ "$n" -gt 0 ]; then hi=$mid; else lo=$((mid + 1)); fi
		done
		vmstate_kill "$lo"
		if [ "$rc" -eq 0 ] || [ "$n" -eq 0 ]; then
			fail "no kill point among the state's clusters (kill:$lo: exit $rc, $n re-keyed)"
		fi
		if qemu-img info e.qcow2 >/dev/null 2>&1; then
			fail "kill:$lo: QEMU opens the half re-keyed image"
		fi
		vmc rekey --resume --batch-mode --key-file "$PASS2" e.qcow2 </dev/null
	else
		cp v.qcow2 e.qcow2
		rekey e.qcow2 </dev/null
	fi
	verify e.qcow2
	vmc dump --dump-volume-key --batch-mode --key-file "$PASS2" e.qcow2 2>/dev/null |
		sed -n 's/^Volume key: //p' >vk.new
	! cmp -s vk.old vk.new || fail "the volume key did not change"
	vmstate read --key-file vk.new --snapshot s1 e.qcow2 got.state >hosts.after
	expect_same hosts.after hosts "the VM state's host clusters after the re-key"
	expect_same got.state state.plain "the VM state under the new volume key"
	vmstate read --key-file vk.old --snapshot s1 e.qcow2 got.old >/dev/null
	expect_eq "$(vmstate_changed got.old)" "$(wc -l <hosts)" \
		"VM state clusters that no longer decrypt under the old volume key"
	echo "VM state of s1 ($vs bytes at host $(paste -sd, hosts)) under the new key only${mode:+; killed at write $lo with $n of $(wc -l <hosts) state clusters re-keyed, resumed}"
}

# vmstate_changed FILE: how many 128 KiB clusters of FILE (a decrypted VM state) differ
# from state.plain.
vmstate_changed()
{
	local i n=0 size
	size=$(stat -c %s state.plain)
	for ((i = 0; i * 131072 < size; i++)); do
		cmp -s -i $((i * 131072)) -n 131072 "$1" state.plain || n=$((n + 1))
	done
	echo "$n"
}

# vmstate_kill N: a re-key of a copy of v.qcow2 (as e.qcow2) killed at write N; sets rc
# (its exit status) and n (the state's clusters no longer under the old key).
vmstate_kill()
{
	cp v.qcow2 e.qcow2
	rc=0
	VMCRYPT_FAULT=kill:$1 rekey --hotzone-size 128K e.qcow2 </dev/null >run.out 2>&1 || rc=$?
	vmstate read --key-file vk.old --snapshot s1 e.qcow2 got.state >/dev/null
	n=$(vmstate_changed got.state)
}

# A backing chain: each layer has its own key; rekey re-keys the layer named, says so,
# and leaves the backing file alone.
case_backing()
{
	local sec=("${SEC[@]}" --object "secret,id=sec2,file=$PWD/ovl" --object "secret,id=sec3,file=$PWD/ovl.new")
	local chain="driver=qcow2,file.filename=ov.qcow2,backing.encrypt.key-secret=sec0,encrypt.key-secret"
	printf 'overlay passphrase' >ovl
	printf 'new overlay passphrase' >ovl.new
	cp "$ORIG" base.qcow2
	qemu_img_luks create -q -f qcow2 "${sec[@]}" -b base.qcow2 -F qcow2 \
		-o encrypt.format=luks,encrypt.key-secret=sec2,encrypt.iter-time=10 ov.qcow2
	qemu-io "${sec[@]}" --image-opts "$chain=sec2" -c 'write -P 0x22 1M 1M' >/dev/null
	qemu-img convert "${sec[@]}" --image-opts "$chain=sec2" -O raw ref.raw
	sha256 base.qcow2 >base.sum
	vmc rekey --batch-mode --key-file ovl --new-key-file ovl.new --iter-time 10 ov.qcow2 \
		</dev/null 2>err.out
	grep -q 'this layer only' err.out || fail "rekey does not say it re-keys one layer"
	expect_eq "$(sha256 base.qcow2)" "$(cat base.sum)" "the backing file after the re-key"
	qemu-img convert "${sec[@]}" --image-opts "$chain=sec3" -O raw got.raw
	expect_same got.raw ref.raw "QEMU's plaintext of the chain after the overlay's re-key"
	echo "backing chain: the overlay re-keyed alone, QEMU reads the chain"
}

# Ctrl-C: the step under way ends, the state says where to resume (exit 9).
case_sigint()
{
	local pid rc=0
	# 48 MiB of data in 128 KiB steps, each synced: SIGINT arrives mid-way.
	head -c 48M /dev/urandom >src.raw
	vmc encrypt src.raw e.qcow2 --format qcow2 --key-file "$PASS" "${FAST_PBKDF2[@]}" </dev/null
	# vmcrypt itself in the background (a function would run in a subshell, which gets the
	# signal instead).
	"$VMCRYPT" rekey --batch-mode --key-file "$PASS" --new-key-file "$PASS2" --iter-time 10 \
		--hotzone-size 128K e.qcow2 </dev/null >run.out 2>&1 &
	pid=$!
	# Once the image is marked (bit 63 of the incompatible features), it is under way.
	for _ in $(seq 1 200); do
		[ "$(od -An -tx1 -j72 -N1 e.qcow2 | tr -d ' ')" != 80 ] || break
		sleep 0.01
	done
	kill -INT "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	if [ "$rc" -eq "$EXIT_CANCELLED" ]; then
		grep -q 'rekey --resume' run.out || fail "Ctrl-C: no resume hint: $(cat run.out)"
		if qemu-img info e.qcow2 >/dev/null 2>&1; then
			fail "QEMU opens an image whose re-key was stopped"
		fi
		vmc rekey --resume --batch-mode --key-file "$PASS2" e.qcow2 </dev/null
	elif [ "$rc" -ne 0 ]; then
		fail "Ctrl-C: exit $rc: $(cat run.out)"
	fi
	qread e.qcow2 got.raw sec1
	expect_same got.raw src.raw "QEMU's plaintext after Ctrl-C and resume"
	echo "Ctrl-C: exit $rc, resumed and verified"
}

# rk_state FILE FIELD: a field of the newer re-key state record at the end of FILE
# (phase, batch_start, batch_end, journal, batch_bytes, area; docs/REENCRYPT-NOTES.md 12).
rk_state()
{
	python3 - "$1" "$2" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    f.seek(-8192, 2)
    recs = [f.read(4096), f.read(4096)]
recs = [r for r in recs if r[:7] == b"VMCQ2RK"]
r = max(recs, key=lambda r: struct.unpack(">Q", r[16:24])[0])
at = {"phase": (12, ">I"), "journal": (48, ">Q"), "batch_start": (72, ">Q"),
      "batch_end": (80, ">Q"), "batch_bytes": (88, ">Q"), "area": (96, ">I")}
o, fmt = at[sys.argv[2]]
print(struct.unpack(fmt, r[o:o + struct.calcsize(fmt)])[0])
PY
}

# A step cut in the middle, then damaged: a sector of the batch that holds neither its old
# nor its new ciphertext, or fingerprints that do not match the state, is reported (exit
# 6), never guessed at, and the image is left as it was.
case_damage()
{
	local n=20 rc start fp
	while :; do
		cp "$ORIG" e.qcow2
		VMCRYPT_FAULT="kill:$n" rekey --hotzone-size 256K e.qcow2 </dev/null >/dev/null 2>&1 || true
		[ "$(rk_state e.qcow2 phase 2>/dev/null)" = 2 ] && break
		n=$((n + 1))
		[ "$n" -lt 80 ] || fail "no kill point between 20 and 80 left a step under way"
	done
	cp e.qcow2 cut.qcow2
	start=$(rk_state e.qcow2 batch_start)
	printf 'damage' | dd of=e.qcow2 bs=1 seek=$((start + 1024 + 3)) conv=notrunc status=none
	sha256 e.qcow2 >before.sum
	rc=0
	vmc rekey --resume --batch-mode --key-file "$PASS2" e.qcow2 </dev/null >res.out 2>&1 || rc=$?
	expect_eq "$rc" "$EXIT_CORRUPT" "resume over a damaged sector: exit status"
	grep -q 'neither its old nor its new ciphertext' res.out ||
		fail "damaged sector: $(cat res.out)"
	expect_eq "$(sha256 e.qcow2)" "$(cat before.sum)" "the image after the refused resume"
	# The fingerprints of the step damaged instead.
	cp cut.qcow2 e.qcow2
	fp=$(($(rk_state e.qcow2 journal) + $(rk_state e.qcow2 area) * $(rk_state e.qcow2 batch_bytes) / 16))
	printf 'damage' | dd of=e.qcow2 bs=1 seek=$((fp + 100)) conv=notrunc status=none
	rc=0
	vmc rekey --resume --batch-mode --key-file "$PASS2" e.qcow2 </dev/null >res.out 2>&1 || rc=$?
	expect_eq "$rc" "$EXIT_CORRUPT" "resume over damaged fingerprints: exit status"
	grep -q 'fingerprints.*damaged' res.out || fail "damaged fingerprints: $(cat res.out)"
	# Undamaged, the same cut resumes.
	cp cut.qcow2 e.qcow2
	vmc rekey --resume --batch-mode --key-file "$PASS2" e.qcow2 </dev/null
	verify e.qcow2
	echo "damage inside a cut step (kill:$n): exit 6 for a sector or the fingerprints, untouched"
}

# By default every ninth write of a re-key in 256 KiB steps (about 20 points); with
# VMCRYPT_LONG_TESTS=1 every write of one in 128 KiB steps (about 360 points, 20 min).
FAULT_STEP=9 FAULT_HOTZONE=256K
[ "${VMCRYPT_LONG_TESTS:-0}" = 1 ] && FAULT_STEP=1 FAULT_HOTZONE=128K

run_case "rekey" case_rekey
run_case "unfinished: QEMU refuses, vmcrypt resumes" case_unfinished
run_case "kill -9 at write N" case_kill
run_case "power cut at write N" case_powercut
run_case "ENOSPC" case_enospc
run_case "damage inside a cut step" case_damage
run_case "Ctrl-C" case_sigint
run_case "backing chain" case_backing
run_case "saved VM state" case_vmstate
run_case "saved VM state, kill -9 among its clusters" case_vmstate kill
finish
