#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The systemd user units (contrib/systemd) and vmcrypt serve --systemd, without systemd
# as PID 1:
#  - systemd-analyze verify (system and --user scope) accepts the instantiated units
#    with no warning, and the socket unit listens where libvirt-xml --systemd says;
#    the instance name vmcrypt computes is systemd-escape --path's, odd names included;
#  - the service's ExecStart, run under systemd-socket-activate (LISTEN_FDS=1 on the
#    first connection) with $CREDENTIALS_DIRECTORY holding the passphrase: nothing
#    runs and the image is not opened before a client connects (it is not even there
#    until then); qemu-img reads the plaintext through the socket and writes to it;
#    SIGTERM flushes; the socket stays systemd's;
#  - without a credential the passphrase comes from systemd-ask-password (a stand-in
#    here), by a pipe, never its argv; a failing one or a wrong credential stops serve
#    with the documented status; --systemd without activation listens on the units'
#    socket; --socket under socket activation is refused.
# Environment (meson): SYSTEMD_UNITS_SRC (contrib/systemd), SYSTEMD_UNITS_BUILD (its build
# directory, holding the configured service unit).
# shellcheck source-path=SCRIPTDIR source=functions.sh
. "${SRCDIR:?}/../serve/functions.sh"

requires test -x "$VMCRYPT"
UNITS_SRC=${SYSTEMD_UNITS_SRC:?SYSTEMD_UNITS_SRC must name contrib/systemd}
UNITS_BUILD=${SYSTEMD_UNITS_BUILD:?SYSTEMD_UNITS_BUILD must name the units build directory}
SOCKET_UNIT=$UNITS_SRC/vmcrypt-serve@.socket
SERVICE_UNIT=$UNITS_BUILD/vmcrypt-serve@.service
if [ ! -f "$SOCKET_UNIT" ] || [ ! -f "$SERVICE_UNIT" ]; then
	fail "no units in $UNITS_SRC, $UNITS_BUILD"
fi

# A socket address holds 107 bytes: the runtime directory (RUN, made private) is short.
run_dir()
{
	RUN=$(mktemp -d "$TMPDIR_TEST/r.XXXX")
	chmod 700 "$RUN"
}

# The unit's socket under XDG_RUNTIME_DIR=$RUN, as libvirt-xml --systemd prints it.
xml_socket()
{
	XDG_RUNTIME_DIR=$RUN "$VMCRYPT" libvirt-xml --systemd "$1" >xml.out
	sed -n "s/.*<host transport='unix' socket='\(.*\)'\/>/\1/p" xml.out
}

case_verify()
{
	local inst scope want got
	requires systemd-analyze
	make_plain plain 1024
	new_image img plain luks2
	inst=$(systemd-escape --path "$PWD/img")
	mkdir units
	run_dir
	cp "$SOCKET_UNIT" units/
	# The installed ExecStart names bindir's vmcrypt: here, the one under test.
	sed "s|^ExecStart=[^ ]*/vmcrypt |ExecStart=$VMCRYPT |" "$SERVICE_UNIT" >units/vmcrypt-serve@.service
	grep -q "^ExecStart=$VMCRYPT serve --systemd %f$" units/vmcrypt-serve@.service ||
		fail "unexpected ExecStart: $(grep ExecStart "$SERVICE_UNIT")"
	for scope in --system --user; do
		XDG_RUNTIME_DIR=$RUN systemd-analyze "$scope" verify --man=no \
			"$PWD/units/vmcrypt-serve@$inst.socket" "$PWD/units/vmcrypt-serve@$inst.service" \
			>verify.out 2>&1 || fail "systemd-analyze $scope verify: $(cat verify.out)"
		[ ! -s verify.out ] || fail "systemd-analyze $scope verify warns: $(cat verify.out)"
		echo "ok: systemd-analyze $scope verify vmcrypt-serve@$inst.{socket,service}"
	done
	# The socket unit's address (%t/vmcrypt/%i.sock) is what libvirt-xml --systemd names.
	XDG_RUNTIME_DIR=$RUN SYSTEMD_LOG_LEVEL=debug systemd-analyze --user verify --man=no \
		"$PWD/units/vmcrypt-serve@$inst.socket" >dump.out 2>&1 || fail "$(tail dump.out)"
	# The dump writes a '\' as '\\'.
	got=$(sed -n 's/^[[:space:]]*ListenStream: //p' dump.out | sed 's/\\\\/\\/g')
	want=$(xml_socket img)
	expect_eq "$got" "$want" "the socket unit's ListenStream"
	expect_eq "$want" "$RUN/vmcrypt/$inst.sock" "libvirt-xml --systemd's socket"
	grep -qF "systemctl --user enable --now 'vmcrypt-serve@$inst'.socket" xml.out ||
		grep -qF "systemctl --user enable --now vmcrypt-serve@$inst.socket" xml.out ||
		fail "libvirt-xml --systemd does not enable the socket: $(cat xml.out)"
	grep -q "LoadCredential=vmcrypt.passphrase:" xml.out || fail "no credential drop-in printed"
	echo "ok: the socket listens at $want, as libvirt-xml --systemd prints"
}

