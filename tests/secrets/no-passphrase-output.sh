#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The passphrase never appears in anything vmcrypt prints: every verb that takes one is
# run (with --verbose and --debug where it has them, successes and failures, key files
# on disk and on stdin, and a passphrase typed at a terminal through pty-run.py, whose
# transcript would show any echo), all of stdout and stderr is collected, and searched
# for each passphrase as text, in hex and in base64. The passphrases are also checked
# to be absent from the image files' headers. grep-logs.sh applies the same search to
# everything the whole test suite printed (meson's logs).
SECRETS_DIR=${SECRETS_DIR:-$(cd "$(dirname "$0")" && pwd)}
# shellcheck source-path=SCRIPTDIR source=../integration/functions.sh
. "${SRCDIR:?}/functions.sh"
requires "$PYTHON"

ALL=$TMPDIR_TEST/all-output
: >"$ALL"
RUNS=0

# out CODES CMD...: runs CMD (stdin from /dev/null unless redirected by the caller's
# function), appends its output to ALL and expects one of CODES.
out()
{
	local codes=$1 rc=0 c
	shift
	"$@" >o.out 2>o.err || rc=$?
	{ echo "### $* (exit $rc)"; cat o.out o.err; } >>"$ALL"
	RUNS=$((RUNS + 1))
	for c in $codes; do [ "$rc" -eq "$c" ] && return 0; done
	cat o.err >&2
	fail "$*: exit $rc, expected $codes"
}

# On a terminal: what the user sees, echo included.
tty_out()
{
	local codes=$1 rc=0 c
	shift
	"$PYTHON" -S "$SECRETS_DIR/pty-run.py" "$PASS" "$@" >o.out 2>o.err || rc=$?
	{ echo "### (terminal) $* (exit $rc)"; cat o.out o.err; } >>"$ALL"
	RUNS=$((RUNS + 1))
	for c in $codes; do [ "$rc" -eq "$c" ] && return 0; done
	cat o.out o.err >&2
	fail "(terminal) $*: exit $rc, expected $codes"
}

# Verbs land one by one: each is exercised once it exists.
have_verb()
{
	"$VMCRYPT" help "$1" >/dev/null 2>&1
}

case_verbs()
{
	local type=$1 img=img.$1 bk=backup.$1
	printf '%s' 'the third passphrase 3' >pass3
	out 0 vmc create "$img" --type "$type" --size 8M --key-file "$PASS" --batch-mode \
		"${FAST_PBKDF2[@]}" --verbose --debug
	make_plain plain 1024
	out 0 vmc encrypt plain "enc.$type" --type "$type" --key-file - --batch-mode \
		"${FAST_PBKDF2[@]}" --debug <"$PASS"
	out 0 vmc decrypt "enc.$type" dec --key-file "$PASS" --debug --verbose
	out 0 vmc dump "$img" --debug
	out 0 vmc dump "$img" --json
	out 0 vmc test-key "$img" --key-file "$PASS" --debug --verbose
	out "$EXIT_PASS" vmc test-key "$img" --key-file "$WRONG" --debug --verbose
	if have_verb add-key; then
		out 0 vmc add-key "$img" "$PASS2" --key-file "$PASS" "${FAST_PBKDF2[@]}" --debug --verbose
		out 0 vmc change-key "$img" pass3 --key-file "$PASS2" "${FAST_PBKDF2[@]}" --debug \
			--verbose
		out 0 vmc remove-key "$img" --key-file pass3 --debug --verbose
		out "$EXIT_PASS" vmc remove-key "$img" --key-file "$WRONG" --debug
	fi
	if have_verb header; then
		out 0 vmc header backup "$img" "$bk" --debug
		out 0 vmc header restore "$img" "$bk" --batch-mode --debug
	fi
	have_verb qemu-args && out 0 vmc qemu-args "$img" --key-file "$PASS"
	have_verb libvirt-xml && out 0 vmc libvirt-xml "$img" --key-file "$PASS"
	if [ "$type" = luks2 ] && have_verb token; then
		printf '{"type":"vmcrypt-test","keyslots":["0"]}' >token.json
		out 0 vmc token import "$img" --json-file token.json --verbose --debug
		out 0 vmc token export "$img" --token-id 0
	fi
	if [ "$type" = luks2 ] && have_verb config; then
		out 0 vmc config "$img" --label secrets-test --verbose --debug
	fi
	if have_verb scan; then
		# A memory dump holding nothing: the scanner reports, without key bytes.
		head -c 1048576 /dev/urandom >dump.bin
		out "0 11" vmc scan --image "$img" --key-file "$PASS" dump.bin --verbose --debug
	fi
	# Typed at a terminal: echo must be off.
	tty_out 0 "$VMCRYPT" test-key "$img" --debug
	tty_out "$EXIT_PASS" "$VMCRYPT" test-key "$img" --key-file "$WRONG"
	rm -f tty.img
	tty_out 0 "$VMCRYPT" create tty.img --type "$type" --size 8M "${FAST_PBKDF2[@]}" --verbose
	grep -q '<typed>' o.out || fail "the terminal case never saw a passphrase prompt"
	# The header keeps no passphrase either.
	for f in "$img" tty.img $([ -e "$bk" ] && echo "$bk"); do
		if grep -qaF -e "$(cat "$PASS")" -e "$(cat "$PASS2")" -e "$(cat pass3)" "$f"; then
			fail "$f contains a passphrase"
		fi
	done
	cat "$ALL" >>"$TMPDIR_TEST/all-cases"
	echo "$type: $RUNS commands"
}

run_case "every verb, luks2" case_verbs luks2
run_case "every verb, luks1" case_verbs luks1
[ -s "$TMPDIR_TEST/all-cases" ] || fail "no output collected"
printf '%s' 'the third passphrase 3' >"$TMPDIR_TEST/pass3"
run_case "no passphrase in $(wc -l <"$TMPDIR_TEST/all-cases") lines of output" \
	"$SECRETS_DIR/grep-logs.sh" --pass "$PASS" --pass "$PASS2" --pass "$TMPDIR_TEST/pass3" \
	--pass "$WRONG" "$TMPDIR_TEST/all-cases"
finish
