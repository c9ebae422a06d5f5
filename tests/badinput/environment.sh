#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Bad-input matrix, the surroundings of an image: key files that are empty, too large
# (> 8 MiB), missing, unreadable, directories or shorter than --keyfile-offset; images
# that are not regular files (directory, FIFO, /dev/null, dangling and looping
# symlinks, missing); a read-only image (0444) used by an unprivileged user (setpriv)
# with every verb that writes; an image on a full file system (a 20 MiB tmpfs) with
# every verb that needs new blocks; an image locked (flock) by another writer or
# reader. Each gives its documented status and one error line, and the
# image keeps its bytes.
# shellcheck source-path=SCRIPTDIR source=common.sh
. "${BADINPUT_DIR:-$(dirname "$0")}/common.sh"

# Per case: a header backup and a token to write with.
BK=backup
TOKEN=token.json

make_img()
{
	vmc create "$1" --size 8M --key-file "$PASS" --batch-mode "${FAST_PBKDF2[@]}" \
		--luks2-keyslots-size 1M "${@:2}" >/dev/null
}

case_key_files()
{
	make_img img
	: >empty.key
	head -c $((8 * 1024 * 1024 + 1)) /dev/zero >big.key
	mkdir dir.key
	printf 'short' >short.key
	for v in test-key decrypt; do
		local out=()
		[ "$v" = decrypt ] && out=(out.raw)
		attempt 1 img "$v: empty key file" vmc "$v" img "${out[@]}" --key-file empty.key
		attempt 1 img "$v: key file larger than 8 MiB" vmc "$v" img "${out[@]}" --key-file big.key
		attempt 4 img "$v: missing key file" vmc "$v" img "${out[@]}" --key-file no-such.key
		attempt 1 img "$v: key file is a directory" vmc "$v" img "${out[@]}" --key-file dir.key
		attempt 1 img "$v: key file is /dev/null" vmc "$v" img "${out[@]}" --key-file /dev/null
		attempt 1 img "$v: --keyfile-offset past the end of the key file" \
			vmc "$v" img "${out[@]}" --key-file short.key --keyfile-offset 100
		attempt 1 img "$v: --keyfile-size 0" vmc "$v" img "${out[@]}" --key-file "$PASS" --keyfile-size 0
		attempt 1 img "$v: --keyfile-size past 8 MiB" \
			vmc "$v" img "${out[@]}" --key-file big.key --keyfile-size 9000000
		attempt 2 img "$v: key file with the passphrase and a newline" \
			vmc "$v" img "${out[@]}" --key-file <(cat "$PASS"; echo)
		rm -f out.raw
	done
	# New passphrases come from key files too.
	attempt 1 img "add-key: empty new key file" vmc add-key img empty.key --key-file "$PASS" \
		"${FAST_PBKDF2[@]}"
	attempt 1 img "add-key: new key file larger than 8 MiB" vmc add-key img big.key \
		--key-file "$PASS" "${FAST_PBKDF2[@]}"
	attempt 1 img "create: empty key file" vmc create new.img --size 8M --key-file empty.key \
		--batch-mode "${FAST_PBKDF2[@]}"
	[ ! -e new.img ] || bad "create with an empty key file" "left new.img behind"
	if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
		cp "$PASS" secret.key
		chmod 0600 secret.key
		chmod 0755 "$TMPDIR_TEST" .
		chmod 0644 img
		attempt 8 img "test-key: unreadable key file (user nobody)" \
			setpriv --reuid=nobody --regid=nogroup --clear-groups "$VMCRYPT" test-key img \
			--key-file secret.key
	fi
}

# create DISK@N: --size is optional (the image fills the partition) and one that
# does not fit is the caller's mistake (1), the disk untouched.
case_partition_size()
{
	requires sfdisk
	truncate -s 64M disk
	printf 'label: gpt\n,16M\n,32M\n' | sfdisk -q disk
	attempt 1 disk "create DISK@2 --size beyond the partition" vmc create disk@2 --size 40M \
		--key-file "$PASS" --force --batch-mode "${FAST_PBKDF2[@]}"
	attempt 1 disk "create without --size" vmc create new.img --key-file "$PASS" \
		"${FAST_PBKDF2[@]}"
	[ ! -e new.img ] || bad "create without --size" "left new.img behind"
	vmc create disk@2 --key-file "$PASS" --force --batch-mode "${FAST_PBKDF2[@]}" ||
		bad "create DISK@2 without --size" "exit $?"
	dd if=disk of=p2 bs=1M skip=17 count=32 status=none
	cs open --test-passphrase --key-file "$PASS" p2 || bad "create DISK@2" "cryptsetup refuses it"
	local plain
	plain=$(vmc dump disk@2 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["segments"]["0"]["size"])')
	[ "$plain" = dynamic ] || bad "create DISK@2" "segment size $plain, not the whole partition"
}