# vmcrypt's instance names are systemd-escape --path's.
case_escape()
{
	local name inst want dir
	requires systemd-escape
	make_plain plain 1024
	new_image img plain luks2
	run_dir
	# Short paths: the image's escaped path is part of the socket's.
	dir=$(mktemp -d "$TMPDIR_TEST/e.XXXX")
	for name in disk.img 'my-disk 1.img' 'a:b_c,d.img' 'back\slash.img' 'ü.img' '.dot.img'; do
		ln img "$dir/$name"
		want="$RUN/vmcrypt/$(systemd-escape --path "$dir/$name").sock"
		inst=$(xml_socket "$dir/$name")
		expect_eq "$inst" "$want" "the socket of '$name'"
	done
	echo "ok: instance names as systemd-escape --path"
}

# The pids of the children of $1.
children()
{
	ps -o pid= --ppid "$1" | tr -d ' ' || true
}

# activate_start SOCK ENVVAR... -- CMD...: systemd-socket-activate -l SOCK passing ENVVARs,
# in the background (output sa.out, sa.err); sets SA_PID once SOCK exists. The command
# replaces systemd-socket-activate's process on the first connection (same pid).
activate_start()
{
	local sock=$1 args=()
	shift
	while [ "$1" != -- ]; do
		args+=(-E "$1")
		shift
	done
	shift
	systemd-socket-activate -l "$sock" "${args[@]}" "$@" >sa.out 2>sa.err </dev/null &
	SA_PID=$!
	BG_PIDS+=("$SA_PID")
	wait_for test -S "$sock" || fail "systemd-socket-activate did not listen: $(cat sa.err)"
}

# The service's command line, from the unit: vmcrypt under test, %f = IMAGE.
service_cmd()
{
	local line
	line=$(sed -n 's/^ExecStart=//p' "$SERVICE_UNIT")
	read -ra SERVICE_CMD <<<"${line//%f/$1}"
	SERVICE_CMD[0]=$VMCRYPT
}

# QEMU's json: filename of the NBD export on the socket $1 (a '\' escaped for JSON).
nbd_json()
{
	printf 'json:{"file":{"driver":"nbd","server":{"type":"unix","path":"%s"}}}' "${1//\\/\\\\}"
}

case_activate()
{
	local sock=$PWD/s.sock kids
	requires_plugin
	requires systemd-socket-activate
	requires qemu-img
	trap case_cleanup EXIT
	make_plain plain 8192
	new_image img plain luks2
	mkdir cred
	cp "$PASS" cred/vmcrypt.passphrase
	chmod 600 cred/vmcrypt.passphrase
	service_cmd "$PWD/img"
	# The image is elsewhere until the first connection: opening it before would fail.
	mv img img.away
	CREDENTIALS_DIRECTORY=$PWD/cred activate_start "$sock" CREDENTIALS_DIRECTORY \
		VMCRYPT_NBDKIT_PLUGIN -- "${SERVICE_CMD[@]}"
	sleep 1
	kids=$(children "$SA_PID")
	[ -z "$kids" ] || fail "something runs before the first connection: $(ps -o args= -p "$kids")"
	grep -q "Execing" sa.err && fail "the service started before a connection: $(cat sa.err)"
	[ "$(stat -c %s img.away)" -gt 0 ] || fail "the image was touched"
	mv img.away img
	echo "ok: listening on $sock, nothing started and the image untouched before a connection"

	qemu-img convert -f raw -O raw "$(nbd_json "$sock")" out.raw ||
		fail "qemu-img through the activated socket: $(cat sa.err)"
	expect_same out.raw plain "qemu-img read through the socket-activated serve"
	grep -q "on the socket systemd passed, $sock" sa.out || fail "serve's message: $(cat sa.out)"
	grep -q "nbdkit" <(ps -o args= --ppid "$SA_PID") || fail "no nbdkit child of serve"
	ps -o args= --ppid "$SA_PID" >nbdkit.args
	! grep -q -e '--unix' -e "$(cat "$PASS")" nbdkit.args || fail "nbdkit's argv: $(cat nbdkit.args)"
	# A second client is served by the same server (systemd's Accept=no).
	make_plain new 8192
	qemu-img convert -n -f raw -O raw new "$(nbd_json "$sock")" ||
		fail "qemu-img writing through the activated socket: $(cat sa.err)"
	kill -TERM "$SA_PID"
	wait "$SA_PID" || fail "vmcrypt serve exited $? after SIGTERM: $(cat sa.err)"
	grep -q 'is flushed and closed' sa.err || fail "serve did not say it flushed: $(cat sa.err)"
	[ -S "$sock" ] || fail "serve removed systemd's socket"
	vmc decrypt img dec --key-file "$PASS"
	expect_same dec new "vmcrypt decrypt after a write through the socket-activated serve"
}

