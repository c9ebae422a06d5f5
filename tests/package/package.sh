#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What an installation delivers (issue 17, "Package"):
#   package.sh install   meson install --destdir of the build: the binary, libvmcrypt.so with
#                        its versioned SONAME, the header, a vmcrypt.pc a program compiles
#                        and links with, the man page, the bash completion (loaded and
#                        driven), the nbdkit plugin in nbdkit's plugindir, the systemd
#                        user units (their ExecStart the installed vmcrypt); nothing else.
#   package.sh deb       dpkg-buildpackage -us -uc -b of a copy of the source tree: the four
#                        .debs and their contents (dpkg-deb -c, never installed), lintian
#                        without an E: line. VMCRYPT_TEST_DEB=0 skips it.
# Environment: VMCRYPT, BUILD_ROOT and SOURCE_ROOT (meson's), MESON (the meson to run).
# shellcheck source-path=SCRIPTDIR source=../integration/functions.sh
. "$(dirname "$0")/../integration/functions.sh"

BUILD_ROOT=$(cd "${BUILD_ROOT:?BUILD_ROOT must name the meson build directory}" && pwd)
SOURCE_ROOT=$(cd "${SOURCE_ROOT:?SOURCE_ROOT must name the source tree}" && pwd)
MESON=${MESON:-meson}

# contains FILE STRING WHAT: FILE has the fixed string, else fail naming WHAT.
contains()
{
	grep -qF -- "$2" "$1" || fail "$3: '$2' not in $(basename "$1"): $(head -c 2000 "$1")"
}

# complete_words WORD...: COMPREPLY of the installed completion for the command line
# WORD... (the last word is the one completed), one per line, sorted.
complete_words()
{
	PATH="$BIN:$PATH" LD_LIBRARY_PATH="$LIBDIR" bash -c '
		set -u
		. "$1"
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_vmcrypt
		printf "%s\n" "${COMPREPLY[@]}" | sort' bash "$COMPLETION" "$@"
}

# expect_completion WANT WORD...: the completion of WORD... is exactly WANT (space-separated).
expect_completion()
{
	local want=$1 got
	shift
	got=$(complete_words "$@" | paste -sd' ')
	[ "$got" = "$want" ] || fail "completing '$*': got '$got', want '$want'"
	echo "ok: completing '$*' gives '$got'"
}

