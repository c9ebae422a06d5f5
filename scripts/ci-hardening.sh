#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck disable=SC2317 # the stage functions are called through stage()
# The hardening stages scripts/test.sh runs after the main suite (SECURITY.md):
#   1. an ASan+UBSan build (build-asan/) running the fast suites: unit, vectors,
#      integration, keyslots, fuzz (corpus replay), badinput;
#   2. every libFuzzer harness for FUZZ_SECONDS (default 30) each (scripts/fuzz.sh,
#      build-fuzz/, clang), failing on any crash;
#   3. the unit tests under valgrind (memcheck, leaks);
#   4. everything the test runs printed (build*/meson-logs) searched for the test
#      passphrases (tests/secrets/grep-logs.sh).
# Each stage is timed. Results go to meson-style JSON logs that test-summary.py
# aggregates: build-asan/meson-logs/asan.json, BUILD/meson-logs/valgrind.json,
# BUILD/meson-logs/fuzz.json and BUILD/meson-logs/ci-hardening.json (one entry per
# stage). Exit 1 if anything failed. BUILD is BUILD_DIR or build/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
asan=${ASAN_BUILD_DIR:-$top/build-asan}
fuzz=${FUZZ_BUILD_DIR:-$top/build-fuzz}
stages=$build/meson-logs/ci-hardening.json
mkdir -p "$build/meson-logs"
: >"$stages"
# No result of an earlier run may stand in for a stage that fails to run now.
rm -f "$asan/meson-logs/asan.json" "$build/meson-logs/valgrind.json" "$build/meson-logs/fuzz.json"
status=0

# stage NAME CMD...: runs a stage, times it, records OK or FAIL.
stage()
{
	local name=$1 start rc=0 res=OK
	shift
	start=$SECONDS
	echo "=== ci: $name"
	"$@" || rc=$?
	[ "$rc" -eq 0 ] || { res=FAIL; status=1; }
	echo "=== ci: $name: $res in $((SECONDS - start)) s"
	python3 -c 'import json, sys
print(json.dumps({"name": "ci / " + sys.argv[1], "result": sys.argv[2],
                  "stdout": "%s s" % sys.argv[3]}))' "$name" "$res" "$((SECONDS - start))" >>"$stages"
}

asan_build()
{
	if [ ! -f "$asan/build.ninja" ]; then
		meson setup "$asan" "$top" -Db_sanitize=address,undefined -Db_lundef=false \
			-Dvm_tests=false -Dwerror=true >/dev/null
	fi
	ninja -C "$asan" >/dev/null
}

asan_tests()
{
	# Meson sets halt_on_error and abort_on_error for both sanitizers when unset: any
	# report aborts the program, and the test (or the bad-input attempt) fails.
	meson test -C "$asan" --print-errorlogs --num-processes 2 --logbase asan \
		--suite unit --suite vectors --suite integration --suite keyslots --suite fuzz \
		--suite badinput
}

valgrind_tests()
{
	local rc=0
	meson test -C "$build" --print-errorlogs --num-processes 2 --logbase valgrind --suite unit \
		--wrap='valgrind --error-exitcode=1 --leak-check=full --quiet' --timeout-multiplier 10 ||
		rc=$?
	# meson names a wrapped run's log after the wrapper too (valgrind-valgrind.json).
	mv -f "$build/meson-logs/valgrind-valgrind.json" "$build/meson-logs/valgrind.json" || rc=1
	return "$rc"
}

passphrase_grep()
{
	local dirs=()
	for d in "$top"/build*/meson-logs "$build/meson-logs"; do
		[ -d "$d" ] && dirs+=("$d")
	done
	"$top/tests/secrets/grep-logs.sh" "${dirs[@]}"
}

stage "ASan+UBSan build" asan_build
if [ -f "$asan/build.ninja" ]; then
	stage "ASan+UBSan: unit vectors integration keyslots fuzz badinput" asan_tests
fi
stage "fuzzers, ${FUZZ_SECONDS:-30} s each" "$top/scripts/fuzz.sh" -t "${FUZZ_SECONDS:-30}" \
	-b "$fuzz" -j "$build/meson-logs/fuzz.json"
if command -v valgrind >/dev/null; then
	stage "valgrind: unit" valgrind_tests
else
	stage "valgrind: unit (valgrind is not installed)" false
fi
stage "no passphrase in any test output" passphrase_grep
exit $status
