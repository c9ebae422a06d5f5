#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Prepare the dm-crypt guest: a Debian kernel with its modules, and a small initramfs.
#
# Usage: tests/vm/setup.sh [--quiet] [--refresh]
#
# Idempotent and quick once cached. On success prints, on stdout, lines
#   kver=6.1.0-NN-amd64
#   kernel=/path/to/vmlinux (or vmlinuz)
#   initramfs=/path/to/initramfs.cpio
#   root=/path/to/the/unpacked/package   (for modprobe -d ROOT -S KVER; has lib/modules/KVER)
# Exit status: 0 ready, 77 something the host lacks (reason on stderr), 1 other failure.
#
# Cache folder: $VMC_VM_CACHE, default tests/vm/cache/ (gitignored):
#   kernel/<kver>/            linux-image-<kver> unpacked with dpkg-deb -x (plus depmod output)
#   kernel/<kver>/vmlinux     the bzImage's payload, uncompressed (booted through PVH)
#   kernel/current            the kver in use
#   initramfs-<key>.cpio      key = sha256 over everything that goes into it
# Nothing is taken from the host's /boot.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${VMC_VM_CACHE:-$here/cache}
quiet=false
refresh=false

# Modules the guest loads, in this order (dependencies are added by modules.dep).
# dm-crypt and the ciphers our LUKS test images use (xts, cbc, essiv, aes, sha256),
# the user-space crypto API cryptsetup uses for keyslot areas (algif_skcipher),
# and virtio block over PCI. Names that are built into the kernel are skipped.
# The other block ciphers LUKS users pick (serpent, twofish, camellia, cast5) serve both
# dm-crypt and cryptsetup's keyslot areas (AF_ALG).
required_modules=(virtio_pci virtio_blk dm_mod dm_crypt ecb cbc xts essiv aes_generic
	sha256_generic af_alg algif_skcipher algif_hash
	serpent_generic twofish_common twofish_generic camellia_generic cast_common cast5_generic)
# Accelerated variants: loaded when the guest CPU has the instructions, else ignored.
optional_modules=(aesni_intel sha256_ssse3 serpent_sse2_x86_64 twofish_x86_64 camellia_x86_64)

while [ $# -gt 0 ]; do
	case $1 in
	--quiet) quiet=true ;;
	--refresh) refresh=true ;;
	-h | --help)
		sed -n '3,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*)
		echo "setup.sh: unknown argument: $1" >&2
		exit 1
		;;
	esac
	shift
done

say() { $quiet || echo "setup.sh: $*" >&2; }
skip() {
	echo "setup.sh: SKIP: $*" >&2
	exit 77
}
die() {
	echo "setup.sh: ERROR: $*" >&2
	exit 1
}

for tool in apt-get apt-cache dpkg-deb depmod modprobe cpio sha256sum flock; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool not found (needed to build the guest)"
done
busybox=$(command -v busybox 2>/dev/null) || skip "busybox not found (install busybox-static)"
# The guest has no libc of its own for busybox: it must be the static build.
if ldd "$busybox" >/dev/null 2>&1; then
	skip "$busybox is dynamically linked (install busybox-static)"
fi
cryptsetup=$(PATH=$PATH:/usr/sbin:/sbin command -v cryptsetup 2>/dev/null) ||
	skip "cryptsetup not found (install cryptsetup-bin)"

mkdir -p "$cache/kernel"
exec 9>"$cache/.lock"
flock -w 600 9 || die "cannot lock $cache/.lock"

# --- 1. kernel and modules ------------------------------------------------------------

kernel_ready() { [ -f "$cache/kernel/$1/.ready" ]; }

kver=""
if ! $refresh && [ -f "$cache/kernel/current" ]; then
	kver=$(cat "$cache/kernel/current")
	kernel_ready "$kver" || kver=""
