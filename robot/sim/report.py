"""The summary of a simulation, in plain text (docs/simulate.md explains each line)."""

from __future__ import annotations

from typing import Any

from robot.sim.outcomes import culprit_text


def _version_order(v: str) -> tuple[int, int, str]:
    """v1, v2, … in number order; a name that is not a number ("oracle": `--oracle-eyes`) last."""
    n = v.lstrip("v")
    return (0, int(n), v) if n.isdigit() else (1, 0, v)


def _fmt(x: float | None) -> str:
    return "  -  " if x is None else f"{x:.3f}"


def format_summary(s: dict[str, Any]) -> str:
    """The final report, in plain text (docs/simulate.md explains each line)."""
    a0, a1 = s["adapter"]["start"], s["adapter"]["end"]
    lines = [
        "",
        f"gardenbot simulate: {s['frames']} frames in {s['loop_seconds']} s "
        f"({s['fps']} frames/s; {s['seconds']} s in all), {s['ended']}",
        f"  input: {' → '.join(s['inputs'])}",
    ]
    seasons = list(dict.fromkeys(k.split("|")[0] for k in s["live_accuracy"]))
    if seasons:
        versions = sorted({k.split("|")[1] for k in s["live_accuracy"]}, key=_version_order)
        lines.append("")
        lines.append("accuracy per cell against the label maps")
        lines.append("  live, frames as played, by the adapter that classified them:")
        header = "    season   " + "".join(f"{v:>16}" for v in versions)
        lines.append(header)
        for season in seasons:
            row = f"    {season:<8} "
            for v in versions:
                t = s["live_accuracy"].get(f"{season}|{v}")
                row += f"{_fmt(t['accuracy']) + ' (' + str(t['frames']) + ' fr)':>16}" if t \
                    else f"{'':>16}"
            lines.append(row)
        if s["held_back"]:
            where = ("fixed views of each season, never driven through or learned from"
                     if s.get("closed_loop") else
                     "last frames of each recording, never learned from")
            lines.append(f"  held back ({where}), before → after: v{a0} → v{a1}")
            for season, row in s["held_back"].items():
                before, after = row.get(f"v{a0}"), row.get(f"v{a1}")
                change = "" if a0 == a1 or before is None or after is None else \
                    f"  ({after - before:+.3f})"
                lines.append(f"    {season:<8} {_fmt(before)} → {_fmt(after)}{change}"
                             f"   on {row['frames']} frames")
    else:
        lines.append("  (no label maps in the input: no accuracy to show)")
    lines += _drive_lines(s)
    lines.append("")
    b = s["button"]
    lines.append("retrain: " + (f"button pressed at frame {b['pressed_at_frame']} of the last "
                                "input" if b["pressed_at_frame"] is not None
                                else "button not pressed"))
    for r in s["retrains"]:
        if r["state"] in ("published", "rejected"):
            lines.append(f"  {r['reason']}: {r['state']}"
                         + (f" as v{r['version']}" if r["version"] else "")
                         + f" after {r['seconds']} s (validation {_fmt(r['current_score'])} → "
                         f"{_fmt(r['candidate_score'])}; {r['new_cells']} new + "
                         f"{r['replay_cells']} replayed cells, trained in {r['train_s']} s)")
        else:
            lines.append(f"  {r['reason']}: {r['state']} {r['message']}")
    for trial in s.get("trials", []):  # robot/learning/trial.py
        lines.append(f"  trial of v{trial['version']}: {trial['reason']}")
    if s.get("bump_alarms"):
        lines.append(f"  bump alarm: rang {s['bump_alarms']} time(s) (three bumps outside "
                     f"probes within a minute); drove {s.get('slow_m', 0.0):.1f} m slowly "
                     f"after it" + (f", held still for {s['hold_frames']} frames"
                                    if s.get("hold_frames") else ""))
    if s["version_changes"]:
        t, season, v = s["version_changes"][0]
        lines.append(f"  perception switched to {v} at t = {t:.1f} s ({season})")
    elif s["retrains"] and a1 != a0:
        lines.append(f"  v{a1} was published after the last frame"
                     + (" (shown in the held-back rows only)" if s["held_back"] else ""))
    L = s["link"]
    lines.append("")
    failures = ", ".join(f"{k} {n}" for k, n in L["failures"].items()) or "none"
    zones = ", ".join(f"zone {z} {ms} ms" for z, ms in L["waterings"]) or "none"
    superseded = f" ({L['drives_superseded']} superseded by a newer one before they went " \
        "out)" if L["drives_superseded"] else ""
    renewed = f", {L['drives_renewed']} renewed while the simulated clock stood still" \
        if L.get("drives_renewed") else ""
    lines.append(f"link: {L['drives_sent']} drive commands sent, {L['drives_acked']} acked"
                 f"{superseded}{renewed}; "
                 f"failures: {failures}; failsafe events (MCU): {L['failsafe_events']}")
    mcu = s.get("mcu")
    if mcu:
        counts = ", ".join(f"{k} {n}" for k, n in sorted(mcu["commands"].items()))
        lines.append(f"  the emulated MCU received: {counts}; {mcu['rx_errors']} bad frames")
    lines.append(f"  waterings: {L['waters_acked']} of {L['waters_sent']} acked ({zones}); "
                 f"policy: " + ", ".join(f"{k} {n}" for k, n in sorted(s["policy"].items())))
    e = s["experience"]
    lines.append("")
    kinds = ", ".join(
        f"{k} {n}" + (f" (precision {e['precision'][k]:.2f} of {e['checked'][k]} checked)"
                      if k in e["precision"] else "")
        for k, n in sorted(e["labels"].items())) or "none"
    lines.append(f"experience labels: {kinds}")
    lines.append(f"  confirmed as a class {e['resolved']} (precision "
                 f"{_fmt(e['resolved_precision'])}), buffered as sets "
                 f"{e.get('set_labelled', 0)}, offered to the buffer {e['added']}")
    probe = s.get("probe")
    if probe and probe.get("probes"):
        ends = ", ".join(f"{k} {n}" for k, n in sorted(probe["outcomes"].items()))
        prec = (e.get("source_precision") or {}).get("probe")
        lines.append(f"  probes: {probe['probes']} ({ends}), {probe['distance_m']:.1f} m; their "
                     f"labels (source probe) {e.get('by_source', {}).get('probe', 0)}, "
                     f"precision {_fmt(prec)}")
    lines += _own_labels(s)
    o = s.get("owner")
    if o:
        line = (f"owner questions: {o['asked']} asked, {o['withdrawn']} withdrawn for more "
                f"useful ones, {o['open']} open")
        if "answered" in o:
            line += (f"; the simulated owner answered {o['answered']} of at most {o['wanted']} "
                     f"({o['cells']} cells, precision {_fmt(o['precision'])})")
        lines.append(line)
    buf = s["buffer"]
    offered = ", ".join(f"{k} {n} offered / {buf['accepted'].get(k, 0)} kept"
                        for k, n in buf["offered"].items()) or "nothing"
    lines.append(f"replay buffer: {buf['start']} → {buf['end']} cells ({offered}); "
                 f"seasons {buf['seasons']}")
    if s["video"]:
        lines.append(f"annotated video: {s['video']}")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "   -" if x is None else f"{100 * x:3.0f}%"


