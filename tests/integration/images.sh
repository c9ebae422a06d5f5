#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The committed fixtures of tests/images (made by cryptsetup 2.6 and qemu-img 7.2,
# see make-images.sh) open in vmcrypt with the facts the peers reported when they
# made them: test-key (right passphrase and keyslot, wrong passphrase), dump
# (version, UUID, cipher, sector size, data offset, keyslots, label, subsystem,
# key size), the volume key, and the sha256 of the plaintext. Needs no peer at run
# time, so it also guards compatibility where cryptsetup/qemu-img are missing.
# When cryptsetup is installed, it also rechecks that the fixture is still what
# cryptsetup says it is (so a bad fixture cannot make vmcrypt look wrong).
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires gzip
requires test -x "$VMCRYPT"
IMAGES=$SRCDIR/../images
ls "$IMAGES"/*.info >/dev/null 2>&1 || skip "no fixtures in $IMAGES"

# info_get INFOFILE KEY
info_get()
{
	sed -n "s/^$2=//p" "$1"
}

case_fixture()
{
	local info=$1 imgz hdrz hopt=() hfile=img f want got
	imgz=$(info_get "$info" image)
	hdrz=$(info_get "$info" header)
	gzip -dc <"$IMAGES/$imgz" >img
	if [ -n "$hdrz" ]; then
		gzip -dc <"$IMAGES/$hdrz" >hdr
		hopt=(--header hdr)
		hfile=hdr
	fi
	info_get "$info" passphrase | tr -d '\n' >pass
	if command -v cryptsetup >/dev/null 2>&1; then
		cs open --test-passphrase "${hopt[@]}" --key-file pass img ||
			fail "fixture check: cryptsetup does not open $imgz with its passphrase"
	fi

	expect_unchanged img vmc test-key img "${hopt[@]}" --key-file pass ||
		{ cat last.err >&2; fail "vmcrypt test-key with the fixture's passphrase: exit $?"; }
	expect_exit 0 vmc test-key img "${hopt[@]}" --key-file pass --key-slot "$(info_get "$info" keyslot)"
	expect_exit "$EXIT_PASS" vmc test-key img "${hopt[@]}" --key-file "$WRONG"

	expect_exit 0 vmc dump img "${hopt[@]}"
	cp last.out vm.dump
	for f in version uuid cipher sector_size data_offset keyslots label subsystem key_bits; do
		if grep -q "^$f=" "$info"; then
			want=$(info_get "$info" "$f")
			got=$(luksmeta field vm.dump "$f")
			expect_eq "$got" "$want" "vmcrypt dump: $f of fixture $imgz (as the peer reported it)"
		fi
	done
	if [ "$(info_get "$info" version)" = 2 ]; then
		expect_exit 0 vmc dump --json img "${hopt[@]}"
		cp last.out vm.json
		luksmeta check-json vm.json "$hfile" ||
			fail "vmcrypt dump --json disagrees with the fixture's header"
	fi

	expect_exit 0 vmc dump img "${hopt[@]}" --dump-volume-key --key-file pass --batch-mode
	cp last.out vk.dump
	expect_eq "$(luksmeta volume-key vk.dump)" "$(info_get "$info" volume_key)" \
		"volume key of fixture $imgz"

	expect_unchanged img vmc decrypt img out "${hopt[@]}" --key-file pass ||
		{ cat last.err >&2; fail "vmcrypt decrypt of fixture $imgz: exit $?"; }
	expect_eq "$(filesize out)" "$(info_get "$info" plaintext_size)" "plaintext size of fixture $imgz"
	expect_eq "$(sha256 out)" "$(info_get "$info" plaintext_sha256)" "plaintext sha256 of fixture $imgz"
}

for info in "$IMAGES"/*.info; do
	run_case "fixture $(basename "$info" .info)" case_fixture "$info"
done

finish
