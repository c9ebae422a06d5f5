#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's demo command: builds vmcrypt, then - as an ordinary user - makes a small
# ext4 disk image, encrypts it to LUKS2, shows the header, re-keys it and reads the files back.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}

"$top/scripts/build.sh" >/dev/null
vmcrypt=$build/cli/vmcrypt

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

work=$(mktemp -d /tmp/vmcrypt-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

# Everything below runs without root: as "nobody" when the script was started as root.
as_user=()
if [ "$(id -u)" -eq 0 ]; then
	chown 65534:65534 "$work"
	as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
fi
run() {
	printf '$ %s\n' "$*"
	"${as_user[@]}" "$@"
}

cd "$work"
step "A plain disk image with an ext4 file system and a few files (mkfs.ext4 -d, no root)"
"${as_user[@]}" mkdir files
"${as_user[@]}" sh -c 'echo "Hello from an encrypted VM image." > files/hello.txt;
	head -c 300000 /dev/urandom > files/random.bin'
run mkfs.ext4 -q -d files -L demo plain.raw 64M
# The demo's passphrases live in key files: a real user types them at the prompt.
"${as_user[@]}" sh -c 'printf "demo passphrase" > old.key; printf "a better passphrase" > new.key'

step "Encrypt it into a new LUKS2 image (argon2id, aes-xts-plain64, 4096-byte sectors)"
run "$vmcrypt" encrypt plain.raw disk.luks --key-file old.key --iter-time 200 --batch-mode
ls -ls plain.raw disk.luks

step "Show the header"
run "$vmcrypt" dump disk.luks

if "$vmcrypt" help 2>&1 | grep -q '^ *rekey'; then
	step "Re-key it in place: new volume key, new passphrase"
	run "$vmcrypt" rekey disk.luks --key-file old.key --new-key-file new.key --iter-time 200 --batch-mode
	key=new.key
	step "The old passphrase no longer opens it"
	if "${as_user[@]}" "$vmcrypt" test-key disk.luks --key-file old.key; then
		echo "unexpected: the old passphrase still works" >&2
		exit 1
	fi
	echo "refused, as it should be"
else
	key=old.key
fi

if "$vmcrypt" help 2>&1 | grep -q '^ *serve' && command -v nbdcopy >/dev/null; then
	step "Serve the plaintext over NBD, as a VM would use it, and read it back with nbdcopy"
	printf '$ %s\n' "vmcrypt serve disk.luks --socket nbd.sock --key-file $key &"
	"${as_user[@]}" "$vmcrypt" serve disk.luks --socket "$work/nbd.sock" --key-file "$key" \
		>serve.out 2>&1 &
	server=$!
	for _ in $(seq 1 100); do
		[ -S "$work/nbd.sock" ] && break
		sleep 0.1
	done
	grep -E -- '-drive|-blockdev' serve.out | head -2 | sed 's/^/    /' || true
	run nbdcopy "nbd+unix:///?socket=$work/nbd.sock" served.raw
	kill -TERM "$server"
	wait "$server" || true
	cmp plain.raw served.raw && echo "served plaintext is byte-identical to the original"
fi

step "Decrypt it back to a plain image and read the files with debugfs (no mount, no root)"
run "$vmcrypt" decrypt disk.luks back.raw --key-file "$key" --batch-mode
run debugfs -R "cat /hello.txt" back.raw 2>/dev/null
"${as_user[@]}" debugfs -R "dump /random.bin random.back" back.raw 2>/dev/null
cmp files/random.bin random.back && echo "random.bin: $(sha256sum <random.back | cut -c1-16)... identical after the round trip"
cmp plain.raw back.raw && echo "the whole decrypted image is byte-identical to the original"

step "Done"
