#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs every build and test dependency of vmcrypt on Debian 12 (run as root).
set -euo pipefail

packages=(
	# build
	gcc meson ninja-build pkg-config scdoc
	libssl-dev libgcrypt20-dev libargon2-dev libjson-c-dev libblkid-dev libfdisk-dev uuid-dev libxml2-dev
	libfuse3-dev nbdkit-plugin-dev libnbd-dev
	# fuzzing, sanitizers, valgrind (scripts/ci-hardening.sh)
	clang libclang-rt-14-dev valgrind
	# peers the tests run against
	cryptsetup-bin qemu-utils nbdkit libnbd-bin python3-libnbd fuse3
	# the dm-crypt guest harness (tests/vm)
	qemu-system-x86 busybox-static cpio kmod zstd xz-utils
	# the Debian image builder (contrib/image) and its boot tests (tests/image)
	debootstrap debian-archive-keyring gpgv grub-pc-bin grub-efi-amd64-bin ovmf mtools
	dosfstools
	# packaging: dpkg-buildpackage, debian/, lintian (tests/package); the completion's path
	build-essential dpkg-dev debhelper lintian bash-completion
	# the serve units' tests: systemd-analyze, systemd-socket-activate, systemd-escape
	systemd
	# demo and test tools
	e2fsprogs python3 xxd util-linux fdisk ca-certificates time
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages (run as root to install): ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
