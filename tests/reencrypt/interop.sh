#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Re-encryptions handed over between cryptsetup 2.6 and vmcrypt, plaintext unchanged:
#  - a cryptsetup reencrypt killed with SIGKILL part-way (checksum and journal; the
#    header then shows an unfinished re-encryption, often a hotzone in flight) is
#    finished by `vmcrypt rekey --resume`; so is one stopped with SIGINT;
#  - a vmcrypt rekey killed part-way (VMCRYPT_FAULT=kill:N: in a clean state and in a
#    crash state) is finished by cryptsetup repair + reencrypt --resume-only;
#  - a re-keyed LUKS1 image is LUKS1 again and QEMU's luks driver reads it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

# A plaintext of about 400 MiB (PLAIN repeated), so that cryptsetup runs long enough.
BIG_COPIES=$((400 / RK_MIB))

big_image()
{
	local i
	for i in $(seq 1 "$BIG_COPIES"); do cat "$PLAIN"; done >big.raw
	vmc encrypt big.raw big.img --key-file "$OLD" --batch-mode "${FAST_PBKDF2[@]}" ||
		fail "vmcrypt encrypt"
	BIG_SHA=$(sha256 big.raw)
	rm -f big.raw
}

# cryptsetup re-encrypts big.img (keeping the passphrase OLD, as it does by default)
# and is stopped by SIG after DELAY seconds; retried with shorter delays until the
# header shows an unfinished re-encryption.
cs_interrupted()
{
	local sig=$1 mode=$2 delay pid state
	for delay in 0.4 0.3 0.2 0.1 0.05 0.6 1.0; do
		cp big.img t.img
		cryptsetup --disable-locks reencrypt --batch-mode --force-offline-reencrypt \
			"${FAST_PBKDF2[@]}" --hotzone-size 1M --resilience "$mode" --key-file "$OLD" \
			t.img >cs.out 2>&1 &
		pid=$!
		sleep "$delay"
		kill "-$sig" "$pid" 2>/dev/null || true
		{ wait "$pid"; } 2>/dev/null || true
		cs luksDump t.img >t.dump 2>&1 || true
		state=finished
		grep -q 'online-reencrypt' t.dump && state=unfinished
		grep -q 'in-reencryption' t.dump && state=crash
		echo "cryptsetup $mode, SIG$sig after $delay s: $state"
		[ "$state" = finished ] || return 0
	done
	fail "cryptsetup could not be interrupted part-way"
}

case_cs_killed()
{
	local sig=$1 mode=$2 old_vk attempt rc=1
	big_image
	old_vk=$(volume_key big.img "$OLD")
	for attempt in 1 2 3; do
		cs_interrupted "$sig" "$mode"
		grep -A4 '^Data segments' t.dump | head -5
		cp t.img t.cs
		rc=0
		vmc rekey t.img --resume --key-file "$OLD" --hotzone-size 4M >last.out 2>last.err \
			</dev/null || rc=$?
		[ "$rc" -eq 0 ] && break
		# A kill in cryptsetup's last steps (the old keyslot destroyed, the re-encryption
		# metadata not yet dropped) leaves a header whose keyslots give the passphrase
		# only the new volume key; cryptsetup 2.6 then opens nothing ("No usable keyslot
		# is available"). That is no failure of vmcrypt only if cryptsetup cannot resume
		# it either; then interrupt another run.
		if [ "$rc" -eq 2 ] && grep -q 'opens only one of the two volume keys' last.err; then
			if cs reencrypt --resume-only --force-offline-reencrypt --batch-mode \
				--key-file "$OLD" t.cs >cs.out 2>&1; then
				cat last.err >&2
				fail "cryptsetup resumes a re-encryption vmcrypt refused"
			fi
			echo "attempt $attempt: killed where the header gives the passphrase only one" \
				"of the two volume keys; cryptsetup cannot resume it either; again"
			continue
		fi
		cat last.err >&2
		fail "vmcrypt rekey --resume exited $rc"
	done
	[ "$rc" -eq 0 ] || fail "three interrupted runs left no resumable state"
	if pending t.img; then fail "still unfinished after vmcrypt rekey --resume"; fi
	expect_eq "$(vmc decrypt t.img - --key-file "$OLD" | sha256sum | cut -d' ' -f1)" "$BIG_SHA" \
		"plaintext after vmcrypt finished cryptsetup's re-encryption"
	[ "$(volume_key t.img "$OLD")" != "$old_vk" ] || fail "the volume key did not change"
	cs open --test-passphrase --key-file "$OLD" t.img || fail "cryptsetup cannot open the result"
}

case_vmc_killed()
{
	local state=$1 n rc
	new_image base.img
	OLD_VK=$(volume_key base.img "$OLD")
	for n in $(seq 20 1 200); do
		cp base.img t.img
		rc=0
		VMCRYPT_FAULT=kill:$n rk t.img --key-file "$OLD" --new-key-file "$NEW" \
			--hotzone-size "$RK_HOTZONE" >/dev/null 2>&1 || rc=$?
		expect_eq "$rc" 137 "kill:$n"
		pending t.img || continue
		if vmc dump t.img | grep -q 'in-reencryption'; then
			[ "$state" = crash ] && break
		else
			[ "$state" = clean ] && break
		fi
	done
	echo "vmcrypt killed at write $n: $state state"
	if [ "$state" = clean ]; then
		# A clean state needs no repair: cryptsetup resumes it directly.
		cs reencrypt --resume-only --force-offline-reencrypt --batch-mode --key-file "$NEW" \
			t.img >cs.out 2>&1 || { cat cs.out >&2; fail "cryptsetup --resume-only"; }
	else
		cs_finish t.img
	fi
	expect_rekeyed t.img "$OLD_VK" "vmcrypt's rekey finished by cryptsetup ($state)"
	cs luksDump t.img >cs.dump
	expect_exit 0 vmc dump t.img
	luksmeta compare cs.dump last.out || fail "vmcrypt dump and cryptsetup luksDump disagree"
}

case_luks1_qemu()
{
	new_image t.img --type luks1
	OLD_VK=$(volume_key t.img "$OLD")
	expect_exit 0 rk t.img --key-file "$OLD" --new-key-file "$NEW" --hotzone-size 1M
	expect_rekeyed t.img "$OLD_VK" "LUKS1 rekey"
	vmc dump t.img | grep -q '^Version:[[:space:]]*1$' || fail "not LUKS1 after the rekey"
	qemu_luks_read t.img "$NEW" q.raw
	expect_eq "$(sha256_range q.raw 0 "$(filesize "$PLAIN")")" "$PLAIN_SHA" "plaintext by QEMU's luks driver"
}

run_case "cryptsetup (checksum) killed by SIGKILL, vmcrypt finishes" case_cs_killed KILL checksum
run_case "cryptsetup (journal) killed by SIGKILL, vmcrypt finishes" case_cs_killed KILL journal
run_case "cryptsetup (checksum) stopped by SIGINT, vmcrypt finishes" case_cs_killed INT checksum
run_case "vmcrypt killed in a clean state, cryptsetup finishes" case_vmc_killed clean
run_case "vmcrypt killed in a crash state, cryptsetup repairs and finishes" case_vmc_killed crash
if command -v qemu-img >/dev/null; then
	run_case "LUKS1 rekey: QEMU reads it" case_luks1_qemu
else
	echo "SKIP: LUKS1 rekey read by QEMU: qemu-img is not installed"
fi
finish
