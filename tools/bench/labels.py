"""`gardenbot bench labels`: the label budget — how much of a season does one retrain recover
from each set of label sources, against dense label maps (docs/bench.md, issue 12 item 7).

A **transition** is the shipped adapter meeting a season in a garden it never saw (held-out
g06, g07). The shipped adapter was trained on spring and summer (models/default/defaults.json),
so the default transitions are summer → autumn and summer → winter. For each transition and
each **source configuration** (the table ``CONFIGURATIONS``), through the whole robot
(tools/bench/drive.py's ``run_one``: `gardenbot simulate`'s session, the learner process):

    shipped    the shipped adapter drives the days before the change (``DAYS_BEFORE``), then
               a day of the new season, with the configuration's label sources (and, for
               "+ probing", its probes); at the end of the new season's day the owner presses
               the retrain button, and the run waits for the learner;
    retrained  the published adapter drives the same season again — probing off, no labels
               needed, so every configuration's retrained run is judged alike.

Recovery = the gain in held-back accuracy (views from fixed poses, never learned from) and the
drop in the false-stop rate after one retrain; the **share of the dense gain** divides a
configuration's gain by that of dense label maps (``annotate`` 0.5: half of all frames labelled,
the ceiling). Markdown, JSON and a plot; PASS/FAIL against issue 12's bars (tools/bench/
verdict.py's exit status).

Adding a configuration (place memory, pseudo-labels, owner answers): one row in
``CONFIGURATIONS`` — a ``Sources`` with a ``config`` function that switches the source on in
the robot's Config, and/or ``options`` (more SimulationOptions fields, e.g. a number of
simulated owner answers), and ``human_answers`` for the owner bars.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from robot.common.classes import SEASONS
from tools.bench.drive import (
    add_run_arguments,
    finish,
    num,
    open_run,
    pct,
    row_of,
    run_one,
    say,
    split_list,
)
from tools.bench.measure import machine
from tools.bench.verdict import QUALITY, Bar

log = logging.getLogger(__name__)

DEFAULT_TRANSITIONS = ("autumn", "winter")  # the shipped adapter knows spring and summer
# A transition is a day of each season the robot lived through before, then a day of the new
# one; the retrain button is pressed at the end of the new season's day. Before winter the
# robot has lived through a summer (which its adapter knows) and an autumn (which it never
# learned: the harder history) — the memory of places keeps what the summer showed it.
DAYS_BEFORE = {"spring": ("winter",), "summer": ("spring",), "autumn": ("summer",),
               "winter": ("summer", "autumn")}
DENSE_ANNOTATE = 0.5
NO_HUMAN_SHARE = 0.80  # issue 12: >= 80 % of the dense gain with no human answer
FEW_ANSWERS, FEW_ANSWERS_SHARE = 10, 0.95  # ... and >= 95 % with <= 10 owner answers
FALSE_STOP_FACTOR = 2.0  # false-stop rate within 2x of the dense retrain's
FALSE_STOP_FLOOR = 0.02  # ... or within 2 points, where the dense retrain's is ~0


@dataclass(frozen=True)
class Sources:
    """One label-source configuration: what the robot may learn from in the shipped run."""

    name: str
    text: str  # one line for the report
    set_labels: bool = True  # [experience] set_labels: corrective experience
    probe: bool = False  # [probe] enabled
    places: bool = False  # [experience] places: the memory of places
    pseudo: bool = False  # [experience] pseudo: pseudo-labels
    annotate: float = 0.0  # share of frames whose label maps enter the buffer
    human_answers: int = 0  # owner answers this configuration uses (the owner bars)
    dense: bool = False  # the ceiling every other configuration is measured against
    # Further switches of other label sources, in the robot's Config ...
    config: Callable[[Any], Any] | None = field(default=None, compare=False)
    # ... and in the simulation (robot.sim.session.SimulationOptions fields).
    options: Mapping[str, Any] = field(default_factory=dict)

    def robot_config(self, base: Any) -> Any:
        cfg = replace(base, experience=replace(base.experience, set_labels=self.set_labels,
                                               places=self.places, pseudo=self.pseudo),
                      probe=replace(base.probe, enabled=self.probe))
        return self.config(cfg) if self.config is not None else cfg


# The label budget, cheapest first. Each row without a human adds to the one above it; the last
# such row is "the robot alone", which the no-human bars judge (pseudo-labels are measured but
# off by default, docs/places.md, so "+ place memory" is the robot's default set). Owner rows
# add the simulated owner's answers to the robot's default sources.
CONFIGURATIONS: tuple[Sources, ...] = (
    Sources("confirm-only", "experience, confirm-only (set labels off: the labels of issue 11)",
            set_labels=False),
    Sources("corrective", "corrective experience (set labels on)"),
    Sources("probing", "+ probing (robot/acting/probe.py)", probe=True),
    Sources("pseudo", "+ pseudo-labels (robot/learning/pseudo.py; off by default)", probe=True,
            pseudo=True),
    Sources("places", "+ place memory (robot/learning/places.py; the robot's default sources)",
            probe=True, places=True),
    *(Sources(f"owner-{k}", f"the robot's default sources + {k} owner answers", probe=True,
              places=True, human_answers=k, options={"owner_answers": k})
      for k in (5, 10, 20, 50)),
    Sources("dense", f"dense label maps: {DENSE_ANNOTATE:g} of frames annotated (the ceiling)",
            annotate=DENSE_ANNOTATE, dense=True),
)


def by_name() -> dict[str, Sources]:
    return {s.name: s for s in CONFIGURATIONS}


def no_human(configs: list[Sources]) -> Sources | None:
    """The configuration the no-human bars judge: the last one without a human."""
    alone = [s for s in configs if not s.dense and s.human_answers == 0 and s.annotate == 0]
    return alone[-1] if alone else None


def bench_transition(garden_id: str, season: str, src: Sources, seconds: float, seed: int,
                     cfg: Any, card: Path | None, defaults: Path | None,
                     say: Callable[[str], None]) -> dict[str, Any]:
    """One configuration on one transition: shipped run + button retrain, retrained run."""
    work = Path(tempfile.mkdtemp(prefix=f"gardenbot-labels-{garden_id}-{season}-"))
    try:
        say(f"{garden_id} {season} {src.name}: shipped adapter, then the retrain button")
        a = run_one(garden_id, season, seconds, seed, work / "robot", src.robot_config(cfg),
                    press=True, oracle=False, annotate=src.annotate, card=card,
                    defaults=defaults, days_before=DAYS_BEFORE[season], **src.options)
        start, end = a["adapter"]["start"], a["adapter"]["end"]
        held = a["held_back"].get(season) or {}
        exp = a["experience"]
        out: dict[str, Any] = {
            "garden": garden_id, "season": season, "config": src.name,
            "shipped": row_of(a, season, f"v{start}"),
            "retrain": a["retrains"][-1] if a["retrains"] else None,
            "accuracy_before": held.get(f"v{start}"),
            "accuracy_after": held.get(f"v{end}") if end != start else held.get(f"v{start}"),
            "held_back_frames": held.get("frames"),
            "labels": {"offered": a["buffer"]["offered"], "accepted": a["buffer"]["accepted"],
                       "by_kind": exp["labels"], "precision_by_kind": exp["precision"],
                       "precision_by_source": exp.get("source_precision", {})},
            "probe": a.get("probe"),
            "retrained": None,
        }
        if end != start:
            say(f"{garden_id} {season} {src.name}: adapter v{end} drives")
            drive_cfg = replace(cfg, probe=replace(cfg.probe, enabled=False))
            b = run_one(garden_id, season, seconds, seed, work / "robot", drive_cfg,
                        press=False, oracle=False, annotate=0.0, card=card, defaults=defaults)
            out["retrained"] = row_of(b, season, f"v{end}")
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def recovery(rows: list[dict[str, Any]]) -> None:
    """Add gain, share of the dense gain and the false-stop drop to each row (in place)."""
    for r in rows:
        before, after = r["accuracy_before"], r["accuracy_after"]
        r["gain"] = None if before is None or after is None else after - before
        f0 = (r["shipped"] or {}).get("false_stop_rate")
        f1 = (r["retrained"] or {}).get("false_stop_rate")
        r["false_stops_before"], r["false_stops_after"] = f0, f1
        r["false_stop_drop"] = None if f0 is None or f1 is None else f0 - f1
    names = by_name()
    dense = {(r["garden"], r["season"]): r for r in rows
             if r["config"] in names and names[r["config"]].dense}
    for r in rows:
        ref = dense.get((r["garden"], r["season"]))
        ref_gain = ref["gain"] if ref is not None else None
        r["dense_gain"] = ref_gain
        r["gain_share"] = (r["gain"] / ref_gain if r["gain"] is not None and ref_gain
                           and ref_gain > 0 else None)
        r["dense_false_stops_after"] = ref["false_stops_after"] if ref is not None else None


def _bumps(run: dict[str, Any] | None) -> tuple[int, float]:
    return (int(run.get("bumps") or 0), float(run.get("distance_m") or 0.0)) if run else (0, 0.0)


def acceptance(results: dict[str, Any]) -> list[Bar]:
    rows = results["rows"]
    names = by_name()
    configs = [names[c] for c in results["configs"] if c in names]
    bars: list[Bar] = []
    transitions = sorted({(r["garden"], r["season"]) for r in rows})
    alone = no_human(configs)
    has_dense = any(s.dense for s in configs)
    if alone is None or not has_dense:
        bars.append(Bar("no_human", QUALITY, None, "the no-human bars need a configuration "
                        "without a human and the dense one (not both measured)"))
    else:
        mine = {(r["garden"], r["season"]): r for r in rows if r["config"] == alone.name}
        misses, fsr_misses, shares = [], [], []
        for key in transitions:
            r = mine.get(key)
            where = f"{key[0]} {key[1]}"
            if r is None or r["gain_share"] is None:
                misses.append(f"{where}: no share (dense gain "
                              f"{num(r and r['dense_gain'], '+.3f')})")
                continue
            shares.append(f"{where} {100 * r['gain_share']:.0f} %")
            if r["gain_share"] < NO_HUMAN_SHARE:
                misses.append(f"{where}: {100 * r['gain_share']:.0f} %")
            f, ref = r["false_stops_after"], r["dense_false_stops_after"]
            if f is None or ref is None:
                fsr_misses.append(f"{where}: no retrained run")
            elif f > max(FALSE_STOP_FACTOR * ref, ref + FALSE_STOP_FLOOR):
                fsr_misses.append(f"{where}: {pct(f)} vs dense {pct(ref)}")
        bars.append(Bar("no_human", QUALITY, not misses,
                        f"no human answer ({alone.name}): accuracy gain after one retrain >= "
                        f"{100 * NO_HUMAN_SHARE:.0f} % of the dense gain on every transition "
                        f"({', '.join(shares) or 'none'})"
                        + (" — missed: " + "; ".join(misses) if misses else "")))
        bars.append(Bar("false_stops", QUALITY, not fsr_misses,
                        f"no human answer ({alone.name}): false-stop rate after the retrain "
                        f"within {FALSE_STOP_FACTOR:g}x of the dense retrain's (or "
                        f"{100 * FALSE_STOP_FLOOR:.0f} points)"
                        + (" — missed: " + "; ".join(fsr_misses) if fsr_misses else "")))
    few = [s for s in configs if 0 < s.human_answers <= FEW_ANSWERS]
    if not few:
        bars.append(Bar("owner", QUALITY, None, f"<= {FEW_ANSWERS} owner answers: >= "
                        f"{100 * FEW_ANSWERS_SHARE:.0f} % of the dense gain — no owner-answer "
                        "configuration in this run (CONFIGURATIONS)"))
    else:
        best: dict[tuple[str, str], float] = {}
        for r in rows:
            if r["config"] in {s.name for s in few} and r["gain_share"] is not None:
                key = (r["garden"], r["season"])
                best[key] = max(best.get(key, -1e9), r["gain_share"])
        misses = [f"{g} {s}" for g, s in transitions
                  if best.get((g, s), -1e9) < FEW_ANSWERS_SHARE]
        bars.append(Bar("owner", QUALITY, not misses,
                        f"<= {FEW_ANSWERS} owner answers: >= {100 * FEW_ANSWERS_SHARE:.0f} % "
                        "of the dense gain on every transition"
                        + (" — missed: " + ", ".join(misses) if misses else "")))
    # Collisions. What is learned must not raise them: no retrained run bumps more than the
    # dense retrain's (quality). Probing drives onto ground the adapter cannot vouch for with
    # the bumper as the safety, so its bumps are reported against the same transition's runs
    # without probing, per 100 m (informs).
    raised, probe_lines = [], []
    for g, s in transitions:
        here = {r["config"]: r for r in rows if (r["garden"], r["season"]) == (g, s)}
        dense = next((r for c, r in here.items() if c in names and names[c].dense), None)
        ref = _bumps(dense["retrained"] if dense else None)[0]
        for c, r in here.items():
            n = _bumps(r["retrained"])[0]
            if dense is not None and n > ref:
                raised.append(f"{g} {s}: {c} retrained {n} bumps, dense {ref}")
        on = [_bumps(r["shipped"]) for c, r in here.items() if c in names and names[c].probe]
        off = [_bumps(r["shipped"]) for c, r in here.items()
               if c in names and not names[c].probe]
        if on:
            probe_lines.append(f"{g} {s}: {_rate(on)} with probing, {_rate(off)} without")
    judged = any(r["retrained"] for r in rows) and any(s.dense for s in configs)
    bars.append(Bar("collisions", QUALITY, not raised if judged else None,
                    "collisions not raised by what was learned: no retrained run bumps more "
                    "than the dense retrain's"
                    + (" — " + "; ".join(raised) if raised else "")))
    if probe_lines:
        bars.append(Bar("probe_bumps", QUALITY, None,
                        "shipped-run bumps (per 100 m) with probing against without: "
                        + "; ".join(probe_lines)))
    return bars


def _rate(runs: list[tuple[int, float]]) -> str:
    """Bumps in metres over runs, and per 100 m."""
    if not runs:
        return "not measured"
    n, d = sum(b for b, _ in runs), sum(m for _, m in runs)
    per = f"{100 * n / d:.0f}/100 m" if d > 0 else "-/100 m"
    return f"{n} in {d:.1f} m ({per})"


def _per100(run: dict[str, Any] | None) -> str:
    if not run:
        return "-"
    n, d = _bumps(run)
    return f"{n} in {d:.1f} m"


def write_markdown(results: dict[str, Any], out: Path) -> Path:
    m = results["machine"]
    lines = [f"# gardenbot bench labels — {results['when']}", "",
             f"Machine: {m.get('cpu')}, {m.get('logical_cpus')} CPUs; load average "
             f"{results['load_before']} before, {results['load_after']} after. "
             f"{results['seconds_per_run']:g} simulated s per run, seed {results['seed']}; "
             f"{results['wall_s']:.0f} s in all.", "",
             "Configurations:", ""]
    lines += [f"- `{s['name']}`: {s['text']}" for s in results["configurations"]]
    lines += ["", "| garden | season | configuration | labels offered | label precision | "
              "held-back acc. before → after | gain | share of dense gain | false stops "
              "shipped → retrained | bumps shipped / retrained | probes |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["rows"]:
        lab = r["labels"]
        offered = ", ".join(f"{k} {v}" for k, v in lab["offered"].items()) or "0"
        prec = ", ".join(f"{k} {100 * v:.0f} %" for k, v in
                         (lab["precision_by_source"] or {}).items() if v is not None) or "-"
        p = r.get("probe") or {}
        ends = ", ".join(f"{k} {v}" for k, v in p.get("outcomes", {}).items())
        probes = f"{p['probes']} ({ends})" if p.get("probes") else "0"
        lines.append(
            f"| {r['garden']} | {r['season']} | {r['config']} | {offered} | {prec} | "
            f"{num(r['accuracy_before'], '.3f')} → {num(r['accuracy_after'], '.3f')} | "
            f"{num(r['gain'], '+.3f')} | "
            f"{pct(r['gain_share'])} | {pct(r['false_stops_before'])} → "
            f"{pct(r['false_stops_after'])} | {_per100(r['shipped'])} / "
            f"{_per100(r['retrained'])} | {probes} |")
    lines += ["", "Retrains (button at the end of the shipped run):", ""]
    for r in results["rows"]:
        t = r.get("retrain") or {}
        lines.append(f"- {r['garden']} {r['season']} {r['config']}: {t.get('state', 'none')}"
                     + (f" as v{t['version']}" if t.get("version") else "")
                     + (f" in {t['seconds']} s" if t.get("seconds") is not None else "")
                     + (f" ({t['new_cells']} new cells)" if t.get("new_cells") is not None
                        else ""))
    lines += ["", "Acceptance (issue 12):", ""] + [f"- {Bar(**b).line()}"
                                                    for b in results["acceptance"]]
    out.write_text("\n".join(lines) + "\n")
    return out


def plot(results: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    configs = results["configs"]
    transitions = sorted({(r["garden"], r["season"]) for r in rows})
    get = {(r["garden"], r["season"], r["config"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(max(7.0, 1.6 * len(transitions) + 4), 4))
    w = 0.8 / max(len(configs), 1)
    for ax, key, title, scale in ((axes[0], "gain", "held-back accuracy gain after one retrain",
                                   1.0),
                                  (axes[1], "false_stops_after",
                                   "false stops after the retrain (%)", 100.0)):
        for k, c in enumerate(configs):
            vals = [((get.get((g, s, c)) or {}).get(key) or 0.0) * scale
                    for g, s in transitions]
            ax.bar([i + (k - (len(configs) - 1) / 2) * w for i in range(len(transitions))],
                   vals, w, label=c)
        ax.set_xticks(range(len(transitions)))
        ax.set_xticklabels([f"{g}\nsummer→{s}" for g, s in transitions], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.axhline(0, color="k", lw=0.5)
    axes[0].legend(fontsize=7)
    fig.suptitle("gardenbot bench labels: one retrain per label-source configuration")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="gardenbot bench labels",
                                description=__doc__.split("\n\n")[0])
    add_run_arguments(p, "out/bench/labels")
    p.add_argument("--seasons", default=",".join(DEFAULT_TRANSITIONS),
                   help="the seasons the shipped adapter meets (default: "
                        f"{','.join(DEFAULT_TRANSITIONS)})")
    p.add_argument("--configs", default=",".join(s.name for s in CONFIGURATIONS),
                   help="source configurations (default: all: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="CI size: g07, autumn, 12 s per run")
    args = p.parse_args(argv)
    if args.quick:
        args.gardens, args.seasons = "g07", "autumn"
        args.seconds = min(args.seconds, 12.0)
    gardens, seasons = split_list(args.gardens), split_list(args.seasons)
    names = split_list(args.configs)
    bad = [s for s in seasons if s not in SEASONS]
    unknown = [c for c in names if c not in by_name()]
    if bad or unknown or not seasons or not gardens or not names or args.seconds <= 0:
        p.error(f"seasons are {', '.join(SEASONS)}; configurations are "
                f"{', '.join(by_name())}; --seconds > 0"
                + (f" (got {(bad or unknown)[0]!r})" if bad or unknown else ""))
    gardens, cfg = open_run(p, args, gardens)
    t0 = time.monotonic()
    load_before = round(os.getloadavg()[0], 2)
    configs = [by_name()[c] for c in names]
    rows = [bench_transition(g, s, src, args.seconds, args.seed, cfg, args.card, args.defaults,
                             say)
            for g in gardens for s in seasons for src in configs]
    recovery(rows)
    results: dict[str, Any] = {
        "machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_before": load_before, "load_after": round(os.getloadavg()[0], 2),
        "seconds_per_run": args.seconds, "seed": args.seed, "gardens": gardens,
        "seasons": seasons, "configs": names,
        "configurations": [{"name": s.name, "text": s.text, "set_labels": s.set_labels,
                            "probe": s.probe, "places": s.places, "pseudo": s.pseudo,
                            "annotate": s.annotate, "human_answers": s.human_answers,
                            "dense": s.dense, "options": dict(s.options)} for s in configs],
        "rows": rows, "wall_s": round(time.monotonic() - t0, 1),
    }
    return finish(results, acceptance(results), args.out, "labels", write_markdown, plot)