def _drive_lines(s: dict[str, Any]) -> list[str]:
    """How the robot drove, per season and adapter, against the oracle (perfect eyes)."""
    drive = s.get("drive") or {}
    if not drive:
        return []
    closed = s.get("closed_loop") is not None
    lines = ["", "how the robot drove (oracle = the same policy on the true cells of each frame)",
             "    season   adapter  frames  drove on  oracle drove on  false stops  "
             "missed obstacles"
             + ("  distance  bumps/100m  stuck  lawn covered" if closed else "")]
    for key, d in drive.items():
        season, version = key.split("|")
        row = (f"    {season:<8} {version:<8} {d['frames']:>6}  {_pct(d['drove_share']):>8}  "
               f"{_pct(d['oracle_drove_share']):>15}  {_pct(d['false_stop_rate']):>11}"
               f"  {_pct(d['missed_obstacle_rate']):>16}")
        if closed:
            bumps = d["bumps_per_100m"]
            row += (f"  {d['distance_m']:>6.1f} m  {'-' if bumps is None else f'{bumps:.1f}':>10}"
                    f"  {_pct(d['stuck_share'])}  {d.get('lawn_covered_m2', 0.0):>7.1f} m²")
        lines.append(row)
    lines += [f"    {key.replace('|', ' ')} stopped by: {culprit_text(d['false_stop_cells'], 3)}"
              for key, d in drive.items() if d.get("false_stop_cells")]
    lines.append("  false stop: stopped or turned on the spot where the oracle drove on; missed "
                 "obstacle: drove on where the oracle stopped; stopped by: on false stops, the "
                 "cells that blocked the robot and not the oracle, as true class → what it saw")
    return lines


def _own_labels(s: dict[str, Any]) -> list[str]:
    """The memory of places and the pseudo-labels, when they ran (docs/places.md)."""
    out = []
    for key, what in (("places", "place labels (memory of places)"), ("pseudo", "pseudo-labels")):
        p = s.get(key)
        if not p:
            continue
        seasons = ", ".join(f"{k or '-'} {v['labels']} ({_fmt(v['precision'])})"
                            for k, v in p.get("by_season", {}).items())
        out.append(f"{what}: {p['labels']} (precision {_fmt(p['precision'])} of {p['checked']} "
                   f"checked; {p['sets']} as sets), offered to the buffer {p['added']}"
                   + (f"; by season: {seasons}" if seasons else "")
                   + (f"; left out by the cap {p['capped']}" if "capped" in p else ""))
        err = p.get("odometry_error_m")
        if err:
            out.append(f"  odometry vs the true pose: {err['mean']:.3f} m mean, {err['max']:.3f} "
                       f"m max (added drift {p['drift_deg_per_m']:g}°/m"
                       + (", changing sign every day)" if p.get("drift_alternates") else ")"))
        for d, v in p.get("by_drift", {}).items():
            e = v.get("odometry_error_m")
            out.append(f"  under {d}°/m drift: {v['labels']} labels, precision "
                       f"{_fmt(v['precision'])}"
                       + (f"; odometry off by {e['mean']:.3f} m mean, {e['max']:.3f} m max"
                          if e else ""))
    return out
