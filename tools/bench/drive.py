"""`gardenbot bench drive`: how the robot drives through the seasons, closed loop (docs/bench.md).

For each held-out garden and season, three closed-loop runs of the same simulated length, each
from the garden's dock with the same seed, through the whole robot (`gardenbot simulate`'s
session: the MCU emulator on a pty, the link, the learner process):

    shipped    the shipped adapter drives; at the end the owner presses the retrain button
               (label sources of today: experience labels and a share of frames annotated
               from the label maps), and the run waits for the learner;
    retrained  the adapter that retrain published drives the same season again;
    oracle     the robot drives on the frames' true cells (perfect eyes), the reference.

Every frame is also judged against the oracle's decision on that frame (robot/sim/outcomes.py):
false stops, missed obstacles; and the body's outcome: bumps per 100 m, time stuck, lawn area
covered. Markdown, JSON and a plot; PASS/FAIL per acceptance bar and the exit status of
tools/bench/verdict.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from robot.common.classes import SEASONS
from robot.sim.outcomes import culprit_text
from tools.bench.measure import machine
from tools.bench.verdict import QUALITY, TIMING, Bar, exit_status
from tools.formatting import num, pct

log = logging.getLogger(__name__)

RUNS = ("shipped", "retrained", "oracle")
STEP_BAR_MS = 25.0  # a closed-loop step, rendering excluded
FPS = 10.0  # camera frames per simulated second, as `gardenbot simulate`'s default


def run_one(garden_id: str, season: str, seconds: float, seed: int, data_dir: Path,
            cfg: Any, *, press: bool, oracle: bool, annotate: float, card: Path | None,
            defaults: Path | None, days_before: Sequence[str] = (),
            **extra: Any) -> dict[str, Any]:
    """One closed-loop run through `gardenbot simulate`'s session; its summary. With
    ``days_before`` the robot first drives a day of each of those seasons as long (the days
    before a season change); the button is pressed at the end of ``season``'s day. ``extra``:
    further SimulationOptions fields (the label sources of `gardenbot bench labels`)."""
    from robot.sim.closed_loop import Stage
    from robot.sim.session import SimulationOptions, simulate
    from tools.garden.live import LiveGarden

    seasons = (*days_before, season)
    garden = LiveGarden(garden_id, seasons[0], seed=seed)
    stages = tuple(Stage(s, seconds) for s in seasons)
    frames = round(seconds * FPS)
    options = SimulationOptions(
        speed=0.0, card=card, defaults=defaults, garden=garden, stages=stages, fps=FPS,
        press_after=(frames - 1) if press else -1, annotate=annotate, drive_frames=0,
        oracle_eyes=oracle, eval_views=10, wait_learner=300.0, **extra)
    return simulate(options, cfg, data_dir)


def row_of(summary: dict[str, Any], season: str, version: str) -> dict[str, Any] | None:
    """The drive tally of adapter ``version`` ("v2", "oracle") in ``season``."""
    return summary["drive"].get(f"{season}|{version}")


def bench_garden_season(garden_id: str, season: str, seconds: float, seed: int, cfg: Any,
                        annotate: float, card: Path | None, defaults: Path | None,
                        say: Any) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"gardenbot-drive-{garden_id}-{season}-"))
    try:
        say(f"{garden_id} {season}: shipped adapter, then the retrain button")
        a = run_one(garden_id, season, seconds, seed, work / "robot", cfg, press=True,
                    oracle=False, annotate=annotate, card=card, defaults=defaults)
        start, end = a["adapter"]["start"], a["adapter"]["end"]
        retrain = a["retrains"][-1] if a["retrains"] else None
        out: dict[str, Any] = {
            "garden": garden_id, "season": season,
            "shipped": row_of(a, season, f"v{start}"),
            "retrain": retrain, "held_back": a["held_back"].get(season),
            "step_ms": a["step_ms"], "world_ms": a["closed_loop"]["world_ms"],
        }
        if end != start:
            say(f"{garden_id} {season}: adapter v{end} drives")
            b = run_one(garden_id, season, seconds, seed, work / "robot", cfg, press=False,
                        oracle=False, annotate=0.0, card=card, defaults=defaults)
            out["retrained"] = row_of(b, season, f"v{end}")
        else:
            out["retrained"] = None  # the retrain was rejected or failed: nothing new drove
        say(f"{garden_id} {season}: oracle (true cells)")
        c = run_one(garden_id, season, seconds, seed, work / "oracle", cfg, press=False,
                    oracle=True, annotate=0.0, card=card, defaults=defaults)
        out["oracle"] = row_of(c, season, "oracle")
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def acceptance(results: dict[str, Any]) -> list[Bar]:
    rows = results["rows"]
    bars: list[Bar] = []

    def val(r: dict[str, Any] | None, k: str) -> float | None:
        return None if r is None else r.get(k)

    bad_oracle = [f"{r['garden']} {r['season']}" for r in rows
                  if (val(r["oracle"], "bumps") or 0) > 0
                  or (val(r["oracle"], "stuck_share") or 0) > 0.05]
    bars.append(Bar("oracle", QUALITY, not bad_oracle,
                    "oracle perception: 0 collisions and <= 5 % of the time stuck"
                    + (f" — not in {', '.join(bad_oracle)}" if bad_oracle else "")))
    for run, seasons, fsr_pts in (("shipped", ("spring", "summer"), 0.05),
                                  ("retrained", SEASONS, 0.10)):
        misses = []
        judged = 0
        for r in rows:
            if r["season"] not in seasons:
                continue
            judged += 1
            me, ref = r.get(run), r["oracle"]
            if me is None or ref is None:
                misses.append(f"{r['garden']} {r['season']}: no {run} run")
                continue
            fsr = me["false_stop_rate"] or 0.0
            if fsr > fsr_pts:
                misses.append(f"{r['garden']} {r['season']}: false stops {100 * fsr:.0f} %")
            cov, ref_cov = me.get("lawn_covered_m2", 0.0), ref.get("lawn_covered_m2", 0.0)
            if ref_cov > 0 and cov < 0.8 * ref_cov:
                misses.append(f"{r['garden']} {r['season']}: lawn covered {cov:.1f} of "
                              f"{ref_cov:.1f} m²")
            if run == "retrained":
                b, rb = me["bumps_per_100m"] or 0.0, ref["bumps_per_100m"] or 0.0
                if b > rb + 1.0:
                    misses.append(f"{r['garden']} {r['season']}: {b:.1f} bumps/100 m")
        if judged:
            text = (f"{run} adapter ({', '.join(seasons)}): false stops <= "
                    f"{100 * fsr_pts:.0f} points above the oracle's (0), lawn covered >= 80 % "
                    "of the oracle's" + (", bumps/100 m <= oracle's + 1" if run == "retrained"
                                         else ""))
            bars.append(Bar(run, QUALITY, not misses,
                            text + (" — " + "; ".join(misses) if misses else "")))
    steps = [r["loop_ms_without_render"] for r in rows if r.get("loop_ms_without_render")]
    if steps:
        worst = max(steps)
        bars.append(Bar("step", TIMING, worst <= STEP_BAR_MS,
                        f"closed-loop step without rendering <= {STEP_BAR_MS:.0f} ms "
                        f"(worst run {worst:.1f} ms; rendering "
                        f"{max(r['world_ms'].get('render', 0.0) for r in rows):.1f} ms)"))
    return bars


def loop_ms_without_render(step_ms: dict[str, float], world_ms: dict[str, float]) -> float:
    """Sum of the loop's per-step medians, less the camera view's rendering (in the camera
    step); the learner's and the overlay's steps are in (they run every tick)."""
    return round(sum(step_ms.values()) - world_ms.get("render", 0.0), 2)


# --- what the closed-loop benchmarks (drive, labels) share on the command line ---------------

def add_run_arguments(p: argparse.ArgumentParser, out: str) -> None:
    """The options every closed-loop benchmark takes: gardens, run length, seed, robot, out."""
    p.add_argument("--gardens", default="g06,g07", help="held-out gardens (default g06,g07)")
    p.add_argument("--seconds", type=float, default=60.0,
                   help="simulated seconds per run (default 60)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", type=Path, help="a gardenbot.toml (default: the defaults)")
    p.add_argument("--card", type=Path, help="backbone model card (default: the shipped)")
    p.add_argument("--defaults", type=Path, metavar="DIR",
                   help="starting adapter and buffer (default: the shipped models/default)")
    p.add_argument("--out", type=Path, default=Path(out),
                   help="report folder (default: %(default)s)")


def split_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def open_run(p: argparse.ArgumentParser, args: argparse.Namespace,
             gardens: list[str], watch: bool = False) -> tuple[list[str], Any]:
    """The garden ids checked (a bad one is ``p.error``) and the robot's config; the robot's
    own logging quietened to warnings (a benchmark prints its own progress). ``watch``: keep
    the config's trial of new adapters and bump alarm (else both off)."""
    from robot.runtime.config import Config, load_config
    from tools.garden.layout import parse_garden_id

    try:
        gardens = [parse_garden_id(g) for g in gardens]
    except ValueError as e:
        p.error(str(e))
    cfg = load_config(args.config) if args.config else Config()
    if not watch:
        # `bench drive` and `bench labels` judge one retrain by how its adapter drives: the
        # robot's trial of a new adapter (robot/learning/trial.py) could roll it back, and its
        # bump alarm start another retrain, in the middle of the very run that measures it.
        # `bench autonomy` keeps both.
        cfg = replace(cfg, learner=replace(cfg.learner, trial_frames=0),
                      triggers=replace(cfg.triggers, bump_alarm=0))
    logging.getLogger("robot").setLevel(logging.WARNING)
    return gardens, cfg


