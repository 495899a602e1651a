#!/usr/bin/env python3
"""Checks a built binary for two closures of this package that share one
mangled name.

Why: Swift 6.3.1 gave a closure written inside a `#expect(...)` argument the
same name ("closure #8 in closure #1 in SnapshotServiceTests.refusals...") as
a closure in the surrounding code. LLVM kept both bodies by renaming one
(".43"), and the call site of the second ran the first: a test's Remove sent
the Prepare written three lines above it, and the test recorded the result
as a known client bug for months. The renamed copy is visible in the symbol
table, so this lists every closure symbol of the package's own modules that
carries such a numeric suffix (async resume partials, `.resume.N`, and
LLVM's `.llvm.N` are ordinary and skipped).

Usage: scripts/check-closure-names.py BINARY [BINARY ...]   (exit 1 when one is found)
"""

import os
import re
import subprocess
import sys


def package_modules(root):
    modules = set()
    for tier in ("Sources", "Tests"):
        for name in os.listdir(os.path.join(root, tier)):
            if os.path.isdir(os.path.join(root, tier, name)):
                modules.add(name)
    return modules


def module_of(symbol):
    """The module a Swift symbol (`$s<length><name>...`) belongs to."""
    match = re.match(r"\$s(\d+)", symbol)
    if not match:
        return None
    start = match.end()
    return symbol[start:start + int(match.group(1))]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    modules = package_modules(root)
    suffixed = []
    for binary in sys.argv[1:]:
        names = subprocess.run(["nm", "--defined-only", binary], check=True, capture_output=True,
                               text=True).stdout.split("\n")
        for line in names:
            symbol = line.rsplit(" ", 1)[-1]
            if not re.search(r"\.\d+\w*$", symbol) or re.search(r"\.(resume|llvm)\.\d+$", symbol):
                continue
            if module_of(symbol) in modules:
                suffixed.append(symbol)
    if not suffixed:
        return 0
    demangled = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(suffixed), check=True,
                               capture_output=True, text=True).stdout.split("\n")
    clashes = sorted({name for name in demangled if "closure #" in name and "thunk for" not in name})
    if not clashes:
        return 0
    print("closures that share a mangled name (a call site may run the wrong one; move the closure out of the macro):")
    for name in clashes:
        print("  " + name)
    return 1


if __name__ == "__main__":
    sys.exit(main())
