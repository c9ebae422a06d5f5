#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs the dependencies (when root) and builds vmcrypt into build/ (BUILD_DIR overrides).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}

if [ "$(id -u)" -eq 0 ]; then
	"$top/scripts/install-deps.sh"
fi
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$top" ${MESON_ARGS:-}
fi
ninja -C "$build"
