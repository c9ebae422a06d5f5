#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The hardening flags of meson.build reached the binaries: the vmcrypt CLI is a PIE,
# both it and libvmcrypt.so have full RELRO (GNU_RELRO and BIND_NOW), call the stack
# protector and use fortified libc calls (_FORTIFY_SOURCE).
#   elf-hardening.sh FILE...
set -euo pipefail
command -v readelf >/dev/null || { echo "SKIP: readelf is not installed"; exit 77; }
[ $# -gt 0 ] || { echo "usage: $0 ELF..." >&2; exit 1; }
bad=0
check()
{
	local file=$1 what=$2
	shift 2
	if "$@"; then
		echo "ok: $(basename "$file"): $what"
	else
		echo "FAIL: $(basename "$file"): $what"
		bad=1
	fi
}
for f in "$@"; do
	hdr=$(readelf -h "$f")
	dyn=$(readelf -d "$f")
	seg=$(readelf -lW "$f")
	syms=$(readelf --dyn-syms -W "$f")
	check "$f" "position independent (ELF type DYN)" grep -q 'Type:.*DYN' <<<"$hdr"
	case $f in
	*.so*) ;;
	*) check "$f" "PIE flag" grep -q 'FLAGS_1.*PIE' <<<"$dyn" ;;
	esac
	check "$f" "GNU_RELRO segment" grep -q 'GNU_RELRO' <<<"$seg"
	check "$f" "BIND_NOW (full RELRO)" grep -qE 'BIND_NOW|FLAGS.*NOW' <<<"$dyn"
	check "$f" "stack protector (__stack_chk_fail)" grep -q '__stack_chk_fail' <<<"$syms"
	check "$f" "fortified calls (__*_chk)" grep -qE ' __[a-z0-9_]+_chk(@|$)' <<<"$syms"
	check "$f" "no executable stack" grep -qE 'GNU_STACK.*RW ' <<<"$seg"
done
exit $bad
