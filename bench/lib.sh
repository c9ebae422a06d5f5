#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What the bench scripts share, sourced after they set `top`: the vmcrypt binary, the
# scratch directory, tool checks, medians, ratios and timings whose output is synced to
# disk inside the timing.
# shellcheck disable=SC2034 # vmcrypt and dir are used by the scripts that source this
vmcrypt=${VMCRYPT:-$top/build/cli/vmcrypt}

# bench_dir: $dir, BENCH_DIR or a new directory in /var/tmp (a real disk, not a tmpfs),
# removed at exit.
bench_dir()
{
	dir=${BENCH_DIR:-$(mktemp -d /var/tmp/vmcrypt-bench.XXXXXX)}
	trap 'rm -rf "$dir"' EXIT
}

# need_tools TOOL...: each is on PATH (or an executable path), else a one-line error.
need_tools()
{
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null ||
			{ echo "bench: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
	done
}

# median: of the numbers on stdin, one per line.
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

# median_col FILE COLUMN: the median of a column of FILE.
median_col() { awk -v c="$2" '{print $c}' "$1" | median; }

# ratio A B [DECIMALS]: A / B (2 decimals by default), "-" when B is 0.
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b > 0) printf "%.*f", d, a / b; else print "-" }'; }

# rate "SECONDS...": the median MiB/s of $size_mib MiB over a list of seconds.
rate() { awk -v s="${size_mib:?}" -v t="$(tr ' ' '\n' <<<"$1" | grep . | median)" 'BEGIN {printf "%.0f", s / t}'; }

# retry CMD...: up to 8 tries (qemu-img's PBKDF benchmark sometimes fails here: "Unable to
# get accurate CPU usage").
retry() { for _ in 1 2 3 4 5 6 7 8; do "$@" 2>/dev/null && return 0; done; return 1; }

# timed OUT CMD...: the seconds CMD takes, OUT made durable (fdatasync) inside the timing.
timed()
{
	local out=$1 t0 t1
	shift
	sync
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>&1
	sync -d "$out"
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}

# time_v NAME FILE CMD...: CMD under /usr/bin/time -v (its report in time.out, CMD's
# output in cmd.out), then an fdatasync of FILE inside the timing; exits on failure.
time_v()
{
	local name=$1 file=$2
	shift 2
	# shellcheck disable=SC2016 # expanded by the inner shell
	/usr/bin/time -v -o time.out sh -c 'f=$1; shift; "$@" >cmd.out 2>&1 && sync -d "$f"' sh "$file" "$@" ||
		{ cat cmd.out time.out >&2; echo "bench: $name failed" >&2; exit 1; }
}

# time_v_fields: "seconds cpu_seconds max_rss_kib" from time.out.
time_v_fields()
{
	awk -F': ' '
		/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
		/User time/ { u = $2 } /System time/ { y = $2 } /Maximum resident/ { m = $2 }
		END { printf "%.3f %.2f %d\n", s, u + y, m }' time.out
}