# A conversion journal another header left beside an image (the image restored from a
# backup after a cut conversion) is never restored onto it: status 5, both untouched.
case_stale_journal()
{
	make_img img
	make_img other --sector-size 512
	vmc convert --type luks1 other --batch-mode
	head -c $((2 * 1024 * 1024)) other >img.vmcrypt-convert
	attempt 5 img "test-key beside a foreign conversion journal" vmc test-key img \
		--key-file "$PASS"
	attempt 5 img "add-key beside a foreign conversion journal" vmc add-key img "$PASS2" \
		--key-file "$PASS" "${FAST_PBKDF2[@]}"
	[ -e img.vmcrypt-convert ] || bad "stale journal" "the journal was removed"
	grep -q "another header" a.err || bad "stale journal" "the message does not say why"
	rm -f img.vmcrypt-convert
}

case_not_files()
{
	make_img img
	mkdir adir
	mkfifo afifo
	ln -s no-such-target dangling
	ln -s loop1 loop2
	ln -s loop2 loop1
	local what target
	for target in adir afifo /dev/null dangling loop1 no-such-file; do
		what="image '$target'"
		attempt "1 4 8" img "$what: dump" timeout 30 "$VMCRYPT" dump "$target"
		attempt "1 4 8" img "$what: test-key" timeout 30 "$VMCRYPT" test-key "$target" \
			--key-file "$PASS"
		attempt "1 4 8" img "$what: detached header" timeout 30 "$VMCRYPT" test-key img \
			--header "$target" --key-file "$PASS"
	done
}

# The verbs that write to IMG, each an attempt with CODES; NEW: a second passphrase file.
write_verbs()
{
	local codes=$1 img=$2 what=$3 run=("${@:4}")
	attempt "$codes" "$img" "$what: add-key" "${run[@]}" add-key "$img" "$PASS2" \
		--key-file "$PASS" "${FAST_PBKDF2[@]}"
	attempt "$codes" "$img" "$what: change-key" "${run[@]}" change-key "$img" "$PASS2" \
		--key-file "$PASS" "${FAST_PBKDF2[@]}"
	attempt "$codes" "$img" "$what: remove-key" "${run[@]}" remove-key "$img" --key-file "$PASS" \
		--force --batch-mode
	attempt "$codes" "$img" "$what: kill-slot" "${run[@]}" kill-slot "$img" 0 --batch-mode
	attempt "$codes" "$img" "$what: erase" "${run[@]}" erase "$img" --batch-mode
	attempt "$codes" "$img" "$what: config --label" "${run[@]}" config "$img" --label x
	attempt "$codes" "$img" "$what: token import" "${run[@]}" token import "$img" \
		--json-file "$TOKEN"
	attempt "$codes" "$img" "$what: header restore" "${run[@]}" header restore "$img" \
		"$BK" --batch-mode
	attempt "$codes" "$img" "$what: repair" "${run[@]}" repair "$img"
	attempt "$codes" "$img" "$what: convert" "${run[@]}" convert --type luks1 "$img" --batch-mode
	attempt "$codes" "$img" "$what: rekey" "${run[@]}" rekey "$img" --key-file "$PASS" \
		--batch-mode "${FAST_PBKDF2[@]}"
	attempt "$codes" "$img" "$what: decrypt --in-place" "${run[@]}" decrypt --in-place "$img" \
		--key-file "$PASS" --batch-mode
}

case_read_only()
{
	if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null || ! id nobody >/dev/null 2>&1; then
		echo "note: not root or no setpriv/nobody: running as $(id -un) on a 0444 file"
		AS=()
	else
		AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	fi
	make_img img
	BK=$PWD/backup TOKEN=$PWD/token.json
	vmc header backup img "$BK" >/dev/null
	printf '{"type":"x","keyslots":[]}' >"$TOKEN"
	chmod 0755 "$TMPDIR_TEST" .
	chmod 0644 "$PASS" "$PASS2" "$BK" "$TOKEN"
	chmod 0444 img
	write_verbs 8 img "read-only image" "${AS[@]}" "$VMCRYPT"
	# Reading still works.
	attempt 0 img "read-only image: test-key" "${AS[@]}" "$VMCRYPT" test-key img --key-file "$PASS"
	attempt 0 img "read-only image: dump" "${AS[@]}" "$VMCRYPT" dump img
}

