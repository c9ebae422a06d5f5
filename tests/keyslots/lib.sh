# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Helpers of the keyslot, header and locking tests, on top of tests/integration/functions.sh.
#
# A script does:  . "$(dirname "$0")/lib.sh"
# Keys: K1..K4 are passphrase files, taken as is (K2 is binary, K3 ends with a
# newline; K1 and K4 also work as typed lines); key variables are passed by name
# ("K1") to the expect_* helpers.

KS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=$(cd "$KS_DIR/../integration" && pwd)
# shellcheck source=../integration/functions.sh
. "$SRCDIR/functions.sh"

# KS_ONLY=REGEX runs only the cases whose names match (while working on one).
if [ -n "${KS_ONLY:-}" ]; then
	eval "$(declare -f run_case | sed '1s/^run_case/run_every_case/')"
	run_case()
	{
		[[ $1 =~ $KS_ONLY ]] || return 0
		run_every_case "$@"
	}
fi

requires cryptsetup
requires "$PYTHON"

K1=$TMPDIR_TEST/k1 K2=$TMPDIR_TEST/k2 K3=$TMPDIR_TEST/k3 K4=$TMPDIR_TEST/k4
printf 'first key' >"$K1"
printf '\001\002 binary second key \377\n\000' >"$K2"
printf 'third key, longer than the others: %s\n' "$(seq 1 40 | tr '\n' ' ')" >"$K3"
printf 'fourth' >"$K4"
# Readable by the unprivileged user of the locking and read-only cases.
chmod 0755 "$TMPDIR_TEST"
chmod 0644 "$K1" "$K2" "$K3" "$K4"

# The known plaintext every vmcrypt-made image starts with.
PLAIN=$TMPDIR_TEST/plain.raw
make_plain "$PLAIN" 1024
PLAIN_SHA=$(sha256 "$PLAIN")

# Unprivileged user for the permission and locking cases: AS_USER prefixes a command.
AS_USER=()
[ "$(id -u)" -ne 0 ] || AS_USER=(setpriv --reuid=65534 --regid=65534 --clear-groups)

# as_user CMD...: runs CMD as an ordinary user (setpriv when root).
as_user()
{
	"${AS_USER[@]}" "$@"
}

requires_user_switch()
{
	if [ "$(id -u)" -eq 0 ]; then
		requires setpriv
		"${AS_USER[@]}" true 2>/dev/null || skip "setpriv cannot switch to uid 65534"
	fi
}

# new_image VERSION IMG [KEYVAR]: `vmcrypt encrypt` of the known plaintext, key in slot 0.
new_image()
{
	local ver=$1 img=$2 key=${3:-K1}
	vmc encrypt --type "luks$ver" --key-file "${!key}" "${FAST_PBKDF2[@]}" "$PLAIN" "$img"
}

# cs_image VERSION IMG [KEYVAR]: `cryptsetup luksFormat` of an image of a few MiB.
cs_image()
{
	local ver=$1 img=$2 key=${3:-K1} size=4
	[ "$ver" = 2 ] && size=20
	truncate -s "${size}M" "$img"
	cs luksFormat -q --type "luks$ver" "${FAST_PBKDF2[@]}" --key-file "${!key}" "$img"
}

# add_key IMG OLDVAR NEWVAR [vmcrypt args]: a fast key slot added by vmcrypt.
add_key()
{
	local img=$1 old=$2 new=$3
	shift 3
	vmc add-key "${FAST_PBKDF2[@]}" --key-file "${!old}" "$@" "$img" "${!new}"
}

# cs_opens IMG KEYVAR [SLOT] / vmc_opens ...: prints yes or no; any other failure
# (corrupted header, I/O error, crash) fails the case.
cs_opens()
{
	local img=$1 key=$2 slot=${3:-} rc=0
	cs open --test-passphrase --key-file "${!key}" ${slot:+--key-slot "$slot"} "$img" \
		>cs-open.out 2>&1 || rc=$?
	case $rc in
	0) echo yes ;;
	1 | 2) echo no ;; # 1: the slot is not active, 2: no key available
	*)
		cat cs-open.out >&2
		fail "cryptsetup open --test-passphrase $img ($key${slot:+ slot $slot}): exit $rc"
		;;
	esac
}

