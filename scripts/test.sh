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
python3 "$top/scripts/test-summary.py" "$build/meson-logs/testlog.json"
exit $status
