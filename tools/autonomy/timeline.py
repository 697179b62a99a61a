"""The owner's timeline of an autonomous run (tools/autonomy/days.py): a summary per season change
and a plot over the simulated days.

For each season change (the day ``c`` on which one season is half turned into the next; the
look blends over ``transition_days`` around it) the summary gives, in simulated days from
``c``: the first drift alarm, the first published adapter, the first day the robot drives
within ``BACK_POINTS`` of the oracle's false-stop rate again, and the first day from which it
does so on every later day of that season (it stayed back). A change's window runs from the
start of its blend to the start of the next one's; the first alarm in it is the change's
detection, every other alarm is a false alarm.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from robot.common.classes import SEASONS
from robot.sim.outcomes import culprit_text
from tools.formatting import num, pct
from tools.garden.season import season_of_day

BACK_POINTS = 0.10  # "back within 10 points of the oracle's false-stop rate"
BUMP_SLACK = 1.0  # bumps per 100 m a day after a retrain may exceed the day before by (as the
#                   drive test's bar "bumps/100 m <= oracle's + 1")


def retrain_time(rec: dict[str, Any], r: dict[str, Any], day_seconds: float) -> float:
    """When a retrain's adapter could first drive, in simulated days: a day retrain at its
    request in that day's session, a night retrain at the next morning."""
    if r["when"] == "night":
        return rec["day"] + 1.0
    return rec["day"] + (r.get("requested_t") or 0.0) / 86_400.0


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    recs = results["records"]
    td = results["transition_days"]
    last_day = recs[-1]["day"] if recs else 0
    starts = [c - td / 2 for c in results["changes"]]
    changes = []
    detections: set[tuple[int, int]] = set()
    for i, c in enumerate(results["changes"]):
        lo = starts[i]
        hi = starts[i + 1] if i + 1 < len(starts) else float("inf")
        inside = [r for r in recs if lo <= r["day"] < hi]
        before_season = season_of_day(c - 1, results["season_days"])  # c starts a season
        alarm = next(((r, k, a) for r in inside for k, a in enumerate(r["alarms"])), None)
        if alarm is not None:
            detections.add((alarm[0]["day"], alarm[1]))
        # the first adapter published from a day of the changed look (day c is half turned)
        pub = next((retrain_time(r, t, results["day_seconds"]) for r in inside
                    if r["day"] >= c for t in r["retrains"] if t["state"] == "published"),
                   None)
        after = [r for r in inside if r["day"] >= c]
        back = next((r["day"] - c for r in after if _within(r)), None)
        stay = next((r["day"] - c for k, r in enumerate(after)
                     if all(_within(x) for x in after[k:])), None)
        worst = max((r["false_stop_rate"] for r in inside
                     if r["false_stop_rate"] is not None), default=None)
        changes.append({
            "change_day": c, "from": before_season, "to": season_of_day(c, results["season_days"]),
            "days_seen": [r["day"] for r in inside],
            "days_to_alarm": (round(alarm[2]["time_s"] / 86_400.0 - c, 2)
                              if alarm is not None else None),
            "days_to_published": round(pub - c, 2) if pub is not None else None,
            "days_to_back": back, "days_to_stay_back": stay, "worst_false_stop_rate": worst,
            "last_day_seen": inside[-1]["day"] if inside else None,
            "observed_after": (inside[-1]["day"] - c) if inside else None,
        })
    stable = [r["day"] for r in recs
              if not any(abs(r["day"] - c) <= td / 2 for c in results["changes"])]
    # Alarms after the first one of a change: on a stable day a false alarm, counted against the
    # stable days; while the look is still blending, a repeat that is listed but not counted.
    later = [{"day": r["day"], "time_s": a["time_s"]} for r in recs
             for k, a in enumerate(r["alarms"]) if (r["day"], k) not in detections]
    false_alarms = [a for a in later if a["day"] in stable]
    repeats = [a for a in later if a["day"] not in stable]
    month_days = 4 * results["season_days"] / 12  # a month of the compressed year
    retrains = [{"day": r["day"], **t} for r in recs for t in r["retrains"]]
    return {
        "changes": changes,
        "alarms": sum(len(r["alarms"]) for r in recs),
        "false_alarms": false_alarms, "repeat_alarms_in_changes": repeats,
        "stable_days": stable, "month_days": round(month_days, 2),
        "false_alarms_per_month": (round(len(false_alarms) / (len(stable) / month_days), 2)
                                   if stable else None),
        "retrains": {"published": sum(t["state"] == "published" for t in retrains),
                     "rejected": sum(t["state"] == "rejected" for t in retrains),
                     "other": sum(t["state"] not in ("published", "rejected")
                                  for t in retrains),
                     "by_reason": _count(t["reason"] for t in retrains),
                     # published, then sent back to its parent by its trial on the road
                     "rolled_back": [{"day": r["day"], "version": t["version"],
                                      "parent": t["parent"], "reason": t["reason"]}
                                     for r in recs for t in r.get("trials", [])
                                     if t["rolled_back"]]},
        "bump_alarms": sum(r.get("bump_alarms", 0) for r in recs),
        "slow_m": round(sum(r.get("slow_m", 0.0) for r in recs), 1),
        "hold_frames": sum(r.get("hold_frames", 0) for r in recs),
        "collisions_after_retrains": collisions_after_retrains(results),
        "paired_collisions": paired_collisions(results),
        "buffer": _buffer(recs),
        "forgetting": results.get("forgetting"),
        "days_run": [recs[0]["day"], last_day] if recs else None,
    }