vmc_opens()
{
	local img=$1 key=$2 slot=${3:-} rc=0
	vmc test-key --key-file "${!key}" ${slot:+--key-slot "$slot"} "$img" \
		>vmc-open.out 2>&1 || rc=$?
	case $rc in
	0) echo yes ;;
	"$EXIT_PASS" | "$EXIT_NOTLUKS") echo no ;; # 4: the slot (or every slot) is gone
	*)
		cat vmc-open.out >&2
		fail "vmcrypt test-key $img ($key${slot:+ slot $slot}): exit $rc"
		;;
	esac
}

# active_slots IMG: the active key slots as cryptsetup sees them, "0,3" (fails if
# cryptsetup rejects the header).
active_slots()
{
	cs luksDump "$1" >slots.dump 2>slots.err || {
		cat slots.err >&2
		fail "cryptsetup luksDump rejects $1"
	}
	luksmeta field slots.dump keyslots
}

# expect_keys IMG "K1=0 K2=1,3 K3=- @4": the active key slots are exactly those
# named (@N: active, but opened by none of the keys), and each key opens exactly
# its slots (- none), with and without --key-slot, in both cryptsetup and vmcrypt.
expect_keys()
{
	local img=$1 spec=$2 item key slots want s active expected
	expected=$(for item in $spec; do
		slots=${item#*=}
		slots=${slots#@}
		[ "$slots" = - ] || echo "$slots" | tr , '\n'
	done | sort -n -u | paste -sd, -)
	active=$(active_slots "$img")
	expect_eq "$active" "$expected" "$img: active key slots"
	for item in $spec; do
		[ "${item#@}" = "$item" ] || continue
		key=${item%%=*} slots=${item#*=}
		want=yes
		[ "$slots" = - ] && want=no
		expect_eq "$(cs_opens "$img" "$key")" "$want" "$img: cryptsetup with $key"
		expect_eq "$(vmc_opens "$img" "$key")" "$want" "$img: vmcrypt with $key"
		for s in ${active//,/ }; do
			want=no
			case ",$slots," in *",$s,"*) want=yes ;; esac
			expect_eq "$(cs_opens "$img" "$key" "$s")" "$want" \
				"$img: cryptsetup with $key in slot $s"
			expect_eq "$(vmc_opens "$img" "$key" "$s")" "$want" \
				"$img: vmcrypt with $key in slot $s"
		done
	done
}

# expect_healthy IMG: cryptsetup luksDump accepts IMG, cryptsetup repair finds
# nothing to change (the bytes stay the same), vmcrypt dump reads it.
expect_healthy()
{
	local img=$1 before
	cs luksDump "$img" >healthy.dump 2>healthy.err || {
		cat healthy.err >&2
		fail "cryptsetup luksDump rejects $img"
	}
	before=$(sha256 "$img")
	cs repair -q "$img" >healthy.out 2>&1 || {
		cat healthy.out >&2
		fail "cryptsetup repair fails on $img"
	}
	expect_eq "$(sha256 "$img")" "$before" "$img: bytes after cryptsetup repair (nothing to fix)"
	vmc dump "$img" >/dev/null || fail "vmcrypt dump rejects $img"
}

# expect_data IMG KEYVAR: IMG still decrypts to the known plaintext.
expect_data()
{
	local img=$1 key=$2
	expect_eq "$(vmc decrypt --key-file "${!key}" "$img" - | head -c "$(filesize "$PLAIN")" |
		sha256sum | cut -d' ' -f1)" "$PLAIN_SHA" "$img: plaintext"
}

# expect_refused STATUS IMG CMD...: CMD exits STATUS and leaves IMG's bytes alone.
expect_refused()
{
	local want=$1 img=$2 rc=0
	shift 2
	expect_unchanged "$img" "$@" || rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "command: $*" >&2
		head -c 2000 last.err >&2
		fail "expected exit $want, got $rc: $*"
	fi
}

# wait_locked IMG: waits (at most 10 s) until some process holds an exclusive
# flock() on IMG. Reads /proc/locks: probing with flock -n would take the lock
# for an instant and could turn the holder away.
wait_locked()
{
	local ino i
	ino=$(stat -c %i "$1")
	for i in $(seq 200); do
		grep -Eq "FLOCK +ADVISORY +WRITE +[0-9]+ +[0-9a-f]+:[0-9a-f]+:$ino " /proc/locks &&
			return 0
		sleep 0.05
	done
	fail "nothing locked $1"
}
