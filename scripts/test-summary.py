#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Prints the test summary from meson's test log: skipped tests with their reason, then
one line 'N passed, N failed, N skipped'."""
import json
import sys

passed = failed = skipped = 0
skips = []
fails = []
with open(sys.argv[1]) as f:
    for line in f:
        t = json.loads(line)
        res = t.get("result")
        if res in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif res == "SKIP":
            skipped += 1
            reason = ""
            for out in (t.get("stdout") or "", t.get("stderr") or ""):
                for l in out.splitlines():
                    if "SKIP" in l.upper():
                        reason = l.strip()
            skips.append((t["name"], reason or "(no reason printed)"))
        else:
            failed += 1
            fails.append((t["name"], res))
for name, res in fails:
    print(f"FAILED: {name} ({res})")
for name, reason in skips:
    print(f"SKIPPED: {name}: {reason}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
