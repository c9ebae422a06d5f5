# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# The bad-input matrix's shared checks, on top of tests/integration/functions.sh.
#
# attempt "CODES" FILE WHAT CMD...
#   runs CMD once with a bad input and requires: an exit status among CODES (the
#   documented ones, README "Exit status"), no crash (no status >= 128, no sanitizer
#   report), on failure exactly one error line on stderr (warnings aside) naming what
#   went wrong, and FILE's bytes unchanged (sha256). Each attempt is counted; a failed
#   attempt is reported and recorded, and the matrix goes on (finish_matrix fails then),
#   so one run shows every deviation.
BADINPUT_DIR=${BADINPUT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
# shellcheck source-path=SCRIPTDIR source=../integration/functions.sh
. "${SRCDIR:?SRCDIR must name tests/integration}/functions.sh"
requires "$PYTHON"
requires test -x "$VMCRYPT"

COUNT_FILE=$TMPDIR_TEST/attempts
BAD_FILE=$TMPDIR_TEST/failed-attempts
: >"$COUNT_FILE"
: >"$BAD_FILE"

hdrtool()
{
	"$PYTHON" -S "$BADINPUT_DIR/hdrtool.py" "$@"
}

# bad WHAT MSG: records a failed attempt.
bad()
{
	echo "FAIL: $1: $2" | tee -a "$BAD_FILE" >&2
}

attempt()
{
	local codes=$1 file=$2 what=$3 rc=0 before after c ok=0 errs
	shift 3
	before=$(sha256 "$file")
	"$@" >a.out 2>a.err </dev/null || rc=$?
	after=$(sha256 "$file")
	echo "$rc $what" >>"$COUNT_FILE"
	if [ "$rc" -ge 128 ] || grep -qE 'Sanitizer|runtime error:|Segmentation|Aborted' a.err; then
		head -c 3000 a.err >&2
		bad "$what" "CRASH (exit $rc): $*"
		return 0
	fi
	for c in $codes; do [ "$rc" -eq "$c" ] && ok=1; done
	if [ "$ok" = 0 ]; then
		head -c 1500 a.err >&2
		bad "$what" "exit $rc, expected one of: $codes ($*)"
	fi
	if [ "$before" != "$after" ]; then
		bad "$what" "$file changed (exit $rc): $*"
	fi
	if [ "$rc" -ne 0 ]; then
		errs=$(grep -v 'warning:' a.err | grep -c . || true)
		if [ "$errs" -ne 1 ]; then
			sed 's/^/    | /' a.err >&2
			bad "$what" "exit $rc with $errs error lines on stderr instead of one"
		fi
		echo "  exit $rc  $what: $(grep -v 'warning:' a.err | head -1 | cut -c1-160)"
	else
		echo "  exit 0  $what"
	fi
}

# The read-only verbs on IMG, each an attempt with CODES.
read_verbs()
{
	local codes=$1 img=$2 what=$3
	attempt "$codes" "$img" "$what: dump" vmc dump "$img"
	attempt "$codes" "$img" "$what: dump --json" vmc dump --json "$img"
	attempt "$codes" "$img" "$what: test-key" vmc test-key "$img" --key-file "$PASS"
	rm -f out.raw
	attempt "$codes" "$img" "$what: decrypt" vmc decrypt "$img" out.raw --key-file "$PASS"
	rm -f out.raw
}

finish_matrix()
{
	local n
	n=$(wc -l <"$COUNT_FILE")
	echo "$TEST_NAME: $n bad inputs tried ($(cut -d' ' -f1 "$COUNT_FILE" | sort -n | uniq -c |
		awk '{printf "%sexit %s: %s", (NR>1?", ":""), $2, $1}')), $(wc -l <"$BAD_FILE") failed"
	if [ -s "$BAD_FILE" ]; then
		FAILED_CASES+=("$(wc -l <"$BAD_FILE") attempts (above)")
	fi
	finish
}

# Images made by cryptsetup (the peer users have), small and fast to open.
cs_luks2()
{
	truncate -s 20M "$1"
	cs luksFormat --batch-mode --type luks2 "${FAST_PBKDF2[@]}" --key-file "$PASS" "${@:2}" "$1"
}

cs_luks1()
{
	truncate -s 4M "$1"
	cs luksFormat --batch-mode --type luks1 "${FAST_PBKDF2[@]}" --key-file "$PASS" "${@:2}" "$1"
}