case_full_fs()
{
	local mnt=$PWD/mnt
	mkdir "$mnt"
	if ! mount -t tmpfs -o size=20M tmpfs "$mnt" 2>/dev/null; then
		echo "SKIP: full file system: cannot mount a tmpfs here (not root, or no permission)"
		return 0
	fi
	# shellcheck disable=SC2064 # the path is fixed now
	trap "umount '$mnt'" EXIT
	make_img "$mnt/img"
	BK=$PWD/backup TOKEN=$PWD/token.json
	vmc header backup "$mnt/img" "$BK" >/dev/null
	printf '{"type":"x","keyslots":[]}' >"$TOKEN"
	head -c 1048576 /dev/urandom >plain
	head -c 40M /dev/zero >"$mnt/fill" 2>/dev/null || true
	echo "full: $(df -k "$mnt" | tail -1)"
	# New blocks are needed: key material in a sparse area, new files.
	attempt 8 "$mnt/img" "full fs: add-key" vmc add-key "$mnt/img" "$PASS2" --key-file "$PASS" \
		"${FAST_PBKDF2[@]}"
	attempt 8 "$mnt/img" "full fs: change-key" vmc change-key "$mnt/img" "$PASS2" \
		--key-file "$PASS" "${FAST_PBKDF2[@]}"
	attempt 8 "$mnt/img" "full fs: rekey" vmc rekey "$mnt/img" --key-file "$PASS" --batch-mode \
		"${FAST_PBKDF2[@]}"
	attempt 8 "$mnt/img" "full fs: create" vmc create "$mnt/new.img" --size 4M --key-file "$PASS" \
		--batch-mode "${FAST_PBKDF2[@]}"
	[ ! -e "$mnt/new.img" ] || bad "full fs: create" "left a partial image behind"
	attempt 8 "$mnt/img" "full fs: encrypt" vmc encrypt plain "$mnt/enc.img" --key-file "$PASS" \
		--batch-mode "${FAST_PBKDF2[@]}"
	[ ! -e "$mnt/enc.img" ] || bad "full fs: encrypt" "left a partial image behind"
	attempt 8 "$mnt/img" "full fs: decrypt" vmc decrypt "$mnt/img" "$mnt/out.raw" --key-file "$PASS"
	[ ! -e "$mnt/out.raw" ] || bad "full fs: decrypt" "left partial output behind"
	attempt 8 "$mnt/img" "full fs: header backup" vmc header backup "$mnt/img" "$mnt/bk"
	[ ! -e "$mnt/bk" ] || bad "full fs: header backup" "left a partial backup behind"
	# Rewriting the metadata in place needs no new block: it may succeed.
	cp "$mnt/img" "$PWD/copy.img"
	attempt "0 8" "$PWD/copy.img" "full fs: the image still opens" vmc test-key "$mnt/img" \
		--key-file "$PASS"
}

# hold_lock ex|sh FILE: another process holds flock() on FILE (as cryptsetup or a second
# vmcrypt would) until release_lock. One process, so killing it releases the lock
# (flock(1) would leave its child holding it).
hold_lock()
{
	rm -f lock.ready
	"$PYTHON" -S -c 'import fcntl, sys, time
f = open(sys.argv[2], "rb")
fcntl.flock(f, fcntl.LOCK_EX if sys.argv[1] == "ex" else fcntl.LOCK_SH)
open("lock.ready", "w").close()
time.sleep(300)' "$1" "$2" &
	HOLDER=$!
	while [ ! -e lock.ready ]; do sleep 0.05; done
}

release_lock()
{
	kill "$HOLDER"
	wait "$HOLDER" 2>/dev/null || true
}

case_locked()
{
	make_img img
	BK=$PWD/backup TOKEN=$PWD/token.json
	vmc header backup img "$BK" >/dev/null
	printf '{"type":"x","keyslots":[]}' >"$TOKEN"
	# Another writer: everything is refused at once, reading too.
	hold_lock ex img
	write_verbs 5 img "locked by a writer (LOCK_EX)" "$VMCRYPT"
	attempt 5 img "locked by a writer: test-key" vmc test-key img --key-file "$PASS"
	attempt 5 img "locked by a writer: decrypt" vmc decrypt img out.raw --key-file "$PASS"
	release_lock
	# Another reader: writers are refused, readers are not.
	hold_lock sh img
	write_verbs 5 img "locked by a reader (LOCK_SH)" "$VMCRYPT"
	attempt 0 img "locked by a reader: test-key" vmc test-key img --key-file "$PASS"
	attempt 0 img "locked by a reader: dump" vmc dump img
	release_lock
}

run_case "key files" case_key_files
run_case "create in a partition: --size" case_partition_size
run_case "a foreign conversion journal beside the image" case_stale_journal
run_case "images that are not files" case_not_files
run_case "read-only image, unprivileged user" case_read_only
run_case "image on a full file system" case_full_fs
run_case "image locked by another process" case_locked
finish_matrix
