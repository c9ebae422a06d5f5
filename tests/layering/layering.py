#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The library's layering, checked from the source: which lib/ module may include which.

Each folder of lib/ is a module on a floor. A module may include its own files
and the headers of modules on lower floors, and no others: never one above it,
never a peer on its own floor, never another module's *_internal.h. Include
cycles between files are refused as well. lib/README.md explains the floors.

  layering.py LIBDIR            check; exit 1 with one line per violation
  layering.py --graph LIBDIR    print the module graph (who includes whom)
  layering.py --self-test       show that each rule catches what it should
"""
import os
import re
import sys
import tempfile

# Floor of each module, ground first. Modules on one floor do not include each other.
FLOORS = {
    "base": 0,
    "io": 1,
    "crypto": 1,
    "format": 2,
    "qcow2": 2,
    "volume": 3,
    "reencrypt": 4,
    "image": 5,
    "audit": 5,
    "scan": 5,
}
# A module that may use only some headers of a lower one (an empty set: none of them). The
# audit reads host files its own way and stands on base, with one exception: qcow2's pure
# format header (header, snapshot table and map parsing over a caller's reader), not
# qcow2_io.h (storage handles, locks); nothing of io, crypto, format, volume, reencrypt.
NARROW = {
    ("audit", "qcow2"): {"qcow2/qcow2.h"},
    ("audit", "io"): set(),
    ("audit", "crypto"): set(),
    ("audit", "format"): set(),
    ("audit", "volume"): set(),
    ("audit", "reencrypt"): set(),
}
PUBLIC = "vmcrypt.h"  # include/vmcrypt.h: the contract's types and codes, usable everywhere
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
SYSTEM_INCLUDE = re.compile(r'^\s*#\s*include\s+<([^>]+)>', re.M)
# Libraries one module owns: their headers (and so their types) appear nowhere else.
OWNED = {"openssl/": "crypto", "gcrypt.h": "crypto", "argon2.h": "crypto"}


def sources(libdir):
    for root, _, files in os.walk(libdir):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(root, f), libdir)


def module_of(rel):
    parts = rel.split(os.sep)
    return parts[0] if len(parts) > 1 else None


def check(libdir):
    """Returns (violations, module edges {(from, to): [file -> header, ...]})."""
    bad, edges, graph = [], {}, {}
    for rel in sources(libdir):
        mod = module_of(rel)
        if mod is None:
            bad.append(f"{rel}: a file at the root of lib/ belongs to no module: give it a folder")
            continue
        if mod not in FLOORS:
            bad.append(f"{rel}: module '{mod}' has no floor: add it to FLOORS and lib/README.md")
            continue
        with open(os.path.join(libdir, rel), encoding="utf-8") as fh:
            text = fh.read()
        graph.setdefault(rel, set())
        for inc in SYSTEM_INCLUDE.findall(text):
            for prefix, owner in OWNED.items():
                if inc.startswith(prefix) and mod != owner:
                    bad.append(f"{rel}: includes <{inc}>, which only {owner}/ may use")
        for inc in INCLUDE.findall(text):
            if inc == PUBLIC:
                continue
            target = os.path.normpath(inc)
            if not os.path.exists(os.path.join(libdir, target)):
                bad.append(f"{rel}: includes \"{inc}\", which is no file of lib/ (write it as module/file.h)")
                continue
            graph[rel].add(target)
            tmod = module_of(target)
            if tmod == mod:
                continue
            edges.setdefault((mod, tmod), []).append(f"{rel} -> {target}")
            if tmod not in FLOORS:
                continue
            if FLOORS[tmod] > FLOORS[mod]:
                bad.append(f"{rel}: includes {target}: {tmod} (floor {FLOORS[tmod]}) stands above {mod} (floor {FLOORS[mod]})")
            elif FLOORS[tmod] == FLOORS[mod]:
                bad.append(f"{rel}: includes {target}: {tmod} and {mod} share floor {FLOORS[mod]} and stay apart")
            allowed = NARROW.get((mod, tmod))
            if allowed is not None and target not in allowed:
                only = f"only {', '.join(sorted(allowed))}" if allowed else "nothing"
                bad.append(f"{rel}: includes {target}: {mod} may include {only} of {tmod}")
            if os.path.basename(target).endswith("_internal.h"):
                bad.append(f"{rel}: includes {target}, private to module {tmod}")
    bad += cycles(graph)
    return bad, edges


def cycles(graph):
    """Include cycles between files (a.h -> b.h -> a.h), one line each."""
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                loop = stack[stack.index(m):] + [m]
                found.append("include cycle: " + " -> ".join(loop))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    return found


def print_graph(edges):
    mods = sorted(FLOORS, key=lambda m: (-FLOORS[m], m))
    for m in mods:
        outs = sorted({t for (f, t) in edges if f == m}, key=lambda t: (-FLOORS.get(t, 99), t))
        print(f"floor {FLOORS[m]}  {m:<10} -> {', '.join(outs) if outs else '(nothing)'}")


def self_test():
    """A tree with one violation of each kind: every one must be reported."""
    cases = {
        "upward": ({"base/a.h": '#include "image/b.h"\n', "image/b.h": ""}, "stands above"),
        "peer": ({"io/a.h": '#include "crypto/b.h"\n', "crypto/b.h": ""}, "share floor"),
        "internal": ({"image/a.c": '#include "volume/v_internal.h"\n', "volume/v_internal.h": ""}, "private to module"),
        "cycle": ({"format/a.h": '#include "format/b.h"\n', "format/b.h": '#include "format/a.h"\n'}, "include cycle"),
        "root file": ({"api.c": ""}, "root of lib/"),
        "owned library": ({"format/a.c": "#include <gcrypt.h>\n"}, "only crypto/ may use"),
        "unknown module": ({"newmod/x.c": ""}, "has no floor"),
        "narrow": ({"audit/a.c": '#include "qcow2/qcow2_io.h"\n', "qcow2/qcow2_io.h": ""}, "may include only"),
        "narrow none": ({"audit/a.c": '#include "io/storage.h"\n', "io/storage.h": ""}, "may include nothing"),
        "clean": ({"image/a.c": '#include "base/u.h"\n#include "vmcrypt.h"\n', "base/u.h": ""}, None),
    }
    failed = 0
    for name, (files, expect) in cases.items():
        with tempfile.TemporaryDirectory() as d:
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(d, rel)) or d, exist_ok=True)
                with open(os.path.join(d, rel), "w", encoding="utf-8") as fh:
                    fh.write(text)
            bad, _ = check(d)
        ok = (not bad) if expect is None else any(expect in b for b in bad)
        print(f"{'ok' if ok else 'FAIL'}: {name}: {bad if bad else 'no violation'}")
        failed += not ok
    return 1 if failed else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    graph = len(argv) == 3 and argv[1] == "--graph"
    if len(argv) != 2 and not graph:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    bad, edges = check(argv[-1])
    if graph:
        print_graph(edges)
    for b in bad:
        print(b)
    if not bad:
        n = sum(len(v) for v in edges.values())
        print(f"layering: {len(FLOORS)} modules, {len(edges)} module edges ({n} includes), all downward, no cycles")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
