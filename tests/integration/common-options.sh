#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A cryptsetup user's habits: every verb (as `vmcrypt help` lists them) takes
# -q/--batch-mode, -v/--verbose, --debug and --version, as cryptsetup's actions
# take them; each verb runs for real with each option and does its job. is-luks
# and uuid give cryptsetup's isLuks and luksUUID answers on the same images.
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:-$(dirname "$0")}/functions.sh"

requires cryptsetup
requires qemu-img

KDF=(--pbkdf pbkdf2 --pbkdf-force-iterations 1000)
VERSION_LINE=$("$VMCRYPT" --version)

# verbs_listed: every verb of `vmcrypt help` ("header backup" as two words).
verbs_listed()
{
	"$VMCRYPT" help | sed -n '/^Verbs:/,/^$/p' | sed -n 's/^  \([a-z-]\+\)\( \(backup\|restore\|import\|export\|remove\)\)\?.*/\1\2/p' |
		grep -v '^help$'
}

# run_verb VERB OPT: runs VERB once, for real, with the common option OPT, in a
# fresh directory with a fresh LUKS2 image (img) and key files; fails unless
# it exits 0 (for serve and mount: gets past the options to the missing image).
run_verb()
{
	local verb=$1 opt=$2 rc=0
	rm -rf work && mkdir work && cd work
	truncate -s 24M img
	cs luksFormat --type luks2 -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$PASS" img
	case $verb in
	create) "$VMCRYPT" create --size 8M "${KDF[@]}" -d "$PASS" new.img "$opt" ;;
	encrypt)
		truncate -s 8M plain
		"$VMCRYPT" encrypt "${KDF[@]}" -d "$PASS" plain enc.img "$opt"
		;;
	decrypt) "$VMCRYPT" decrypt -d "$PASS" img out.raw "$opt" ;;
	dump) "$VMCRYPT" dump img "$opt" >/dev/null ;;
	test-key) "$VMCRYPT" test-key -d "$PASS" img "$opt" ;;
	rekey) "$VMCRYPT" rekey "${KDF[@]}" -d "$PASS" --new-key-file "$PASS2" img "$opt" ;;
	serve | mount)
		mkdir -p dir
		local args=(missing.img)
		[ "$verb" = serve ] || args+=(dir)
		"$VMCRYPT" "$verb" -d "$PASS" "${args[@]}" "$opt" 2>err || rc=$?
		if grep -q "unknown or ambiguous option" err || [ "$rc" -ne "$EXIT_NOTLUKS" ]; then
			cat err >&2
			fail "$verb $opt: exit $rc (expected $EXIT_NOTLUKS, the missing image)"
		fi
		;;
	qemu-args | libvirt-xml) "$VMCRYPT" "$verb" img "$opt" >/dev/null ;;
	audit) "$VMCRYPT" audit --root / "$opt" >/dev/null || [ $? -le 2 ] ;;
	scan)
		head -c 1M /dev/urandom >mem
		"$VMCRYPT" scan mem "$opt" >/dev/null
		;;
	add-key) "$VMCRYPT" add-key "${KDF[@]}" -d "$PASS" img "$PASS2" "$opt" ;;
	remove-key)
		"$VMCRYPT" add-key "${KDF[@]}" -d "$PASS" img "$PASS2"
		"$VMCRYPT" remove-key -d "$PASS2" img "$opt"
		;;
	change-key) "$VMCRYPT" change-key "${KDF[@]}" -d "$PASS" img "$PASS2" "$opt" ;;
	kill-slot)
		"$VMCRYPT" add-key "${KDF[@]}" -d "$PASS" img "$PASS2"
		"$VMCRYPT" kill-slot img 1 "$opt"
		;;
	erase) "$VMCRYPT" erase --batch-mode img "$opt" ;;
	"header backup") "$VMCRYPT" header backup img hdr "$opt" ;;
	"header restore")
		"$VMCRYPT" header backup img hdr
		"$VMCRYPT" header restore --batch-mode img hdr "$opt"
		;;
	repair) "$VMCRYPT" repair img "$opt" ;;
	convert) "$VMCRYPT" convert --batch-mode --type luks1 img "$opt" ;;
	config) "$VMCRYPT" config --label common img "$opt" ;;
	resize) "$VMCRYPT" resize img --size +8M "$opt" ;;
	is-luks) "$VMCRYPT" is-luks img "$opt" ;;
	uuid) "$VMCRYPT" uuid img "$opt" >/dev/null ;;
	"token import")
		echo '{"type":"common-test","keyslots":[]}' >tok.json
		"$VMCRYPT" token import --json-file tok.json img "$opt"
		;;
	"token export")
		echo '{"type":"common-test","keyslots":[]}' | "$VMCRYPT" token import --token-id 0 img
		"$VMCRYPT" token export --token-id 0 img "$opt" >/dev/null
		;;
	"token remove")
		echo '{"type":"common-test","keyslots":[]}' | "$VMCRYPT" token import --token-id 0 img
		"$VMCRYPT" token remove --token-id 0 img "$opt"
		;;
	*) fail "verb '$verb' has no case here: add one" ;;
	esac
	cd ..
}