# A stand-in for systemd-ask-password: records its arguments, prints the passphrase.
fake_ask_password()
{
	cat >ask.sh <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$PWD/ask.args"
cat "$PASS"
echo
EOF
	chmod +x ask.sh
}

case_ask_password()
{
	local sock=$PWD/s.sock
	requires_plugin
	requires systemd-socket-activate
	requires qemu-img
	trap case_cleanup EXIT
	make_plain plain 4096
	new_image img plain luks2
	fake_ask_password
	service_cmd "$PWD/img"
	VMCRYPT_ASK_PASSWORD=$PWD/ask.sh activate_start "$sock" VMCRYPT_ASK_PASSWORD \
		VMCRYPT_NBDKIT_PLUGIN -- "${SERVICE_CMD[@]}"
	qemu-img convert -f raw -O raw "$(nbd_json "$sock")" out.raw ||
		fail "qemu-img through the activated socket: $(cat sa.err)"
	expect_same out.raw plain "read with the passphrase from systemd-ask-password"
	grep -qx -- "--id=vmcrypt:$PWD/img" ask.args || fail "ask-password's arguments: $(cat ask.args)"
	! grep -qF -- "$(cat "$PASS")" ask.args || fail "the passphrase is on ask-password's argv"
	kill -TERM "$SA_PID"
	wait "$SA_PID" || fail "vmcrypt serve exited $? after SIGTERM: $(cat sa.err)"
}

case_errors()
{
	requires_plugin
	make_plain plain 1024
	new_image img plain luks2
	mkdir cred
	cp "$WRONG" cred/vmcrypt.passphrase
	CREDENTIALS_DIRECTORY=$PWD/cred expect_exit "$EXIT_PASS" \
		vmc serve --systemd img --socket "$PWD/s.sock"
	VMCRYPT_ASK_PASSWORD=false expect_exit "$EXIT_CANCELLED" \
		vmc serve --systemd img --socket "$PWD/s.sock"
	grep -q "gave no passphrase" last.err || fail "ask-password's failure: $(cat last.err)"
	# Socket activation (fd 3, LISTEN_PID = the pid that execs vmcrypt) with --socket.
	# shellcheck disable=SC2016 # expanded by the inner bash
	expect_exit "$EXIT_USAGE" bash -c 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@" 3<"$0"' img \
		"$VMCRYPT" serve --systemd --key-file "$PASS" --socket "$PWD/s.sock" img
	grep -q "socket activation" last.err || fail "--socket under activation: $(cat last.err)"
	# LISTEN_FDS without its fd: refused.
	# shellcheck disable=SC2016 # expanded by the inner bash
	expect_exit "$EXIT_USAGE" bash -c 'LISTEN_PID=$$ LISTEN_FDS=2 exec "$@" 3<"$0" 4<&-' img \
		"$VMCRYPT" serve --systemd --key-file "$PASS" img
	grep -q "fd 4 is not open" last.err || fail "a missing fd: $(cat last.err)"
	echo "ok: wrong credential, failing ask-password, bad activations"
}

# Without socket activation, --systemd listens where the socket unit would.
case_units_socket()
{
	local want
	requires_plugin
	requires qemu-img
	trap case_cleanup EXIT
	make_plain plain 1024
	new_image img plain luks2
	run_dir
	want=$(xml_socket img)
	mkdir cred
	cp "$PASS" cred/vmcrypt.passphrase
	XDG_RUNTIME_DIR=$RUN CREDENTIALS_DIRECTORY=$PWD/cred serve_start --systemd img
	grep -qF "server.path=$want " serve.out || fail "serve --systemd's socket: $(cat serve.out)"
	qemu-img convert -f raw -O raw "$(nbd_json "$want")" out
	expect_same out plain "qemu-img through serve --systemd"
	serve_stop TERM
}

run_case "verify" case_verify
run_case "escape" case_escape
run_case "activate" case_activate
run_case "ask-password" case_ask_password
run_case "errors" case_errors
run_case "units-socket" case_units_socket
finish
