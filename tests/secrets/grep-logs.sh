#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Searches files (or every file under directories) for the test suite's passphrases, as
# text, in hex and in base64; exit 1 naming each file and passphrase found.
#
#   grep-logs.sh [--pass FILE]... PATH...
#
# Without --pass, the passphrases are those the tests use: tests/integration/functions.sh
# (PASS, PASS2, WRONG) and the fixtures' tests/images/*.info. scripts/test.sh runs this
# over build*/meson-logs/ after all suites: everything every test printed.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3

passfiles=()
while [ $# -gt 0 ] && [ "$1" = --pass ]; do
	passfiles+=("$2")
	shift 2
done
[ $# -gt 0 ] || { echo "usage: $0 [--pass FILE]... PATH..." >&2; exit 1; }

exec "$py" -S - "$top" "${#passfiles[@]}" "${passfiles[@]}" "$@" <<'PYEOF'
import base64, os, re, sys
top, npass = sys.argv[1], int(sys.argv[2])
passfiles, paths = sys.argv[3:3 + npass], sys.argv[3 + npass:]
secrets = []
for f in passfiles:
    with open(f, "rb") as fh:
        secrets.append(fh.read())
if not passfiles:
    with open(os.path.join(top, "tests/integration/functions.sh")) as fh:
        for m in re.finditer(r"printf '%s' '([^']+)' >\"\$(PASS|PASS2|WRONG)\"", fh.read()):
            secrets.append(m.group(1).encode())
    imgdir = os.path.join(top, "tests/images")
    for name in sorted(os.listdir(imgdir)) if os.path.isdir(imgdir) else []:
        if name.endswith(".info"):
            with open(os.path.join(imgdir, name)) as fh:
                for line in fh:
                    if line.startswith("passphrase="):
                        secrets.append(line[len("passphrase="):].rstrip("\n").encode())
secrets = sorted(set(s for s in secrets if len(s) >= 6))
if not secrets:
    sys.exit("grep-logs: no passphrases to look for")
forms = []
for s in secrets:
    forms += [(s, s, "text"), (s, s.hex().encode(), "hex"), (s, s.hex().upper().encode(), "HEX"),
              (s, base64.b64encode(s).rstrip(b"="), "base64")]
files = []
for p in paths:
    if os.path.isdir(p):
        for d, _, fs in os.walk(p):
            files += [os.path.join(d, f) for f in fs]
    elif os.path.exists(p):
        files.append(p)
found = 0
size = 0
for f in sorted(files):
    with open(f, "rb") as fh:
        data = fh.read()
    size += len(data)
    for s, form, how in forms:
        if form in data:
            print("grep-logs: %s contains the passphrase %r (%s)" % (f, s.decode("utf-8", "replace"), how))
            found += 1
print("grep-logs: %d passphrases (text, hex, base64) searched in %d files, %d bytes: %d found" % (
    len(secrets), len(files), size, found))
sys.exit(1 if found else 0)
PYEOF