case_install()
{
	local dest=$PWD/dest opts prefix version libdir_rel bindir includedir mandir datadir
	local pc_dir want got compdir unitdir plugindir=""
	"$MESON" install -C "$BUILD_ROOT" --destdir "$dest" --quiet >install.log 2>&1 ||
		fail "meson install: $(tail -20 install.log)"

	"$MESON" introspect "$BUILD_ROOT" --buildoptions >options.json
	opts=$("$PYTHON" -S -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(open(sys.argv[1]))}
print(o["prefix"], o["bindir"], o["libdir"], o["includedir"], o["mandir"], o["datadir"])' options.json)
	read -r prefix bindir libdir_rel includedir mandir datadir <<<"$opts"
	version=$("$MESON" introspect "$BUILD_ROOT" --projectinfo |
		"$PYTHON" -S -c 'import json, sys; print(json.load(sys.stdin)["version"])')
	# Options may be absolute or relative to the prefix.
	abs() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
	BIN=$dest$(abs "$bindir") LIBDIR=$dest$(abs "$libdir_rel")
	pc_dir=$LIBDIR/pkgconfig

	# Every file meant to be installed, and no other.
	want=(
		"$(abs "$bindir")/vmcrypt"
		"$(abs "$includedir")/vmcrypt.h"
		"$(abs "$libdir_rel")/libvmcrypt.so"
		"$(abs "$libdir_rel")/libvmcrypt.so.0"
		"$(abs "$libdir_rel")/libvmcrypt.so.$version"
		"$(abs "$libdir_rel")/pkgconfig/vmcrypt.pc"
	)
	if command -v scdoc >/dev/null; then
		want+=("$(abs "$mandir")/man1/vmcrypt.1")
	else
		echo "note: scdoc is not installed, so no man page is built or checked"
	fi
	if pkg-config --exists bash-completion; then
		compdir=$(pkg-config --define-variable=datadir="$(abs "$datadir")" \
			--variable=completionsdir bash-completion)
	else
		compdir=$(abs "$datadir")/bash-completion/completions
	fi
	want+=("$compdir/vmcrypt")
	COMPLETION=$dest$compdir/vmcrypt
	if pkg-config --exists systemd; then
		unitdir=$(pkg-config --define-variable=prefix="$prefix" --variable=systemduserunitdir systemd)
	else
		unitdir=$prefix/lib/systemd/user
	fi
	want+=("$unitdir/vmcrypt-serve@.service" "$unitdir/vmcrypt-serve@.socket")
	if pkg-config --exists nbdkit && [ -e "$BUILD_ROOT/nbdkit/nbdkit-vmcrypt-plugin.so" ]; then
		plugindir=$(pkg-config --variable=plugindir nbdkit)
		want+=("$plugindir/nbdkit-vmcrypt-plugin.so")
	else
		echo "note: the nbdkit plugin is not built here, so not checked"
	fi
	printf '%s\n' "${want[@]}" | sort >want.txt
	(cd "$dest" && find . ! -type d | sed 's/^\.//' | sort) >got.txt
	diff -u want.txt got.txt || fail "installed files differ from the list above (- missing, + extra)"
	echo "ok: installed exactly: $(paste -sd' ' want.txt)"

	# The library: versioned SONAME, the development link and the runtime link.
	readelf -d "$LIBDIR/libvmcrypt.so.$version" >dynamic.txt
	contains dynamic.txt "Library soname: [libvmcrypt.so.0]" "SONAME"
	[ "$(readlink "$LIBDIR/libvmcrypt.so")" = libvmcrypt.so.0 ] || fail "libvmcrypt.so -> $(readlink "$LIBDIR/libvmcrypt.so")"
	[ "$(readlink "$LIBDIR/libvmcrypt.so.0")" = "libvmcrypt.so.$version" ] ||
		fail "libvmcrypt.so.0 -> $(readlink "$LIBDIR/libvmcrypt.so.0")"
	echo "ok: SONAME libvmcrypt.so.0, links libvmcrypt.so -> .so.0 -> .so.$version"

	# The binary runs from the installed library alone, with no path into the build tree.
	got=$(LD_LIBRARY_PATH="$LIBDIR" "$BIN/vmcrypt" --version)
	[ "$got" = "vmcrypt $version" ] || fail "installed vmcrypt --version: '$got'"
	LD_LIBRARY_PATH="$LIBDIR" ldd "$BIN/vmcrypt" >ldd.txt
	contains ldd.txt "libvmcrypt.so.0 => $LIBDIR/libvmcrypt.so.0" "the installed binary's library"
	for f in "$BIN/vmcrypt" "$LIBDIR/libvmcrypt.so.$version"; do
		! readelf -d "$f" | grep -E 'R(UN)?PATH' | grep -qF "$BUILD_ROOT" ||
			fail "$f keeps a run path into the build tree"
	done
	echo "ok: installed vmcrypt --version is '$got', linked to the installed library"

	# vmcrypt.pc, its prefix moved into the destination directory (a copy: the file
	# installed stays as it is; --define-variable would move its dependencies' too).
	mkdir pc
	sed "s|^prefix=.*|prefix=$dest$prefix|" "$pc_dir/vmcrypt.pc" >pc/vmcrypt.pc
	export PKG_CONFIG_PATH=$PWD/pc
	pcf() { pkg-config "$@" vmcrypt; }
	pcf --exists --print-errors || fail "pkg-config cannot use vmcrypt.pc"
	[ "$(pcf --modversion)" = "$version" ] || fail "vmcrypt.pc version $(pcf --modversion)"
	pcf --cflags --libs >pc.txt
	contains pc.txt "-I$dest$(abs "$includedir")" "pkg-config --cflags"
	contains pc.txt "-lvmcrypt" "pkg-config --libs"
	pcf --print-requires-private >requires.txt
	for dep in libcrypto libargon2 json-c blkid libnbd uuid libxml-2.0; do
		contains requires.txt "$dep" "Requires.private"
	done
	pcf --static --libs >/dev/null || fail "pkg-config --static --libs vmcrypt"
	echo "ok: pkg-config: $(cat pc.txt); requires.private: $(paste -sd' ' requires.txt)"

	# A program compiled and linked against the installed header and library only.
	cat >prog.c <<'PROG'
#include <stdio.h>
#include <vmcrypt.h>
int main(void)
{
	void *s = vmc_secret_alloc(64);
	int r = vmc_probe_container("zero.img", NULL, NULL);
	int e = vmc_probe_container("no-such-file.img", NULL, NULL);
	vmc_secret_free(s);
	printf("%d %d %d\n", s != NULL, r, e < 0);
	return 0;
}
PROG
	# shellcheck disable=SC2046 # pkg-config's output is a list of words
	cc -Wall -Werror -o prog prog.c $(pcf --cflags --libs) || fail "compiling against the installed vmcrypt.h"
	truncate -s 1M zero.img
	got=$(LD_LIBRARY_PATH="$LIBDIR" ./prog)
	[ "$got" = "1 0 1" ] || fail "the test program printed '$got', want '1 0 1'"
	LD_LIBRARY_PATH="$LIBDIR" ldd ./prog >ldd.txt
	contains ldd.txt "libvmcrypt.so.0 => $LIBDIR/libvmcrypt.so.0" "the test program's library"
	echo "ok: a program built with pkg-config runs against the installed library"

	# The systemd user units run the installed vmcrypt.
	contains "$dest$unitdir/vmcrypt-serve@.service" "ExecStart=$(abs "$bindir")/vmcrypt serve --systemd %f" \
		"the service unit"
	contains "$dest$unitdir/vmcrypt-serve@.socket" "ListenStream=%t/vmcrypt/%i.sock" "the socket unit"
	echo "ok: systemd user units in $unitdir"

	# The man page.
	if command -v scdoc >/dev/null; then
		contains "$dest$(abs "$mandir")/man1/vmcrypt.1" '.TH "vmcrypt" "1"' "man page"
		echo "ok: man page vmcrypt(1)"
	fi

	# The bash completion: loads, registers itself, completes from the installed vmcrypt.
	bash -c '. "$1" && complete -p vmcrypt' bash "$COMPLETION" >complete.txt ||
		fail "the completion does not load"
	contains complete.txt "complete -F _vmcrypt vmcrypt" "complete -p"
	expect_completion "create" vmcrypt cre
	expect_completion "rekey remove-key repair resize" vmcrypt re
	expect_completion "backup" vmcrypt header b
	expect_completion "export" vmcrypt token e
	expect_completion "--size" vmcrypt create --si
	expect_completion "--header --help" vmcrypt header backup --he
	expect_completion "luks1 luks2" vmcrypt convert --type ""
	expect_completion "luks1 luks2" vmcrypt create --type =
	expect_completion "argon2i argon2id" vmcrypt create --pbkdf = ar
	expect_completion "--help --version" vmcrypt -
	expect_completion "token" vmcrypt help tok
	expect_completion "zero.img" vmcrypt dump zer
	expect_completion "" vmcrypt dump zero.img@
	if command -v sfdisk >/dev/null && command -v partx >/dev/null; then
		truncate -s 12M gpt.img
		printf 'label: gpt\nsize=4M\nsize=4M\n' | sfdisk -q gpt.img
		expect_completion "gpt.img@1 gpt.img@2" vmcrypt rekey gpt.img@
		expect_completion "gpt.img@2" vmcrypt dump --key-file - gpt.img@2
	fi
}

