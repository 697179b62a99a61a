"""`gardenbot adapter list | show VERSION | rollback VERSION`: the adapter store by hand."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from robot.adapter.store import AdapterStore
from robot.learning.paths import LearnerPaths, default_data_dir


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gardenbot adapter",
                                description="List, inspect and roll back adapter versions.")
    p.add_argument("--data-dir", type=Path, default=None,
                   help=f"robot data folder (default ${{GARDENBOT_DATA}} or {default_data_dir()})")
    p.add_argument("--store", type=Path, help="adapter store folder (default: in the data folder)")
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("list", help="every version, the current one marked with *")
    show = sub.add_parser("show", help="a version's metadata as JSON")
    show.add_argument("version", type=int, nargs="?", help="default: the current version")
    rb = sub.add_parser("rollback", help="make VERSION the current adapter")
    rb.add_argument("version", type=int)
    return p


def _score(meta: dict) -> str:
    score = (meta.get("validation") or {}).get("score")
    return "-" if score is None else f"{score:.3f}"


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    store = AdapterStore(args.store or LearnerPaths(args.data_dir or default_data_dir()).store)
    if args.action == "list":
        current = store.current_version()
        versions = store.versions()
        if not versions:
            print(f"no adapter versions in {store.root}")
            return 0
        print(f"{'':1} {'version':>7}  {'created':<25} {'strategy':<9} {'score':>6} "
              f"{'parent':>6}  classes / problem")
        for v in versions:
            m = v.meta
            mark = "*" if v.version == current else ""
            tail = f"ERROR: {v.error}" if v.error else ",".join(m.get("classes", []))
            print(f"{mark:1} {v.version:>7}  {m.get('created', '?'):<25} "
                  f"{m.get('strategy', '?'):<9} {_score(m):>6} {m.get('parent') or '-':>6}  "
                  f"{tail}")
        return 0
    if args.action == "show":
        _, meta = store.load(args.version)
        print(json.dumps(meta, indent=2))
        return 0
    before = store.current_version()
    store.rollback(args.version)
    print(f"current adapter: version {args.version} (was {before})")
    return 0
