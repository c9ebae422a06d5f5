#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs every libFuzzer harness (tests/fuzz) for a bounded time and fails on any crash.
#
#   scripts/fuzz.sh [-t SECONDS] [-b BUILD_DIR] [-j RESULTS.json] [HARNESS...]
#
# -t  seconds per harness (default 60; FUZZ_SECONDS overrides too); a long run is
#     simply a larger value, e.g. -t 3600.
# -b  the clang fuzz build (default build-fuzz/, set up here when missing with
#     CC=clang meson setup BUILD -Dfuzz=true -Db_lundef=false).
# -j  also write one JSON line per harness (name, result, stdout: meson's test log
#     format) for scripts/test-summary.py.
# Each harness starts from the checked-in seeds plus what earlier runs in the same
# build directory found (BUILD/fuzz-corpus/NAME). A crash, leak, sanitizer report or
# timeout leaves its input in BUILD/fuzz-artifacts/ and makes the script fail;
# reproduce with `BUILD/tests/fuzz/fuzz-NAME FILE`, then save it under
# tests/fuzz/crashes/NAME/ so the regression runner replays it forever.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build-fuzz
secs=${FUZZ_SECONDS:-60}
results=
while getopts "t:b:j:" opt; do
	case $opt in
	t) secs=$OPTARG ;;
	b) build=$OPTARG ;;
	j) results=$OPTARG ;;
	*) echo "usage: $0 [-t SECONDS] [-b BUILD_DIR] [-j RESULTS.json] [HARNESS...]" >&2; exit 1 ;;
	esac
done
shift $((OPTIND - 1))
build=$(realpath -m "$build")

if ! command -v clang >/dev/null; then
	echo "fuzz.sh: clang is not installed (scripts/install-deps.sh installs it)" >&2
	exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$top" -Dfuzz=true -Db_lundef=false >/dev/null
fi
ninja -C "$build" >/dev/null

harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
	for d in "$top"/tests/fuzz/corpus/*/; do
		harnesses+=("$(basename "$d")")
	done
fi

mkdir -p "$build/fuzz-artifacts"
[ -z "$results" ] || : >"$results"
# record NAME OK|FAIL LINE: a test-log entry for the summary.
record()
{
	[ -n "$results" ] || return 0
	python3 -c 'import json, sys
print(json.dumps({"name": "fuzz / " + sys.argv[1], "result": sys.argv[2], "stdout": sys.argv[3]}))' \
		"$1" "$2" "$3" >>"$results"
}
failed=() total=0
for h in "${harnesses[@]}"; do
	bin=$build/tests/fuzz/fuzz-$h
	if [ ! -x "$bin" ]; then
		echo "fuzz.sh: no harness $bin" >&2
		failed+=("$h")
		record "$h" FAIL "no harness $bin"
		continue
	fi
	work=$build/fuzz-corpus/$h
	log=$build/fuzz-artifacts/$h.log
	mkdir -p "$work"
	rm -f "$build/fuzz-artifacts/$h"-*
	rc=0
	# -timeout: one input taking longer is a bug (capped KDFs keep inputs fast);
	# -rss_limit_mb: a header must not make us allocate without bound.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
		"$bin" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2560 \
		-print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$h-" \
		"$work" "$top/tests/fuzz/corpus/$h" >"$log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	corp=$(find "$work" -type f | wc -l)
	artifacts=$(find "$build/fuzz-artifacts" -name "$h-*" -type f | wc -l)
	total=$((total + ${runs:-0}))
	if [ "$rc" -ne 0 ] || [ "$artifacts" -ne 0 ]; then
		line="fuzz $h: FAILED (exit $rc) after ${runs:-?} executions; log $log"
		echo "$line"
		grep -E 'ERROR|SUMMARY|^    #[0-9]' "$log" | head -25 || true
		find "$build/fuzz-artifacts" -name "$h-*" -type f -printf '  input: %p\n'
		failed+=("$h")
		record "$h" FAIL "$line"
	else
		line="fuzz $h: ${runs:-0} executions in ${took:-$secs} s, coverage ${cov:-?} edges, corpus $corp, 0 crashes"
		echo "$line"
		record "$h" OK "$line"
	fi
done
echo "fuzz: ${#harnesses[@]} harnesses, $total executions, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
