#!/usr/bin/env python3
"""Checks Package.swift's one rule for NonisolatedNonsendingByDefault: no target
built without it depends on a target built with it.

Why: Swift 6.3.1 handed MemoryDevice.write a garbage buffer when TestSupport,
built without the setting, called a device requirement declared in a module
built with it (DeviceCopyTests crashed every run). Package.swift therefore
enables it (`blockLayer`) for BlockDevices and everything that depends on it.
A new target that depends on BlockDevices, or on any `blockLayer` module, but
is given `strict` would bring the crash back; this says which, at once.

Usage: scripts/check-nonsending-boundary.py   (from anywhere; runs `swift package dump-package`)
"""

import json
import os
import subprocess
import sys

FEATURE = "NonisolatedNonsendingByDefault"


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    package = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True,
                                        capture_output=True, text=True).stdout)
    with_feature = set()
    dependencies = {}
    for target in package["targets"]:
        settings = target.get("settings") or []
        if any(s.get("kind", {}).get("enableUpcomingFeature", {}).get("_0") == FEATURE for s in settings):
            with_feature.add(target["name"])
        names = set()
        for dependency in target["dependencies"]:
            for kind in ("byName", "target"):
                if kind in dependency:
                    names.add(dependency[kind][0])
        dependencies[target["name"]] = names
    swift_targets = {t["name"] for t in package["targets"] if t["type"] != "system"}
    violations = [(name, sorted(dependencies[name] & with_feature))
                  for name in sorted(swift_targets - with_feature) if dependencies[name] & with_feature]
    for name, on in violations:
        print(f"{name} is built without {FEATURE} but depends on {', '.join(on)}, built with it: "
              f"give {name} `blockLayer` in Package.swift (see the comment there)", file=sys.stderr)
    if not with_feature:
        print(f"no target enables {FEATURE}: this check has nothing to check", file=sys.stderr)
        return 1
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
