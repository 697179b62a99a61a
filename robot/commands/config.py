"""`gardenbot config`: write the commented default config, or check a config file."""

from __future__ import annotations

import argparse
from pathlib import Path

from robot.dashboard.auth import write_token_file
from robot.runtime.config import (
    DEFAULT_PATH,
    WebConfig,
    load_config,
    render_config,
    render_markdown,
    write_default_config,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gardenbot config", description=__doc__)
    sub = p.add_subparsers(dest="action", required=True)
    init = sub.add_parser("init", help="write a commented default config (every key, its "
                          "default and unit)")
    init.add_argument("path", nargs="?", default=DEFAULT_PATH,
                      help=f"where to write it (default {DEFAULT_PATH})")
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.add_argument("--new-token", action="store_true",
                      help="only write a new dashboard token (replacing the old one), next to "
                           "the config; the config itself is left alone")
    check = sub.add_parser("check", help="validate a config file; errors name key and line")
    check.add_argument("path", nargs="?", default=DEFAULT_PATH)
    check.add_argument("--print", action="store_true", dest="show",
                       help="print the effective config (defaults filled in)")
    sub.add_parser("keys", help="print the key reference as Markdown (as in docs/config.md)")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.action == "keys":
        print(render_markdown(), end="")
        return 0
    if args.action == "init":
        token = Path(args.path).parent / WebConfig().token_file
        if args.new_token:
            write_token_file(token, overwrite=True)
            print(f"wrote a new dashboard token to {token} (mode 0600); the old one no longer "
                  "works")
            return 0
        path = write_default_config(args.path, overwrite=args.force)
        print(f"wrote {path}; edit it, then run `gardenbot config check {path}`")
        if write_token_file(token):
            print(f"wrote the dashboard token to {token} (mode 0600; needed for "
                  "`gardenbot run --web` on the LAN)")
        return 0
    cfg = load_config(args.path)  # a ConfigError is printed by the dispatcher, exit 1
    if args.show:
        print(render_config(cfg), end="")
    else:
        zones = len(cfg.watering.zones)
        print(f"{args.path}: ok (camera {cfg.camera.source!r}, serial {cfg.serial.port!r}, "
              f"{zones} watering zone{'s' if zones != 1 else ''})")
    return 0
