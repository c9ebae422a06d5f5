#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prints the test summary from one or more test logs in meson's testlog.json format
(one JSON object per line, with "name" and "result"): the bad-input matrix's counts,
failed and skipped tests with their reason, then one line 'N passed, N failed,
N skipped' over all of them.

  test-summary.py [LABEL=]LOG...

A LABEL prefixes the names of that log's tests (e.g. asan=build-asan/meson-logs/asan.json).
A log that is missing or unreadable counts as one failure: a stage that should have
written it did not run to the end."""
import json
import re
import sys

passed = failed = skipped = 0
skips = []
fails = []
badinput = []  # (label, line) of each "N bad inputs tried" line
for arg in sys.argv[1:]:
    label, sep, path = arg.partition("=")
    if not sep:
        label, path = "", arg
    prefix = label + ": " if label else ""
    try:
        with open(path) as f:
            lines = [line for line in f if line.strip()]
    except OSError as e:
        failed += 1
        fails.append((prefix + path, "log missing: %s" % e.strerror))
        continue
    for line in lines:
        t = json.loads(line)
        res = t.get("result")
        name = prefix + t["name"]
        for l in (t.get("stdout") or "").splitlines():
            if re.match(r"^\S+: \d+ bad inputs tried", l):
                badinput.append((label, prefix + l.strip()))
        if res in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif res == "SKIP":
            skipped += 1
            reason = ""
            for out in (t.get("stdout") or "", t.get("stderr") or ""):
                for l in out.splitlines():
                    if "SKIP" in l.upper():
                        reason = l.strip()
            skips.append((name, reason or "(no reason printed)"))
        else:
            failed += 1
            fails.append((name, res))
for label in sorted(set(lb for lb, _ in badinput)):
    lines = [l for lb, l in badinput if lb == label]
    for l in lines:
        print(l)
    total = sum(int(re.search(r"(\d+) bad inputs tried", l).group(1)) for l in lines)
    print("%sbad inputs tried in all: %d" % (label + ": " if label else "", total))
for name, res in fails:
    print(f"FAILED: {name} ({res})")
for name, reason in skips:
    print(f"SKIPPED: {name}: {reason}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