def collisions_after_retrains(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per published retrain: bumps per 100 m on the day it was asked for against the next day
    (the new adapter's first whole day); raised when the next day is above by > BUMP_SLACK."""
    recs = {r["day"]: r for r in results["records"]}
    out = []
    for r in results["records"]:
        for t in r["retrains"]:
            if t["state"] != "published":
                continue
            nxt = recs.get(r["day"] + 1)
            before, after = r["bumps_per_100m"], nxt["bumps_per_100m"] if nxt else None
            out.append({"day": r["day"], "version": t.get("version"), "reason": t["reason"],
                        "before": before, "after": after, "bumps_before": r["bumps"],
                        "bumps_after": nxt["bumps"] if nxt else None,
                        "probe_bumps_after": nxt.get("probe_bumps") if nxt else None,
                        "raised": (after is not None and after > (before or 0.0) + BUMP_SLACK)})
    return out


def paired_collisions(results: dict[str, Any]) -> dict[str, Any] | None:
    """The pairs (``--pairs``, tools/autonomy/days.py ``drive_pair``): per morning after a
    change of adapter, the old and the new adapter's bumps per 100 m on the same ground and
    light, raised when the new one is above by > BUMP_SLACK with at least two bumps (one is not
    evidence, as in a trial); and all the pairs' bumps and metres added up. None: no pairs."""
    pairs = [dict(r["pair"], day=r["day"]) for r in results["records"] if r.get("pair")]
    if not pairs:
        return None
    done = [p for p in pairs if "why_not" not in p]
    for p in done:
        old, new = p["old"], p["new"]
        p["raised"] = (new["bumps"] >= 2 and new["bumps_per_100m"] is not None
                       and new["bumps_per_100m"] > (old["bumps_per_100m"] or 0.0) + BUMP_SLACK)
    total = {side: {"bumps": sum(p[side]["bumps"] for p in done),
                    "distance_m": round(sum(p[side]["distance_m"] for p in done), 1)}
             for side in ("old", "new")}
    for t in total.values():
        t["bumps_per_100m"] = round(100 * t["bumps"] / t["distance_m"], 2) \
            if t["distance_m"] else None
    return {"pairs": pairs, "raised": [p["day"] for p in done if p["raised"]],
            "not_driven": [p["day"] for p in pairs if "why_not" in p], "total": total}


def _buffer(recs: list[dict[str, Any]]) -> dict[str, Any]:
    if not recs:
        return {}
    cap = recs[-1]["buffer"]["capacity_bytes"]
    most = max(r["buffer"]["file_bytes"] for r in recs)
    seen = list(dict.fromkeys(r["season"] for r in recs))
    end = recs[-1]["buffer"]["by_season"]
    return {"capacity_bytes": cap, "max_bytes": most, "within_cap": most <= cap,
            "end_by_season": end, "seasons_driven": seen,
            "seasons_missing_at_end": [s for s in seen if not end.get(s)]}


def _within(r: dict[str, Any]) -> bool:
    f = r["false_stop_rate"]
    return f is not None and f <= r["oracle_false_stop_rate"] + BACK_POINTS


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def _days(x: float | None) -> str:
    return "not within the run" if x is None else f"{x:+.2f} d"


def format_summary(results: dict[str, Any], summary: dict[str, Any]) -> str:
    t = results["triggers"]
    lines = [f"autonomous run: {results['garden']}, days {summary['days_run'][0]}–"
             f"{summary['days_run'][1]} of a year of {4 * results['season_days']:g} days "
             f"(seasons blend over {results['transition_days']:g} days), "
             f"{results['day_seconds']:g} simulated s of work a day, seed {results['seed']}; "
             f"label sources: {results['source_text']}; no human input",
             f"triggers: drift alarm (a frame novel with > {100 * t['drift_fraction']:.0f} % "
             f"of its cells above novelty {t['drift_novelty']:g}; "
             + (f"{t['drift_sessions']} sessions in a row with >= "
                f"{100 * t['drift_share']:.0f} % novel frames" if "drift_sessions" in t
                else f"novel frames for {t['drift_sustain_s']:g} s")
             + f"), schedule {t['schedule']!r} with >= {t['min_new_samples']} new labels"
             + (f"; bump alarm {t['bump_alarm']} in {t['bump_window']} frames"
                if t.get("bump_alarm") else "")
             + (f"; new adapters on trial for {results['trial']['frames']} frames (stops) "
                "and 30 m (bumps)" if (results.get("trial") or {}).get("frames") else ""), ""]
    for c in summary["changes"]:
        lines.append(f"season change {c['from']} -> {c['to']} (day {c['change_day']:g}; seen "
                     f"until {_days(c['observed_after'])}): alarm {_days(c['days_to_alarm'])}, "
                     f"published adapter {_days(c['days_to_published'])}, back within "
                     f"{100 * BACK_POINTS:.0f} points of the oracle "
                     f"{_days(c['days_to_back'])}, and stayed so {_days(c['days_to_stay_back'])} "
                     f"(worst day's false stops "
                     f"{pct(c['worst_false_stop_rate'])})")
    if not summary["changes"]:
        lines.append("no season change in the days run")
    fa = summary["false_alarms"]
    lines.append(f"alarms: {summary['alarms']}; false alarms {len(fa)} on "
                 f"{len(summary['stable_days'])} days with no change"
                 + (f" ({summary['false_alarms_per_month']:g} per month of "
                    f"{summary['month_days']:g} days)" if summary['stable_days'] else "")
                 + f"; {len(summary.get('repeat_alarms_in_changes', []))} more while a change "
                   "was still blending in")
    rt = summary["retrains"]
    back = rt.get("rolled_back", [])
    lines.append(f"retrains: {rt['published']} published, {rt['rejected']} rejected, "
                 f"{rt['other']} other; by trigger {rt['by_reason'] or '-'}; "
                 f"bump alarms {summary.get('bump_alarms', 0)} "
                 f"(then {summary.get('slow_m', 0.0):.0f} m driven slowly"
                 + (f", {summary['hold_frames']} frames held still"
                    if summary.get("hold_frames") else "") + ")")
    lines.append("trials on the road: " + ("no adapter rolled back" if not back else
                                           f"{len(back)} rolled back: " + "; ".join(
        f"day {b['day']} v{b['version']} -> v{b['parent']}" for b in back)))
    raised = [c for c in summary["collisions_after_retrains"] if c["raised"]]
    lines.append("collisions after each published retrain: "
                 + ("none raised" if not raised else "raised after "
                    + ", ".join(f"day {c['day']} v{c['version']} ({c['before']} -> "
                                f"{c['after']} per 100 m; {c['bumps_after']} bumps, "
                                f"{c['probe_bumps_after']} of them ending a probe)"
                                for c in raised)))
    paired = summary.get("paired_collisions")
    if paired:
        t = paired["total"]
        lines.append(f"the same morning driven by the old and the new adapter "
                     f"({len(paired['pairs'])} pairs): old {t['old']['bumps']} bumps in "
                     f"{t['old']['distance_m']} m ({t['old']['bumps_per_100m']} per 100 m), "
                     f"new {t['new']['bumps']} in {t['new']['distance_m']} m "
                     f"({t['new']['bumps_per_100m']} per 100 m); raised on "
                     + (", ".join(f"day {d}" for d in paired["raised"]) or "no day"))
    b = summary["buffer"]
    if b:
        lines.append(f"replay buffer: at most {b['max_bytes']} of {b['capacity_bytes']} bytes; "
                     f"at the end {b['end_by_season']}"
                     + (f"; missing {', '.join(b['seasons_missing_at_end'])}"
                        if b["seasons_missing_at_end"] else ""))
    fm = summary["forgetting"] or {}
    if fm.get("fm_points") is not None:
        lines.append(f"forgetting at the end (evaluation views of each earlier season's days): "
                     f"FM {fm['fm_points']:.2f} points {fm['drop_points']}")
    lines += _culprit_lines(results["records"])
    lines += ["", "day  season  false stops  missed  distance  bumps/100m  held-back  drift  "
              "alarms  stopped by              retrains"]
    for r in results["records"]:
        tr = ", ".join(f"{x['when']} {x['reason']} {x['state']}"
                       + (f" v{x['version']}" if x.get("version") else "")
                       for x in r["retrains"]) or "-"
        tr += "".join(f"; v{x['version']} rolled back to v{x['parent']}"
                      for x in r.get("trials", []) if x["rolled_back"])
        lines.append(f"{r['day']:>3}  {r['season']:<6}  {pct(r['false_stop_rate']):>11}  "
                     f"{pct(r['missed_obstacle_rate']):>6}  {r['distance_m']:>6.1f} m  "
                     f"{num(r['bumps_per_100m']):>10}  {num(r['held_back'], '.3f'):>9}  "
                     f"{pct(r['drift_score']):>5}  {len(r['alarms']):>6}  "
                     f"{culprit_text(r.get('false_stop_cells') or {}):<22}  {tr}")
    lines.append("(the oracle — the same policy on the true cells — is the reference each "
                 "frame is judged against: its false-stop rate is 0)")
    return "\n".join(lines)


def _culprit_lines(records: list[dict[str, Any]]) -> list[str]:
    """Per season, what stopped the robot where the oracle drove (the cells, all days)."""
    by_season: dict[str, Counter[str]] = {}
    for r in records:
        by_season.setdefault(r["season"], Counter()).update(r.get("false_stop_cells") or {})
    if not any(by_season.values()):
        return []
    return ["what stopped the robot where the oracle drove (true class → what it saw; share of "
            "the cells that blocked it and not the oracle):"] + [
        f"  {season}: {culprit_text(cells, 3)}"
        for season, cells in by_season.items() if cells]


def write(results: dict[str, Any], out_dir: Path, stem: str = "timeline") -> dict[str, Path]:
    """``stem``.json and ``stem``.png in ``out_dir`` of a run with its ``summary`` (:func:
    `summarize`) already in it, as `gardenbot bench autonomy` keeps its runs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / f"{stem}.json"
    js.write_text(json.dumps(results, indent=1, default=str) + "\n")
    png = plot(results, out_dir / f"{stem}.png")
    return {"json": js, "png": png}


def plot(results: dict[str, Any], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = results["records"]
    days = [r["day"] for r in recs]
    fig, ax = plt.subplots(5, 1, figsize=(9, 11), sharex=True)

    def series(key: str, scale: float = 1.0) -> list[float]:
        return [float("nan") if r[key] is None else scale * r[key] for r in recs]

    ax[0].plot(days, series("false_stop_rate", 100), "o-", color="#c0504d", label="robot")
    ax[0].plot(days, series("oracle_false_stop_rate", 100), "k--", label="oracle")
    ax[0].plot(days, series("missed_obstacle_rate", 100), "s:", color="#8064a2", ms=4,
               label="missed obstacles")
    ax[0].axhspan(0, 100 * BACK_POINTS, color="#9bbb59", alpha=0.15,
                  label=f"within {100 * BACK_POINTS:.0f} points of the oracle")
    ax[0].set_ylabel("false stops %")
    ax[1].bar(days, series("bumps_per_100m"), color="#f79646", width=0.6)
    ax[1].set_ylabel("bumps / 100 m")
    ax[2].plot(days, series("held_back_start"), "o--", color="#4f81bd", alpha=0.5,
               label="adapter of the morning")
    ax[2].plot(days, series("held_back"), "o-", color="#4f81bd", label="at the end of the day")
    ax[2].set_ylabel("held-back accuracy")
    ax[2].set_ylim(0, 1.02)
    ax[3].plot(days, series("drift_score", 100), "o-", color="#4bacc6",
               label="novel cells (drift score)")
    ax[3].plot(days, series("novel_frame_share", 100), "^:", color="#31859c",
               label="novel frames")
    ax[3].axhline(100 * results["triggers"]["drift_fraction"], color="grey", lw=0.8,
                  label="a frame is novel above")
    ax[3].set_ylabel("drift %")
    bottom = [0.0] * len(recs)
    colours = {"spring": "#9bbb59", "summer": "#f2c314", "autumn": "#c0504d",
               "winter": "#4f81bd"}
    for s in SEASONS:
        vals = [r["buffer"]["by_season"].get(s, 0) for r in recs]
        if any(vals):
            ax[4].bar(days, vals, bottom=bottom, color=colours[s], width=0.6, label=s)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax[4].set_ylabel("buffer cells")
    ax[4].set_xlabel("simulated day")
    for a in ax:
        for c in results["changes"]:
            a.axvline(c, color="black", ls="--", lw=0.8)
        for r in recs:
            for al in r["alarms"]:
                a.axvline(al["time_s"] / 86_400.0, color="red", ls=":", lw=1.2)
            for t in r["retrains"]:
                x = retrain_time(r, t, results["day_seconds"])
                if t["state"] == "published":
                    a.axvline(x, color="green", lw=1.0, alpha=0.6)
                elif t["state"] == "rejected":
                    a.axvline(x, color="orange", lw=1.0, alpha=0.8)
            for t in r.get("trials", []):
                if t["rolled_back"]:  # during that day; its exact time is not recorded
                    a.axvline(r["day"] + 0.5, color="purple", lw=1.2, alpha=0.8)
        a.legend(fontsize=7, loc="upper left") if a.get_legend_handles_labels()[0] else None
    ax[0].set_title(f"{results['garden']}: season changes (black dashed), drift alarms (red "
                    "dotted), retrains published (green) / rejected (orange), rolled back "
                    "by their trial (purple)", fontsize=9)
    fig.suptitle("gardenbot simulate --autonomous: the robot alone through the seasons")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
