"""`gardenbot bench autonomy`: the season change with nobody there, measured end to end (issue 17).

For each held-out garden (g06, g07) the robot works day after day through a compressed year
(tools/autonomy/days.py, what `gardenbot simulate --autonomous` runs): each day that day's look
(seasons blending around each boundary, each day its own weather and hour), a session of
``--day-seconds`` from the dock, no button, no label map, no owner answer; the drift alarm and
the nightly schedule start every retrain, the robot's own label sources feed them. Fixed seed.
JSON, markdown and one timeline plot per garden; PASS/FAIL against issue 17's bars
(tools/bench/verdict.py's exit status):

- every season change detected (a drift alarm) within ``DETECT_DAYS`` simulated days;
- no false alarm on days with no change, or at most one per simulated month;
- after each change back within 10 points of the oracle's false-stop rate within ``BACK_DAYS``
  (whether it stayed so for the rest of the season is reported beside);
- no published retrain raises collisions (bumps per 100 m the next day); with ``--pairs`` also
  on the same ground: each morning after a change of adapter is driven once more by the old and
  by the new adapter, learning off (tools/autonomy/days.py ``drive_pair``);
- the replay buffer within its byte cap, every season driven still in it at the end, FM <= 3
  points on evaluation views of each earlier season's days.

A bar a run is too short to judge (the run ends before the change's deadline) is "not judged".
``--quick``: g07 only, one change (summer to autumn in a year of 5-day seasons), six days of
130 s — the CI size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from tools.autonomy.days import SOURCES, AutonomyOptions, run_days
from tools.autonomy.timeline import BACK_POINTS, format_summary, plot, summarize
from tools.bench.drive import add_run_arguments, open_run, pct, say, split_list
from tools.bench.labels import by_name
from tools.bench.measure import machine
from tools.bench.verdict import QUALITY, Bar, exit_status

DETECT_DAYS = 2.0
BACK_DAYS = 3.0
FM_POINTS = 3.0
FALSE_ALARMS_PER_MONTH = 1.0
# The full run: a year of 8-day seasons from the first day of spring, and three days of the
# next spring (every change of the year, each followed by at least BACK_DAYS).
FULL = AutonomyOptions(first_day=0, days=36, season_days=8.0, transition_days=2.0,
                       day_seconds=150.0)
# Quick: summer turns into autumn on day 10 of a year of 5-day seasons; days 8-13 see two summer
# days, the blend, and three days after the change (enough to judge "within 3 days").
QUICK = AutonomyOptions(first_day=8, days=6, season_days=5.0, transition_days=2.0,
                        day_seconds=130.0, eval_views=5)


def acceptance(results: dict[str, Any]) -> list[Bar]:
    runs = results["runs"]
    bars: list[Bar] = []
    late, unjudged, seen = [], [], []
    for g, r in runs.items():
        for c in r["summary"]["changes"]:
            where = f"{g} {c['from']}→{c['to']}"
            d = c["days_to_alarm"]
            if d is not None and d <= DETECT_DAYS:
                seen.append(f"{where} {d:+.2f} d")
            elif d is None and (c["observed_after"] or 0) < DETECT_DAYS:
                unjudged.append(where)
            else:
                late.append(f"{where}: " + ("no alarm" if d is None else f"{d:+.2f} d"))
    judged = bool(seen or late)
    bars.append(Bar("detected", QUALITY, (not late) if judged else None,
                    f"every season change detected by the drift alarm within {DETECT_DAYS:g} "
                    f"simulated days ({', '.join(seen) or 'none detected'})"
                    + (" — missed: " + "; ".join(late) if late else "")
                    + (f" — run too short to judge {', '.join(unjudged)}" if unjudged else "")))
    fa = {g: r["summary"] for g, r in runs.items()}
    worst = [f"{g}: {len(s['false_alarms'])} on {len(s['stable_days'])} days"
             + (f" ({s['false_alarms_per_month']:g}/month)" if s["stable_days"] else "")
             for g, s in fa.items()]
    ok = all(not s["false_alarms"] or (s["false_alarms_per_month"] or 0)
             <= FALSE_ALARMS_PER_MONTH for s in fa.values())
    bars.append(Bar("false_alarms", QUALITY, ok,
                    f"no false alarm on days with no change, or <= {FALSE_ALARMS_PER_MONTH:g} "
                    f"per simulated month ({'; '.join(worst)})"))
    slow, fine, unjudged = [], [], []
    for g, r in runs.items():
        for c in r["summary"]["changes"]:
            where = f"{g} {c['from']}→{c['to']}"
            b = c["days_to_back"]
            st = c["days_to_stay_back"]
            stay = ("did not stay" if st is None else f"staying from {st:+g} d") \
                + f", worst day {pct(c['worst_false_stop_rate'])}"
            if b is not None and b <= BACK_DAYS:
                fine.append(f"{where} {b:+g} d ({stay})")
            elif (c["observed_after"] or 0) < BACK_DAYS and b is None:
                unjudged.append(where)
            else:
                slow.append(f"{where}: " + ("not back" if b is None else f"{b:+g} d")
                            + f" (worst false stops {pct(c['worst_false_stop_rate'])})")
    judged = bool(fine or slow)
    bars.append(Bar("back", QUALITY, (not slow) if judged else None,
                    f"after each change back within {100 * BACK_POINTS:.0f} points of the "
                    f"oracle's false-stop rate within {BACK_DAYS:g} simulated days "
                    f"({', '.join(fine) or 'none'})"
                    + (" — missed: " + "; ".join(slow) if slow else "")
                    + (f" — run too short to judge {', '.join(unjudged)}" if unjudged else "")))
    raised = [f"{g} day {c['day']} v{c['version']}: {c['before']} → {c['after']} per 100 m "
              f"({c['probe_bumps_after']} of {c['bumps_after']} bumps ending a probe)"
              for g, r in runs.items() for c in r["summary"]["collisions_after_retrains"]
              if c["raised"]]
    n = sum(len(r["summary"]["collisions_after_retrains"]) for r in runs.values())
    bars.append(Bar("collisions", QUALITY, not raised if n else None,
                    f"no published retrain raises collisions: bumps per 100 m the day after "
                    f"<= the day it was asked for + 1 ({n} published retrains)"
                    + (" — raised: " + "; ".join(raised) if raised else "")))
    paired = {g: r["summary"].get("paired_collisions") for g, r in runs.items()}
    if any(paired.values()):
        parts, raised = [], []
        for g, pc in paired.items():
            if not pc:
                continue
            t = pc["total"]
            parts.append(f"{g}: {len(pc['pairs'])} pairs, old {t['old']['bumps']} bumps in "
                         f"{t['old']['distance_m']:g} m, new {t['new']['bumps']} in "
                         f"{t['new']['distance_m']:g} m")
            raised += [f"{g} day {d}" for d in pc["raised"]]
        bars.append(Bar("collisions_paired", QUALITY, not raised,
                        "no change of adapter raises collisions on the same morning (the old "
                        "and the new adapter, learning off: bumps per 100 m <= old + 1, or "
                        "fewer than 2 bumps) (" + "; ".join(parts) + ")"
                        + (" — raised: " + ", ".join(raised) if raised else "")))
    over, missing, fms = [], [], []
    for g, r in runs.items():
        b = r["summary"]["buffer"]
        if not b.get("within_cap", True):
            over.append(f"{g}: {b['max_bytes']} > {b['capacity_bytes']} bytes")
        if b.get("seasons_missing_at_end"):
            missing.append(f"{g}: {', '.join(b['seasons_missing_at_end'])}")
        fm = (r["forgetting"] or {}).get("fm_points")
        fms.append((g, fm))
    bars.append(Bar("buffer", QUALITY, not over and not missing,
                    "replay buffer within its byte cap and keeps every season driven"
                    + (" — over: " + "; ".join(over) if over else "")
                    + (" — missing at the end: " + "; ".join(missing) if missing else "")))
    judged_fm = [(g, f) for g, f in fms if f is not None]
    bars.append(Bar("forgetting", QUALITY,
                    all(f <= FM_POINTS for _, f in judged_fm) if judged_fm else None,
                    f"FM <= {FM_POINTS:g} points at the end (evaluation views of each earlier "
                    "season's days; " + ", ".join(f"{g} {'-' if f is None else f'{f:.2f}'}"
                                                  for g, f in fms) + ")"))
    return bars


def write_markdown(results: dict[str, Any], out: Path) -> Path:
    m = results["machine"]
    o = results["options"]
    lines = [f"# gardenbot bench autonomy — {results['when']}", "",
             f"Machine: {m.get('cpu')}, {m.get('logical_cpus')} CPUs; load average "
             f"{results['load_before']} before, {results['load_after']} after; "
             f"{results['wall_s']:.0f} s in all. Days {o['first_day']}–"
             f"{o['first_day'] + o['days'] - 1} of a year of {4 * o['season_days']:g} days "
             f"(blending over {o['transition_days']:g} days), {o['day_seconds']:g} simulated s "
             f"of work a day, seed {results['seed']}.", ""]
    for g, r in results["runs"].items():
        lines += [f"## {g} ({r['wall_s']:.0f} s)", "", "```",
                  format_summary(r, r["summary"]), "```", "",
                  f"![timeline {g}](autonomy-{g}.png)", ""]
    lines += ["Acceptance:", ""] + [f"- {Bar(**b).line()}" for b in results["acceptance"]]
    out.write_text("\n".join(lines) + "\n")
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench autonomy",
                                description=__doc__.split("\n\n")[0])
    add_run_arguments(p, "out/bench/autonomy")
    p.set_defaults(seconds=None)
    for action in p._actions:  # --seconds is the length of a working day here
        if action.dest == "seconds":
            action.help = (f"simulated seconds of work a day (default {FULL.day_seconds:g}; "
                           f"--quick {QUICK.day_seconds:g})")
    p.add_argument("--days", type=int, default=None, help=f"days per garden (default {FULL.days})")
    p.add_argument("--first-day", type=int, default=None,
                   help=f"day of the year to start on (default {FULL.first_day})")
    p.add_argument("--season-days", type=float, default=None,
                   help=f"days per season (default {FULL.season_days:g})")
    p.add_argument("--transition-days", type=float, default=None,
                   help=f"blend between seasons over this many days (default "
                        f"{FULL.transition_days:g})")
    p.add_argument("--quick", action="store_true",
                   help="CI size: g07, one change (summer→autumn), 6 days of 130 s")
    p.add_argument("--pairs", action="store_true",
                   help="also drive each morning after a change of adapter twice more, by the "
                        "old and by the new adapter with the learning off: collisions on the "
                        "same ground (about 1.8x the time)")
    p.add_argument("--report", type=Path, metavar="AUTONOMY.JSON",
                   help="run nothing: judge and write the report again from a run's saved "
                        "autonomy.json (its day records), e.g. after the summary changed")
    args = p.parse_args(argv)
    if args.report is not None:
        try:
            saved = json.loads(args.report.read_text())
        except (OSError, ValueError) as e:
            p.error(f"--report {args.report}: not a saved `gardenbot bench autonomy` run: "
                    f"cannot read it ({type(e).__name__}: {e})")
        if not is_saved_run(saved):
            p.error(f"--report {args.report}: not a saved `gardenbot bench autonomy` run")
        return report(saved, args.out)
    base = QUICK if args.quick else FULL
    gardens = split_list("g07" if args.quick and args.gardens == "g06,g07" else args.gardens)
    given = {"days": args.days, "first_day": args.first_day, "season_days": args.season_days,
             "transition_days": args.transition_days, "day_seconds": args.seconds}
    opts = replace(base, seed=args.seed, card=args.card, defaults=args.defaults,
                   pairs=args.pairs, **{k: v for k, v in given.items() if v is not None})
    try:
        opts.check()
    except ValueError as e:
        p.error(str(e).replace("--day-seconds", "--seconds"))
    if not gardens:
        p.error("--gardens: at least one garden")
    gardens, cfg = open_run(p, args, gardens, watch=True)
    t0 = time.monotonic()
    load_before = round(os.getloadavg()[0], 2)
    runs: dict[str, Any] = {}
    for g in gardens:
        work = Path(tempfile.mkdtemp(prefix=f"gardenbot-autonomy-{g}-"))
        try:
            say(f"{g}: {opts.days} days from day {opts.start()}")
            r = run_days(replace(opts, garden=g), cfg, work / "robot", by_name()[SOURCES],
                         say=lambda text, g=g: say(f"{g} {text}"))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        runs[g] = r
    results: dict[str, Any] = {
        "machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_before": load_before, "load_after": round(os.getloadavg()[0], 2),
        "seed": args.seed, "quick": args.quick,
        "options": {k: v for k, v in asdict(opts).items() if k not in ("card", "defaults")}
        | {"first_day": opts.start()},
        "runs": runs, "wall_s": round(time.monotonic() - t0, 1),
    }
    return report(results, args.out)


SAVED_KEYS = ("runs", "machine", "options", "when", "load_before", "load_after", "wall_s",
              "seed")
RUN_KEYS = ("records", "changes", "first_day", "days", "transition_days")


def is_saved_run(saved: Any) -> bool:
    """Whether ``saved`` (a parsed autonomy.json) has what :func:`report` reads of it."""
    if not isinstance(saved, dict) or not all(k in saved for k in SAVED_KEYS):
        return False
    runs = saved["runs"]
    return isinstance(runs, dict) and bool(runs) and all(
        isinstance(r, dict) and all(k in r for k in RUN_KEYS) for r in runs.values())


def report(results: dict[str, Any], out: Path) -> int:
    """Summaries, bars, autonomy.json/.md and a timeline per garden in ``out``; the exit status
    of the bars. The summaries are computed again from the day records."""
    for r in results["runs"].values():
        last, half = r["first_day"] + r["days"] - 1, r["transition_days"] / 2
        r["changes"] = [c for c in r["changes"] if c + half >= r["first_day"]
                        and c - half <= last]  # as run_days keeps them
        r["summary"] = summarize(r)
    bars = acceptance(results)
    results["acceptance"] = [asdict(b) for b in bars]
    out.mkdir(parents=True, exist_ok=True)
    (out / "autonomy.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    pngs = [plot(r, out / f"autonomy-{g}.png") for g, r in results["runs"].items()]
    md = write_markdown(results, out / "autonomy.md")
    print(md.read_text())
    for bar in bars:
        print(bar.line())
    print(f"\nwritten: {md}, {', '.join(map(str, pngs))}, {out / 'autonomy.json'}")
    return exit_status(bars)
