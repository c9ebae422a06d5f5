# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers of the dm-crypt guest tests (sourced by tests/vm/test-*.sh).
# shellcheck shell=bash

set -euo pipefail

vm_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dmcrypt_check=$vm_dir/dmcrypt-check

# Plaintext size of every test volume: 8 MiB and three 4 KiB blocks, so that a size or
# offset computed in MiB somewhere shows up as a mismatch. A multiple of 4096 bytes.
# shellcheck disable=SC2034 # used by the test scripts
plain_bytes=$((8 * 1048576 + 3 * 4096))

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*"
	exit 1
}
requires() {
	command -v "$1" >/dev/null 2>&1 || skip "$1 not found"
}
requires_vmcrypt() {
	[ -n "${VMCRYPT:-}" ] || skip "VMCRYPT (path of the vmcrypt binary) is not set"
	[ -x "$VMCRYPT" ] || skip "VMCRYPT=$VMCRYPT is not executable"
}

PATH=$PATH:/usr/sbin:/sbin
scratch=$(mktemp -d "${TMPDIR:-/tmp}/vmc-vm-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# The key file: a passphrase with a space and no newline (cryptsetup and vmcrypt take a key
# file's bytes as they are).
key=$scratch/key
(umask 077 && printf 'vm test passphrase %s' "$$" >"$key")

# The configurations, each in both directions. Fast KDF settings: these tests are about the
# data path, and argon2 runs emulated in the guest.
# shellcheck disable=SC2034 # used by the test scripts
# The non-AES ones (the serpent/twofish/camellia modules in the guest) ride in the same
# boots. VMC_VM_CONFIGS="NAME..." runs only the named ones.
default_vm_configs=(luks2-xts-512 luks2-xts-4096 luks2-argon2id luks2-detached luks1-xts luks1-cbc-essiv
	luks2-serpent-512 luks2-serpent-4096 luks2-twofish-512 luks2-twofish-4096
	luks2-camellia-512 luks2-camellia-4096)
# shellcheck disable=SC2034 # used by the test scripts
read -ra vm_configs <<<"${VMC_VM_CONFIGS:-${default_vm_configs[*]}}"

# config_host_formats NAME: true when the host's cryptsetup can luksFormat it without
# device-mapper (AES only: for another cipher it asks dm-crypt whether the kernel has it).
config_host_formats() {
	case $1 in
	*-serpent-* | *-twofish-* | *-camellia-*) return 1 ;;
	esac
	return 0
}

# config_opts NAME: the format options, identical for cryptsetup and vmcrypt.
config_opts() {
	local pbkdf2=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
	case $1 in
	luks2-xts-512)
		echo --type luks2 --cipher aes-xts-plain64 --key-size 512 --sector-size 512 "${pbkdf2[@]}"
		;;
	luks2-xts-4096)
		echo --type luks2 --cipher aes-xts-plain64 --key-size 512 --sector-size 4096 "${pbkdf2[@]}"
		;;
	luks2-argon2id)
		echo --type luks2 --cipher aes-xts-plain64 --key-size 512 --sector-size 4096 \
			--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32768 --pbkdf-parallel 2
		;;
	luks2-detached)
		echo --type luks2 --cipher aes-xts-plain64 --key-size 512 --sector-size 4096 "${pbkdf2[@]}"
		;;
	luks1-xts)
		echo --type luks1 --cipher aes-xts-plain64 --key-size 512 --hash sha256 "${pbkdf2[@]}"
		;;
	luks1-cbc-essiv)
		echo --type luks1 --cipher aes-cbc-essiv:sha256 --key-size 256 --hash sha256 "${pbkdf2[@]}"
		;;
	luks2-serpent-* | luks2-twofish-* | luks2-camellia-*)
		local c=${1#luks2-}
		echo --type luks2 --cipher "${c%-*}-xts-plain64" --key-size 512 --sector-size "${c##*-}" \
			"${pbkdf2[@]}"
		;;
	*) fail "unknown configuration $1" ;;
	esac
}

# config_header NAME DIR: the detached header file of a configuration, or nothing.
config_header() {
	case $1 in
	*-detached) echo "$2/$1.hdr" ;;
	esac
}

# make_plain FILE BYTES: random plaintext.
make_plain() {
	head -c "$2" /dev/urandom >"$1"
	[ "$(stat -c %s "$1")" = "$2" ] || fail "could not write $2 random bytes to $1"
}

# format_cryptsetup NAME IMAGE HEADER BYTES: a LUKS image formatted by the host's cryptsetup
# (works on a file without device-mapper) with BYTES of data, header detached when HEADER
# is not empty.
format_cryptsetup() {
	local name=$1 image=$2 header=$3 bytes=$4 offset
	local -a opts
	read -ra opts <<<"$(config_opts "$name")"
	if [ -n "$header" ]; then
		rm -f "$header"
		truncate -s "$bytes" "$image"
		opts+=(--header "$header")
	else
		# The data offset in 512-byte sectors: LUKS2's default 16 MiB, LUKS1's 2 MiB.
		case $name in
		luks1-*) offset=4096 ;;
		*) offset=32768 ;;
		esac
		truncate -s $((offset * 512 + bytes)) "$image"
		opts+=(--offset "$offset")
	fi
	cryptsetup luksFormat -q --batch-mode --disable-locks "${opts[@]}" --key-file "$key" "$image" ||
		fail "cryptsetup luksFormat $name failed"
}

# luks_data_size IMAGE [HEADER]: bytes of the data segment, from cryptsetup luksDump.
luks_data_size() {
	local image=$1 header=${2:-} dump offset length
	dump=$(cryptsetup luksDump --disable-locks "${header:-$image}") ||
		fail "cryptsetup luksDump ${header:-$image} failed"
	if offset=$(sed -n 's/^Payload offset:[[:space:]]*\([0-9]*\)$/\1/p' <<<"$dump") &&
		[ -n "$offset" ]; then
		offset=$((offset * 512)) # LUKS1: sectors
		length=""
	else
		# LUKS2: the first segment of "Data segments".
		offset=$(sed -n '/^Data segments:/,/^Keyslots:/s/^[[:space:]]*offset: \([0-9]*\) \[bytes\]$/\1/p' <<<"$dump" | sed -n 1p)
		length=$(sed -n '/^Data segments:/,/^Keyslots:/s/^[[:space:]]*length: \([0-9]*\) \[bytes\]$/\1/p' <<<"$dump" | sed -n 1p)
	fi
	[ -n "$offset" ] || fail "no data offset in the luksDump of ${header:-$image}"
	if [ -n "$length" ]; then
		echo "$length"
	else
		echo $(($(stat -c %s "$image") - offset))
	fi
}

# data_area IMAGE [HEADER]: print the image's data segment (the ciphertext).
data_area() {
	local image=$1 header=${2:-} offset
	offset=$(($(stat -c %s "$image") - $(luks_data_size "$image" "$header")))
	tail -c +$((offset + 1)) "$image"
}

# run_check ARGS...: dmcrypt-check; a skip (77) skips the calling test, with its reason.
run_check() {
	local rc=0
	"$dmcrypt_check" "$@" | tee "$scratch/check.out" || rc=${PIPESTATUS[0]}
	case $rc in
	0) ;;
	77) skip "$(sed -n 's/^dmcrypt-check: SKIP: //p' "$scratch/check.out" | tail -n 1)" ;;
	*) fail "dmcrypt-check failed (exit $rc)" ;;
	esac
}