def say(text: str) -> None:
    print(f"... {text}", flush=True)


def finish(results: dict[str, Any], bars: list[Bar], out: Path, stem: str,
           write_markdown: Any, plot: Any) -> int:
    """Write ``stem``.json, .md and .png to ``out``, print the report and the bars; the exit
    status of the bars."""
    results["acceptance"] = [asdict(b) for b in bars]
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    md = write_markdown(results, out / f"{stem}.md")
    png = plot(results, out / f"{stem}.png")
    print(md.read_text())
    for bar in bars:
        print(bar.line())
    print(f"\nwritten: {md}, {png}, {out / f'{stem}.json'}")
    return exit_status(bars)


def write_markdown(results: dict[str, Any], out: Path) -> Path:
    m = results["machine"]
    lines = [f"# gardenbot bench drive — {results['when']}", "",
             f"Machine: {m.get('cpu')}, {m.get('logical_cpus')} CPUs; load average "
             f"{results['load_before']} before, {results['load_after']} after. "
             f"{results['seconds_per_run']:g} simulated s per run, seed {results['seed']}, "
             f"annotated share {results['annotate']:g}; {results['wall_s']:.0f} s in all.", "",
             "| garden | season | run | false stops | missed obstacles | distance m | "
             "bumps/100 m | stuck | in beds | lawn covered m² | stopped by |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        for run in RUNS:
            d = r.get(run)
            if d is None:
                lines.append(f"| {r['garden']} | {r['season']} | {run} | (none) |||||||| |")
                continue
            lines.append(
                f"| {r['garden']} | {r['season']} | {run} | {pct(d['false_stop_rate'])} | "
                f"{pct(d['missed_obstacle_rate'])} | {d['distance_m']:.1f} | "
                f"{num(d['bumps_per_100m'])} | {pct(d['stuck_share'])} | "
                f"{pct(d['in_bed_share'])} | {num(d.get('lawn_covered_m2'))} | "
                f"{culprit_text(d.get('false_stop_cells') or {})} |")
    lines += ["", "Retrains (button at the end of the shipped run):", ""]
    for r in results["rows"]:
        t = r.get("retrain") or {}
        hb = r.get("held_back") or {}
        acc = ", ".join(f"{k} {v:.3f}" for k, v in hb.items() if k.startswith("v"))
        lines.append(f"- {r['garden']} {r['season']}: {t.get('state', 'none')}"
                     + (f" as v{t['version']}" if t.get("version") else "")
                     + (f" in {t['seconds']} s" if t.get("seconds") is not None else "")
                     + (f"; held-back accuracy {acc}" if acc else ""))
    lines += ["", "Acceptance:", ""] + [f"- {Bar(**b).line()}"
                                         for b in results["acceptance"]]
    out.write_text("\n".join(lines) + "\n")
    return out


def plot(results: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    labels = [f"{r['garden']}\n{r['season']}" for r in rows]
    x = range(len(rows))
    fig, axes = plt.subplots(1, 2, figsize=(max(7.0, 1.2 * len(rows) + 3), 4))
    for ax, key, title, scale in ((axes[0], "false_stop_rate", "false stops (% of frames the "
                                   "oracle drove)", 100.0),
                                  (axes[1], "bumps_per_100m", "bumps per 100 m", 1.0)):
        w = 0.38
        for k, (run, colour) in enumerate((("shipped", "#c0504d"), ("retrained", "#4f81bd"))):
            vals = [((r.get(run) or {}).get(key) or 0.0) * scale for r in rows]
            ax.bar([i + (k - 0.5) * w for i in x], vals, w, label=run, color=colour)
        ref = [((r.get("oracle") or {}).get(key) or 0.0) * scale for r in rows]
        ax.plot(list(x), ref, "k_", markersize=22, mew=2, label="oracle")
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle("gardenbot bench drive: closed loop, before and after each season's retrain")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench drive", description=__doc__.split("\n\n")[0])
    add_run_arguments(p, "out/bench/drive")
    p.add_argument("--seasons", default=",".join(SEASONS), help="default: all four")
    p.add_argument("--annotate", type=float, default=0.1, metavar="FRACTION",
                   help="share of the shipped run's frames the simulated owner labels "
                        "(default 0.1)")
    p.add_argument("--quick", action="store_true",
                   help="CI size: g07, summer and autumn, 12 s per run")
    args = p.parse_args(argv)
    if args.quick:
        args.gardens, args.seasons, args.seconds = "g07", "summer,autumn", 12.0
    gardens, seasons = split_list(args.gardens), split_list(args.seasons)
    bad = [s for s in seasons if s not in SEASONS]
    if bad or not seasons or not gardens or args.seconds <= 0 or not 0 <= args.annotate <= 1:
        p.error(f"seasons are {', '.join(SEASONS)}; --seconds > 0; --annotate in [0, 1]"
                + (f" (got {bad[0]!r})" if bad else ""))
    gardens, cfg = open_run(p, args, gardens)
    t0 = time.monotonic()
    load_before = round(os.getloadavg()[0], 2)
    rows = []
    for g in gardens:
        for s in seasons:
            r = bench_garden_season(g, s, args.seconds, args.seed, cfg, args.annotate,
                                    args.card, args.defaults, say)
            r["loop_ms_without_render"] = loop_ms_without_render(r["step_ms"], r["world_ms"])
            rows.append(r)
    results: dict[str, Any] = {
        "machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_before": load_before, "load_after": round(os.getloadavg()[0], 2),
        "seconds_per_run": args.seconds, "seed": args.seed, "annotate": args.annotate,
        "gardens": gardens, "seasons": seasons, "rows": rows,
        "wall_s": round(time.monotonic() - t0, 1),
    }
    return finish(results, acceptance(results), args.out, "drive", write_markdown, plot)
