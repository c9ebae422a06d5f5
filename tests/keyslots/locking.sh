#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Locking as an ordinary user: two vmcrypt writers never interleave (the second one
# gets exit 5 at once), and cryptsetup waits while vmcrypt holds an image (both
# flock() the image file itself; docs/FORMAT-NOTES.md).
. "$(dirname "$0")/lib.sh"

requires flock
requires_user_switch

# The case directory, usable by the ordinary user.
user_dir()
{
	chmod 0755 "$PWD"
	if [ "$(id -u)" -eq 0 ]; then chown 65534:65534 "$PWD"; fi
}

# hold_open IMG: starts `vmcrypt add-key` as the ordinary user, with its old
# passphrase coming from a FIFO: vmcrypt opens IMG for writing (and locks it),
# then waits for the passphrase. Sets HOLDER (its pid); release_hold lets it finish.
hold_open()
{
	local img=$1
	as_user mkfifo pass.fifo
	"${AS_USER[@]}" "$VMCRYPT" add-key "${FAST_PBKDF2[@]}" --key-file pass.fifo "$img" "$K2" \
		>holder.out 2>&1 &
	HOLDER=$!
	# A failing case must not leave it waiting on the FIFO.
	trap 'kill "$HOLDER" 2>/dev/null || true' EXIT
	wait_locked "$img"
}

release_hold()
{
	cat "$K1" >pass.fifo
	wait "$HOLDER" || fail "the holding vmcrypt failed: $(cat holder.out)"
}

case_two_writers()
{
	local v=$1 before rc
	user_dir
	new_image "$v" img
	chown 65534:65534 img
	hold_open img
	before=$(sha256 img)
	# Every other writer is turned away at once, and so is a reader (shared lock).
	for cmd in "add-key ${FAST_PBKDF2[*]} --key-file $K1 --new-key-file $K3" \
		"kill-slot --batch-mode --force" "erase --batch-mode" "repair" \
		"test-key --key-file $K1"; do
		rc=0
		# shellcheck disable=SC2086 # $cmd is a list of words
		case $cmd in
		kill-slot*) timeout 10 "${AS_USER[@]}" "$VMCRYPT" $cmd img 0 >out 2>&1 || rc=$? ;;
		*) timeout 10 "${AS_USER[@]}" "$VMCRYPT" $cmd img >out 2>&1 || rc=$? ;;
		esac
		expect_eq "$rc" "$EXIT_BUSY" "second vmcrypt ($cmd) while the first holds the image"
		grep -q 'in use\|busy\|locked' out || fail "unclear error: $(cat out)"
	done
	expect_eq "$(sha256 img)" "$before" "image while locked"
	release_hold
	expect_keys img "K1=0 K2=1 K3=-"
	expect_data img K2
}

# Many writers at once: each either completes or is turned away with exit 5, and
# the header holds exactly the slots of those that completed.
case_concurrent_writers()
{
	local v=$1 i pids=() ok=0 busy=0 rc
	user_dir
	new_image "$v" img
	chown 65534:65534 img
	for i in 1 2 3 4 5 6; do
		as_user "$VMCRYPT" add-key --pbkdf pbkdf2 --pbkdf-force-iterations 20000 \
			--key-file "$K1" img "$K2" >"w$i.out" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		rc=0
		wait "$i" || rc=$?
		case $rc in
		0) ok=$((ok + 1)) ;;
		"$EXIT_BUSY") busy=$((busy + 1)) ;;
		*) fail "a concurrent add-key exited $rc: $(cat w*.out)" ;;
		esac
	done
	echo "concurrent add-key: $ok completed, $busy turned away (exit 5)"
	[ "$ok" -ge 1 ] || fail "no writer completed"
	expect_eq "$(active_slots img | tr , '\n' | wc -l)" $((ok + 1)) "key slots"
	expect_healthy img
	expect_eq "$(cs_opens img K2)" yes "cryptsetup with the added key"
	expect_data img K2
}

# cryptsetup (as an ordinary user, with its locking on) waits while vmcrypt holds a
# LUKS2 image. cryptsetup 2.6 locks LUKS2 metadata only: on LUKS1 it does not wait.
case_cryptsetup_waits()
{
	local v=$1 cs_pid i rc
	user_dir
	new_image "$v" img
	chown 65534:65534 img
	hold_open img
	as_user cryptsetup luksAddKey -q "${FAST_PBKDF2[@]}" --key-file "$K1" img "$K3" \
		>cs.out 2>&1 &
	cs_pid=$!
	sleep 1
	if [ "$v" = 1 ]; then
		# Pinned so that a cryptsetup that starts locking LUKS1 is noticed.
		! kill -0 "$cs_pid" 2>/dev/null ||
			fail "cryptsetup now waits on LUKS1 too: update docs/FORMAT-NOTES.md"
		wait "$cs_pid" || fail "cryptsetup luksAddKey failed: $(cat cs.out)"
		# vmcrypt sees that the header changed under it and writes nothing (exit 5).
		cat "$K1" >pass.fifo
		rc=0
		wait "$HOLDER" || rc=$?
		expect_eq "$rc" "$EXIT_BUSY" "vmcrypt after cryptsetup changed the LUKS1 header"
		grep -q 'changed since it was read' holder.out ||
			fail "unclear error: $(cat holder.out)"
		expect_eq "$(cs_opens img K3)" yes "cryptsetup's concurrent key survives"
		expect_eq "$(cs_opens img K1)" yes "K1 after the unlocked LUKS1 race"
		expect_eq "$(cs_opens img K2)" no "vmcrypt wrote nothing"
		expect_healthy img
		return 0
	fi
	# cryptsetup blocks in flock() on the image.
	kill -0 "$cs_pid" 2>/dev/null ||
		fail "cryptsetup did not wait for vmcrypt's lock: $(cat cs.out)"
	[ "$(active_slots img)" = 0 ] || fail "the header changed while vmcrypt held it"
	release_hold
	for i in $(seq 100); do
		kill -0 "$cs_pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$cs_pid" || fail "cryptsetup luksAddKey failed: $(cat cs.out)"
	# vmcrypt wrote first (slot 1), cryptsetup after it (slot 2).
	expect_keys img "K1=0 K2=1 K3=2"
	expect_healthy img
}

# vmcrypt turns away at once while cryptsetup's lock (or any flock) is held.
case_flock_holder()
{
	local v=$1 holder rc=0
	user_dir
	new_image "$v" img
	chown 65534:65534 img
	as_user flock -x img sleep 5 &
	holder=$!
	wait_locked img
	expect_unchanged img as_user "$VMCRYPT" add-key "${FAST_PBKDF2[@]}" --key-file "$K1" \
		img "$K2" || rc=$?
	expect_eq "$rc" "$EXIT_BUSY" "add-key while flock -x holds the image"
	wait "$holder"
	add_key img K1 K2
	expect_keys img "K1=0 K2=1"
}

for v in 1 2; do
	run_case "two vmcrypt writers LUKS$v" case_two_writers "$v"
	run_case "six concurrent add-key LUKS$v" case_concurrent_writers "$v"
	run_case "cryptsetup waits for vmcrypt (LUKS2 only) LUKS$v" case_cryptsetup_waits "$v"
	run_case "vmcrypt refuses while flock -x holds LUKS$v" case_flock_holder "$v"
done
finish
