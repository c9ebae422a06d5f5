# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared by the image tests (sourced): exit statuses in meson's sense, timed messages.

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	exit 1
}
t_start=$(date +%s)
say() {
	echo "== [$(($(date +%s) - t_start)) s] $*"
}