case_every_verb()
{
	local verb opt n=0 out
	mapfile -t verbs < <(verbs_listed)
	[ "${#verbs[@]}" -ge 25 ] || fail "only ${#verbs[@]} verbs found in vmcrypt help"
	for verb in "${verbs[@]}"; do
		for opt in --batch-mode -q -v --verbose --debug; do
			# shellcheck disable=SC2086 # the verb may be two words
			run_verb "$verb" "$opt" 2>>stderr.log || fail "$verb $opt failed"
			n=$((n + 1))
		done
		for opt in --version -V; do
			# shellcheck disable=SC2086 # the verb may be two words
			out=$("$VMCRYPT" $verb "$opt")
			expect_eq "$out" "$VERSION_LINE" "$verb $opt"
		done
	done
	if grep -i "unknown or ambiguous option" stderr.log; then
		fail "an option was refused"
	fi
	echo "${#verbs[@]} verbs, $n runs with a common option"
}

# --debug shows the library's debug lines, never the passphrase.
case_debug_no_secret()
{
	"$VMCRYPT" create --size 8M "${KDF[@]}" -d "$PASS" --debug img 2>err
	"$VMCRYPT" test-key -d "$PASS" --debug img 2>>err
	grep -q "debug:" err || fail "--debug printed no debug line"
	if grep -qF "$(cat "$PASS")" err; then
		fail "--debug output holds the passphrase"
	fi
}

case_is_luks()
{
	truncate -s 24M l1 l2
	cs luksFormat --type luks1 -q --pbkdf-force-iterations 1000 --key-file "$PASS" l1
	cs luksFormat --type luks2 -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$PASS" l2
	head -c 16M /dev/zero >zero
	qemu-img create -q -f qcow2 plain.qcow2 16M
	echo short >tiny
	local f want cs_rc
	for f in l1 l2 zero plain.qcow2 tiny; do
		cs_rc=0
		cs isLuks "$f" || cs_rc=$?
		want=$([ "$cs_rc" -eq 0 ] && echo 0 || echo 1)
		expect_exit "$want" "$VMCRYPT" is-luks "$f"
		if [ -s last.out ] || [ -s last.err ]; then
			fail "is-luks $f printed without -v"
		fi
		expect_exit "$want" "$VMCRYPT" is-luks -v "$f"
		grep -q "^$f is" last.err || fail "is-luks -v $f said nothing"
		[ "$(grep -c . last.err)" -eq 1 ] || fail "is-luks -v $f: more than one line"
	done
	grep -q "is a LUKS1 image" <("$VMCRYPT" is-luks -v l1 2>&1)
	grep -q "is a LUKS2 image" <("$VMCRYPT" is-luks -v l2 2>&1)
	expect_exit 1 "$VMCRYPT" is-luks missing-file
	# The image inside a container (qcow2) is LUKS as the guest sees it.
	qemu-img convert -q -O qcow2 l2 l2.qcow2
	expect_exit 0 "$VMCRYPT" is-luks l2.qcow2
	expect_unchanged l2 "$VMCRYPT" is-luks -v l2
}

case_uuid()
{
	truncate -s 24M l1 l2
	cs luksFormat --type luks1 -q --pbkdf-force-iterations 1000 --key-file "$PASS" l1
	cs luksFormat --type luks2 -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --key-file "$PASS" l2
	local f u=0b1f4e52-8f0e-4c9b-9a5e-3c3d1e7f2a61
	for f in l1 l2; do
		expect_eq "$("$VMCRYPT" uuid "$f")" "$(cs luksUUID "$f")" "uuid $f"
		"$VMCRYPT" uuid --uuid "$u" -v "$f"
		expect_eq "$(cs luksUUID "$f")" "$u" "cryptsetup after vmcrypt uuid --uuid on $f"
		cs open --test-passphrase --key-file "$PASS" "$f"
	done
	local rc=0
	expect_unchanged l2 "$VMCRYPT" uuid --uuid not-a-uuid l2 || rc=$?
	expect_eq "$rc" "$EXIT_USAGE" "uuid --uuid not-a-uuid"
	grep -q "not a valid UUID" last.err
	head -c 16M /dev/zero >zero
	expect_exit "$EXIT_NOTLUKS" "$VMCRYPT" uuid zero
}

run_case every-verb case_every_verb
run_case debug-no-secret case_debug_no_secret
run_case is-luks case_is_luks
run_case uuid case_uuid
finish
