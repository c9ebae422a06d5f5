#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A full disk during a re-encryption fails cleanly and resumes once space is freed:
#  - VMCRYPT_FAULT=enospc:N (the Nth write and all later ones fail with ENOSPC) at
#    points spread over a rekey (checksum and journal) and over in-place runs: exit
#    status 8 with one error line, and after a resume without the fault (or a new
#    run, when nothing was recorded yet) the plaintext is unchanged and the new key
#    in force;
#  - a real full file system: the image on a small tmpfs (mounted here; skipped when
#    mount is not allowed). A rekey writes in place, but into the holes of the sparse
#    keyslots area (new keyslots, checksums, journal), so a tmpfs sized to the image's
#    allocated blocks fills up. After the tmpfs is grown, --resume finishes.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

rekey_run()
{
	cp base.img t.img
	rk t.img --key-file "$OLD" --new-key-file "$NEW" --hotzone-size "$RK_HOTZONE" "$@"
}

# After a failed run: resume it, or run it again when it had not started.
resume_or_rerun()
{
	local rc=0
	rk t.img --resume --key-file "$NEW" >resume.out 2>&1 || rc=$?
	case $rc in
	0) echo resumed ;;
	"$EXIT_NOTLUKS")
		grep -q 'no unfinished re-encryption' resume.out || fail "resume: $(cat resume.out)"
		if [ "$(plain_of t.img "$OLD")" = "$PLAIN_SHA" ]; then
			expect_exit 0 rk t.img --key-file "$OLD" --new-key-file "$NEW"
			echo "run again"
		else
			echo "already done"
		fi
		;;
	*) fail "resume after ENOSPC: exit $rc: $(cat resume.out)" ;;
	esac
}

case_enospc_fault()
{
	local mode=$1 total n rc how
	new_image base.img
	OLD_VK=$(volume_key base.img "$OLD")
	total=$(count_writes rekey_run --resilience "$mode")
	for n in $(fault_points "$total" 12); do
		rc=0
		VMCRYPT_FAULT=enospc:$n rekey_run --resilience "$mode" >run.out 2>&1 || rc=$?
		expect_eq "$rc" "$EXIT_IO" "enospc:$n: exit status"
		expect_eq "$(wc -l <run.out)" 1 "enospc:$n: error lines ($(cat run.out))"
		grep -q 'No space left on device' run.out || fail "enospc:$n: $(cat run.out)"
		how=$(resume_or_rerun)
		expect_rekeyed t.img "$OLD_VK" "enospc:$n ($how)"
		echo "enospc:$n: $(cat run.out) -> $how"
	done
}

case_enospc_tmpfs()
{
	local mode=$1 used rc
	mkdir mnt
	mount -t tmpfs -o size=64M,mode=0755 tmpfs mnt 2>mount.err ||
		{ echo "SKIP: cannot mount a tmpfs here: $(cat mount.err)"; return 0; }
	# shellcheck disable=SC2064 # the path is fixed now
	trap "umount '$PWD/mnt' 2>/dev/null || true" EXIT
	new_image mnt/t.img
	OLD_VK=$(volume_key mnt/t.img "$OLD")
	used=$(du -k mnt/t.img | cut -f1)
	# Room for the image and a little more: the new keyslots fit, the run does not.
	mount -o remount,size=$((used + 600))k mnt
	rc=0
	rk mnt/t.img --key-file "$OLD" --new-key-file "$NEW" --resilience "$mode" \
		--hotzone-size 1M >run.out 2>&1 || rc=$?
	echo "$mode rekey on a full tmpfs: exit $rc: $(cat run.out)"
	expect_eq "$rc" "$EXIT_IO" "exit status on a full file system"
	expect_eq "$(wc -l <run.out)" 1 "error lines"
	grep -q 'No space left on device' run.out || fail "message: $(cat run.out)"
	# Space freed: the same rekey resumes (or starts) and finishes.
	mount -o remount,size=64M mnt
	cd mnt
	resume_or_rerun
	expect_rekeyed t.img "$OLD_VK" "full tmpfs ($mode), then resumed"
	cd ..
	umount mnt
	trap - EXIT
}

run_case "ENOSPC injected over a checksum rekey" case_enospc_fault checksum
run_case "ENOSPC injected over a journal rekey" case_enospc_fault journal
if [ "$(id -u)" -eq 0 ]; then
	run_case "a full tmpfs during a journal rekey, then resumed" case_enospc_tmpfs journal
	run_case "a full tmpfs during a checksum rekey, then resumed" case_enospc_tmpfs checksum
else
	echo "SKIP: full tmpfs: mounting needs root"
fi
finish