# deb_expect DEB PATH...: dpkg-deb -c of DEB lists each PATH.
deb_expect()
{
	local deb=$1 p
	shift
	dpkg-deb -c "$deb" | awk '{print $6}' | sed 's/^\.//' >contents.txt
	for p in "$@"; do
		grep -qxF -- "$p" contents.txt || fail "$(basename "$deb") lacks $p: $(paste -sd' ' contents.txt)"
	done
	echo "ok: $(basename "$deb"): $*"
}

case_deb()
{
	local src=$PWD/src version arch ma deb f
	mkdir "$src"
	# The working tree as it is (tracked and new files, not the ignored build trees).
	if git -C "$SOURCE_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$SOURCE_ROOT" ls-files -z -c -o --exclude-standard |
			(cd "$SOURCE_ROOT" && while IFS= read -r -d '' f; do
				[ -e "$f" ] && printf '%s\0' "$f"
			done) | tar -C "$SOURCE_ROOT" --null -T - -cf - | tar -C "$src" -xf -
	else
		tar -C "$SOURCE_ROOT" --exclude='./build*' --exclude=./obj-\* -cf - . | tar -C "$src" -xf -
	fi
	cd "$src"
	version=$(dpkg-parsechangelog -S Version)
	arch=$(dpkg --print-architecture)
	ma=$(dpkg-architecture -q DEB_HOST_MULTIARCH)
	# Exit 77 from here would count as a failed case: the missing packages say why.
	dpkg-checkbuilddeps || fail "build dependencies missing (scripts/install-deps.sh installs them)"
	dpkg-buildpackage -us -uc -b >../build.log 2>&1 || fail "dpkg-buildpackage: $(tail -40 ../build.log)"
	cd ..
	echo "ok: dpkg-buildpackage -us -uc -b built:" ./*.deb

	deb_expect "vmcrypt_${version}_$arch.deb" /usr/bin/vmcrypt /usr/share/man/man1/vmcrypt.1.gz \
		/usr/share/bash-completion/completions/vmcrypt /usr/share/doc/vmcrypt/copyright \
		/usr/lib/systemd/user/vmcrypt-serve@.service /usr/lib/systemd/user/vmcrypt-serve@.socket
	deb_expect "libvmcrypt0_${version}_$arch.deb" "/usr/lib/$ma/libvmcrypt.so.0" \
		"/usr/lib/$ma/libvmcrypt.so.${version%-*}"
	deb_expect "libvmcrypt-dev_${version}_$arch.deb" /usr/include/vmcrypt.h \
		"/usr/lib/$ma/libvmcrypt.so" "/usr/lib/$ma/pkgconfig/vmcrypt.pc"
	deb_expect "nbdkit-plugin-vmcrypt_${version}_$arch.deb" \
		"/usr/lib/$ma/nbdkit/plugins/nbdkit-vmcrypt-plugin.so"
	dpkg-deb -f "vmcrypt_${version}_$arch.deb" Depends | grep -q 'libvmcrypt0 (>= ' ||
		fail "vmcrypt does not depend on a versioned libvmcrypt0"
	dpkg-deb -f "libvmcrypt-dev_${version}_$arch.deb" Depends | grep -qF "libvmcrypt0 (= $version)" ||
		fail "libvmcrypt-dev does not depend on libvmcrypt0 (= $version)"
	echo "ok: dependencies between the packages"

	if command -v lintian >/dev/null; then
		# lintian's own exit status depends on its profile; the E: lines are what counts.
		for deb in ./*.deb; do
			case $deb in *-dbgsym_*) ;; *) printf '%s\n' "$deb" ;; esac
		done >debs.txt
		mapfile -t debs <debs.txt
		lintian "${debs[@]}" >lintian.txt 2>&1 || true
		cat lintian.txt
		! grep -q '^E:' lintian.txt || fail "lintian reports errors"
		echo "ok: lintian: no errors ($(grep -c '^W:' lintian.txt || true) warnings)"
	else
		echo "note: lintian is not installed, so not run"
	fi
}

case ${1:-} in
install)
	requires "$MESON"
	requires pkg-config
	requires cc
	requires readelf
	run_case install case_install
	;;
deb)
	[ "${VMCRYPT_TEST_DEB:-1}" != 0 ] || skip "VMCRYPT_TEST_DEB=0"
	requires dpkg-buildpackage
	requires dpkg-checkbuilddeps
	requires dpkg-deb
	[ -f "$SOURCE_ROOT/debian/control" ] || skip "no debian/ in $SOURCE_ROOT"
	run_case deb case_deb
	;;
*)
	echo "usage: $0 install|deb" >&2
	exit 1
	;;
esac
finish