fi
if [ -z "$kver" ]; then
	# linux-image-amd64 is a metapackage; its dependency names the versioned image.
	candidates() {
		{ apt-cache depends linux-image-amd64 2>/dev/null || true; } |
			sed -n 's/^ *Depends: *\(linux-image-6\.1\.[^ ]*-amd64\)$/\1/p' | sed -n 1p
	}
	pkg=$(candidates)
	if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
		say "no package lists for linux-image-amd64; running apt-get update"
		apt-get update -qq >&2 || true
		pkg=$(candidates)
	fi
	[ -n "$pkg" ] || skip "apt-cache knows no linux-image-6.1.*-amd64 (linux-image-amd64 dependency); run apt-get update"
	kver=${pkg#linux-image-}
	if ! kernel_ready "$kver"; then
		say "downloading $pkg"
		dl=$(mktemp -d "$cache/dl.XXXXXX")
		# apt-get download runs as the _apt user when it can write the folder.
		chmod 755 "$dl"
		if ! (cd "$dl" && timeout 300 apt-get download -q "$pkg" >&2); then
			rm -rf "$dl"
			skip "apt-get download $pkg failed (no network or no package lists?)"
		fi
		deb=$(ls "$dl"/*.deb)
		dest=$cache/kernel/$kver
		rm -rf "$dest"
		say "unpacking $(basename "$deb")"
		dpkg-deb -x "$deb" "$dest" || die "dpkg-deb -x $deb failed"
		rm -rf "$dl"
		[ -f "$dest/boot/vmlinuz-$kver" ] || die "$deb has no boot/vmlinuz-$kver"
		# The package ships no modules.dep: depmod makes it, as the package's postinst would.
		depmod -b "$dest" "$kver" || die "depmod failed for $kver"
		touch "$dest/.ready"
	fi
	echo "$kver" >"$cache/kernel/current"
fi
kroot=$cache/kernel/$kver
kernel=$kroot/boot/vmlinuz-$kver
moddir=$kroot/lib/modules/$kver

# --- 2. initramfs ----------------------------------------------------------------------

# Resolve modules to an ordered list of files ("insmod PATH" lines), builtins dropped.
# Prints "PATH required|optional" per line.
resolve_modules() {
	local kind=$1 m line
	shift
	for m in "$@"; do
		if ! out=$(modprobe -d "$kroot" -S "$kver" --show-depends "$m" 2>&1); then
			[ "$kind" = optional ] && continue
			die "module $m not found for $kver: $out"
		fi
		while read -r line; do
			case $line in
			insmod\ *)
				line=${line#insmod }
				echo "${line%% *} $kind"
				;;
			builtin\ *) ;;
			esac
		done <<<"$out"
	done
}

# Shared libraries of cryptsetup (ldd), plus libgcc_s.so.1: glibc dlopen()s it for
# pthread_cancel, which libargon2's multi-threaded path reaches.
libs=$(ldd "$cryptsetup" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p' | sort -u)
libgcc=""
for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib64 /usr/lib64 /lib /usr/lib; do
	if [ -e "$d/libgcc_s.so.1" ]; then
		libgcc=$d/libgcc_s.so.1
		break
	fi
done
[ -n "$libgcc" ] || skip "libgcc_s.so.1 not found (libgcc-s1)"
libs=$(printf '%s\n%s\n' "$libs" "$libgcc" | sort -u)

modlist=$( (resolve_modules required "${required_modules[@]}"
	resolve_modules optional "${optional_modules[@]}") | awk '!seen[$1]++')

# The cache key covers every input of the image.
key=$( {
	echo "kver $kver"
	sha256sum "$here/guest-init.sh" "${BASH_SOURCE[0]}" "$busybox" "$cryptsetup"
	# shellcheck disable=SC2086 # one path per word
	sha256sum $libs
	echo "$modlist"
} | sha256sum | cut -c1-16)
initramfs=$cache/initramfs-$key.cpio

if [ ! -s "$initramfs" ]; then
	say "building initramfs for $kver ($key)"
	tree=$(mktemp -d "$cache/initramfs.XXXXXX")
	trap 'rm -rf "$tree"' EXIT
	mkdir -p "$tree"/{bin,sbin,etc,proc,sys,dev,run,tmp,job,lib/modules}
	cp "$busybox" "$tree/bin/busybox"
	# Applet links made here so the guest need not run busybox --install.
	for applet in $("$busybox" --list); do
		[ "$applet" = busybox ] || ln -s busybox "$tree/bin/$applet"
	done
	cp "$here/guest-init.sh" "$tree/init"
	chmod 755 "$tree/init"
	cp "$cryptsetup" "$tree/sbin/cryptsetup"
	for lib in $libs; do
		mkdir -p "$tree$(dirname "$lib")"
		cp -L "$lib" "$tree$lib"
	done
	# /lib64/ld-linux-x86-64.so.2 on Debian is a link into /lib/x86_64-linux-gnu (usrmerge
	# or not); copying with -L above already gave each path a real file.
	: >"$tree/etc/modules.list"
	while read -r path kind; do
		name=$(basename "$path")
		case $name in
		*.ko) cp "$path" "$tree/lib/modules/$name" ;;
		*.ko.xz) xz -dc "$path" >"$tree/lib/modules/${name%.xz}" ;;
		*.ko.zst) zstd -q -dc "$path" >"$tree/lib/modules/${name%.zst}" ;;
		*.ko.gz) gzip -dc "$path" >"$tree/lib/modules/${name%.gz}" ;;
		*) die "unexpected module file $path" ;;
		esac
		name=${name%.xz}
		name=${name%.zst}
		name=${name%.gz}
		echo "$name $kind" >>"$tree/etc/modules.list"
	done <<<"$modlist"
	echo "$kver" >"$tree/etc/kver"
	(cd "$tree" && find . -mindepth 1 | LC_ALL=C sort |
		cpio -o -H newc --owner 0:0 --quiet) >"$initramfs.tmp"
	mv "$initramfs.tmp" "$initramfs"
	rm -rf "$tree"
	trap - EXIT
	# Older images of other keys are stale.
	find "$cache" -maxdepth 1 -name 'initramfs-*.cpio' ! -name "initramfs-$key.cpio" -delete
	say "initramfs $(du -h "$initramfs" | cut -f1) with $(wc -l <<<"$modlist") modules"
fi

# --- 3. uncompressed kernel for PVH boot -------------------------------------------------

# Under TCG the bzImage spends seconds decompressing itself and in real-mode setup. QEMU
# boots an uncompressed vmlinux through its PVH entry point (CONFIG_PVH) directly, which
# roughly halves the boot time. Fall back to the bzImage when that is not possible.
vmlinux=$kroot/vmlinux
if [ ! -s "$vmlinux" ] && [ ! -e "$vmlinux.none" ] &&
	grep -q '^CONFIG_PVH=y' "$kroot/boot/config-$kver" 2>/dev/null; then
	extract() { # MAGIC(grep -P) COMMAND...
		local magic=$1 off
		shift
		for off in $(LC_ALL=C grep -obUaP "$magic" "$kernel" | cut -d: -f1 | head -n 5); do
			tail -c +$((off + 1)) "$kernel" | "$@" >"$vmlinux.tmp" 2>/dev/null
			if [ "$(head -c 4 "$vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
				mv "$vmlinux.tmp" "$vmlinux"
				return 0
			fi
		done
		rm -f "$vmlinux.tmp"
		return 1
	}
	extract '\xfd7zXZ\x00' xz -dc --single-stream ||
		extract '\x28\xb5\x2f\xfd' zstd -dc ||
		extract '\x1f\x8b\x08' gzip -dc ||
		touch "$vmlinux.none"
fi
[ -s "$vmlinux" ] && kernel=$vmlinux
[ -d "$moddir" ] || die "$moddir missing"

echo "kver=$kver"
echo "kernel=$kernel"
echo "initramfs=$initramfs"
echo "root=$kroot"
