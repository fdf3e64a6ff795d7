#!/usr/bin/env python3
"""The crates compiled into the extension, from ``cargo metadata``: counted against a
ceiling, and written as a CycloneDX SBOM for a wheel.

    python scripts/crates.py count [--ceiling 80]
    python scripts/crates.py sbom WHEEL OUT.json [--target TRIPLE]

The graph is what ``otlp-python`` (the extension) needs to build and run: its normal
and build dependencies, transitively, for one target; dev-dependencies are not in it.
Standard library only, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXTENSION = "otlp-python"
HOST = "x86_64-unknown-linux-gnu"


def metadata(target: str) -> dict[str, Any]:
    out = subprocess.run(
        [
            "cargo",
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
            target,
            "--manifest-path",
            str(ROOT / "Cargo.toml"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def graph(meta: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The packages the extension builds with (normal and build edges only), and the
    edges between them."""
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    (root,) = [pid for pid, p in packages.items() if p["name"] == EXTENSION]
    edges: dict[str, list[str]] = {}
    todo, seen = [root], {root}
    while todo:
        pid = todo.pop()
        edges[pid] = []
        for dep in nodes[pid]["deps"]:
            if not any(k["kind"] in (None, "build") for k in dep["dep_kinds"]):
                continue
            edges[pid].append(dep["pkg"])
            if dep["pkg"] not in seen:
                seen.add(dep["pkg"])
                todo.append(dep["pkg"])
    return sorted((packages[pid] for pid in seen), key=lambda p: (p["name"], p["version"])), edges


def checksums() -> dict[tuple[str, str], str]:
    """(name, version) -> the SHA-256 Cargo.lock records for crates from the registry."""
    lock = (ROOT / "Cargo.lock").read_text()
    out = {}
    for block in lock.split("[[package]]")[1:]:
        fields = dict(re.findall(r'^(\w+) = "([^"]*)"', block, re.M))
        if "checksum" in fields:
            out[fields["name"], fields["version"]] = fields["checksum"]
    return out


def count(args: argparse.Namespace) -> int:
    packages, _ = graph(metadata(args.target))
    n = len(packages)
    print(f"crates in the extension's normal+build graph ({args.target}): {n} (ceiling {args.ceiling})")
    if n > args.ceiling:
        print(f"error: {n} crates is over the ceiling of {args.ceiling}", file=sys.stderr)
        return 1
    return 0


def purl(p: dict[str, Any]) -> str:
    return f"pkg:cargo/{p['name']}@{p['version']}"


def sbom(args: argparse.Namespace) -> int:
    wheel = Path(args.wheel)
    packages, edges = graph(metadata(args.target))
    sums = checksums()
    with zipfile.ZipFile(wheel) as z:
        info = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        fields = dict(re.findall(r"^(Name|Version): (.+)$", z.read(info).decode(), re.M))
    name, version = fields["Name"], fields["Version"]
    wheel_ref = f"pkg:pypi/{name}@{version}"
    components = []
    for p in packages:
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": purl(p),
            "name": p["name"],
            "version": p["version"],
            "purl": purl(p),
        }
        if p.get("license"):
            component["licenses"] = [{"expression": p["license"]}]
        if (p["name"], p["version"]) in sums:
            component["hashes"] = [{"alg": "SHA-256", "content": sums[p["name"], p["version"]]}]
        if p["source"] is None:
            component["description"] = "part of otlp (workspace crate)"
        components.append(component)
    ids = {p["id"]: purl(p) for p in packages}
    (root,) = [p for p in packages if p["name"] == EXTENSION]
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "scripts/crates.py"}]},
            "component": {
                "type": "library",
                "bom-ref": wheel_ref,
                "name": name,
                "version": version,
                "purl": wheel_ref,
                "description": f"wheel {wheel.name}",
                "hashes": [{"alg": "SHA-256", "content": hashlib.sha256(wheel.read_bytes()).hexdigest()}],
            },
        },
        "components": components,
        "dependencies": [{"ref": wheel_ref, "dependsOn": [purl(root)]}]
        + [{"ref": ids[p], "dependsOn": sorted(ids[d] for d in deps)} for p, deps in sorted(edges.items())],
    }
    Path(args.out).write_text(json.dumps(document, indent=2) + "\n")
    print(f"SBOM of {wheel.name}: {len(components)} crates -> {args.out}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("count", help="count the crates and fail over the ceiling")
    c.add_argument("--ceiling", type=int, default=80)
    c.add_argument("--target", default=HOST)
    c.set_defaults(run=count)
    s = sub.add_parser("sbom", help="write a CycloneDX SBOM of a wheel's crates")
    s.add_argument("wheel")
    s.add_argument("out")
    s.add_argument("--target", default=HOST)
    s.set_defaults(run=sbom)
    args = parser.parse_args()
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
