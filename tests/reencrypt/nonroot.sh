#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Re-encryption as an ordinary user (uid/gid 65534, no groups) on files that user owns
# in a directory it can write: no lock directory, no device-mapper, no root.
#  - vmcrypt rekey, stopped by SIGINT, resumed with --resume, all as that user;
#  - a rekey killed mid-step (crash state) and resumed by the user; another finished
#    by the user's cryptsetup (repair + reencrypt --resume-only --disable-locks);
#  - an in-place encryption and decryption (when vmcrypt has them);
#  - and nothing the user cannot write is needed: the directory holds only its files.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -eq 0 ]; then
	requires setpriv
	as_user true 2>/dev/null || skip "setpriv cannot switch to uid 65534"
	as_user test -x "$VMCRYPT" || skip "uid 65534 cannot run $VMCRYPT (a directory on its path is closed)"
	as_user test -r "$PLAIN" || skip "uid 65534 cannot read $TMPDIR_TEST"
fi

# A directory the user owns and writes, with its own copies of the passphrases.
user_dir()
{
	mkdir u
	cp "$OLD" u/old
	cp "$NEW" u/new
	[ "$(id -u)" -ne 0 ] || chown -R 65534:65534 u
	chmod 0700 u
	cd u
}

# uvmc ARGS...: vmcrypt as the user.
uvmc()
{
	as_user "$VMCRYPT" "$@"
}

case_rekey_as_user()
{
	local pid rc
	user_dir
	as_user cp "$PLAIN" plain.raw
	expect_exit 0 uvmc encrypt plain.raw t.img --key-file old --batch-mode "${FAST_PBKDF2[@]}"
	[ "$(stat -c %u t.img)" = "$(as_user id -u)" ] || fail "the image is not the user's"
	OLD_VK=$(volume_key t.img old)
	# setpriv execs vmcrypt: the signals reach it (a shell function would stand between).
	"${AS_USER[@]}" "$VMCRYPT" rekey t.img --batch-mode "${FAST_PBKDF2[@]}" --key-file old \
		--new-key-file new --hotzone-size 4K >bg.out 2>&1 &
	pid=$!
	stop_midway "$pid" INT || fail "SIGINT: exit $STOP_RC: $(cat bg.out)"
	pending t.img || fail "not unfinished after the stop"
	expect_eq "$(uvmc decrypt t.img - --key-file new | sha256sum | cut -d' ' -f1)" "$PLAIN_SHA" \
		"plaintext mid-way, read by the user"
	expect_exit 0 uvmc rekey t.img --resume --key-file new
	OLD=old NEW=new expect_rekeyed t.img "$OLD_VK" "rekey as the user"
	# Killed mid-step, resumed by the user.
	rc=0
	VMCRYPT_FAULT=kill:40 uvmc rekey t.img --batch-mode "${FAST_PBKDF2[@]}" --key-file new \
		--new-key-file old --hotzone-size 64K >/dev/null 2>&1 || rc=$?
	expect_eq "$rc" 137 "killed"
	pending t.img || fail "not unfinished after the kill"
	expect_exit 0 uvmc rekey t.img --resume --key-file old
	expect_eq "$(uvmc decrypt t.img - --key-file old | sha256sum | cut -d' ' -f1)" "$PLAIN_SHA" \
		"plaintext after a kill and the user's resume"
	# Killed again, finished by the user's cryptsetup.
	rc=0
	VMCRYPT_FAULT=kill:41 uvmc rekey t.img --batch-mode "${FAST_PBKDF2[@]}" --key-file old \
		--new-key-file new --hotzone-size 64K >/dev/null 2>&1 || rc=$?
	expect_eq "$rc" 137 "killed"
	as_user cryptsetup repair --disable-locks --batch-mode --key-file new t.img >cs.out 2>&1 ||
		{ cat cs.out >&2; fail "cryptsetup repair as the user"; }
	as_user cryptsetup reencrypt --disable-locks --resume-only --force-offline-reencrypt \
		--batch-mode --key-file new t.img >cs.out 2>&1 ||
		{ cat cs.out >&2; fail "cryptsetup --resume-only as the user"; }
	expect_eq "$(uvmc decrypt t.img - --key-file new | sha256sum | cut -d' ' -f1)" "$PLAIN_SHA" \
		"plaintext after the user's cryptsetup finished"
}

case_in_place_as_user()
{
	user_dir
	as_user cp "$PLAIN" t.img
	expect_exit 0 uvmc encrypt --in-place t.img --header t.hdr --key-file new --batch-mode \
		"${FAST_PBKDF2[@]}" --hotzone-size 1M
	expect_eq "$(uvmc decrypt t.img - --header t.hdr --key-file new | sha256sum | cut -d' ' -f1)" \
		"$PLAIN_SHA" "plaintext after the user's in-place encryption"
	expect_exit 0 uvmc decrypt --in-place t.img --header t.hdr --key-file new --batch-mode
	expect_eq "$(sha256_range t.img 0 "$(filesize "$PLAIN")")" "$PLAIN_SHA" \
		"the image after the user's in-place decryption"
}

run_case "rekey, stop, resume, kill, cryptsetup as uid 65534" case_rekey_as_user
if in_place_supported; then
	run_case "encrypt and decrypt --in-place as uid 65534" case_in_place_as_user
else
	echo "SKIP: in place as uid 65534: this vmcrypt has no --in-place"
fi
finish
