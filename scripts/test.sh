#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's test command: installs dependencies, builds, prepares the dm-crypt guest, runs every test.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}

"$top/scripts/build.sh"
if [ -x "$top/tests/vm/setup.sh" ]; then
	# Downloads the Debian kernel for the dm-crypt guest; the VM tests skip (with the reason) if this fails.
	"$top/tests/vm/setup.sh" || echo "test.sh: dm-crypt guest setup failed; VM tests will be skipped"
fi
status=0
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || status=$?
logs=("$build/meson-logs/testlog.json")
# After a full run, the hardening stages (SECURITY.md): the ASan+UBSan suites, the
# fuzzers, valgrind, and the passphrase search of all output. VMCRYPT_HARDENING=0
# skips them, =1 runs them after a partial run too.
hardening=${VMCRYPT_HARDENING:-1}
[ $# -eq 0 ] || hardening=${VMCRYPT_HARDENING:-0}
if [ "$hardening" = 1 ]; then
	BUILD_DIR=$build "$top/scripts/ci-hardening.sh" || status=1
	logs+=("asan=$top/build-asan/meson-logs/asan.json" "$build/meson-logs/fuzz.json"
		"valgrind=$build/meson-logs/valgrind.json" "$build/meson-logs/ci-hardening.json")
fi
# One line over everything: N passed, N failed, N skipped.
python3 "$top/scripts/test-summary.py" "${logs[@]}" || status=1
exit $status
