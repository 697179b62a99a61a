"""Experience labels on hand-made drives where the truth is known."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from robot.common.body import RobotConfig
from robot.common.classes import DEFAULT_CLASSES, UNLABELLED
from robot.common.geometry import CameraModel, robot_to_world
from robot.learning.config import ExperienceConfig
from robot.learning.experience import (
    DRY,
    NOT_TRAVERSABLE,
    OBSTACLE,
    TRAVERSABLE_KIND,
    WET,
    ExperienceLabel,
    GroundEvent,
    PoseTrack,
    events_from_telemetry,
    experience_labels,
    measure_precision,
    resolve_label,
)
from robot.seeing.cells import cell_ground_centres
from robot.seeing.recording import RecordingMeta, RecordingWriter

LAWN, PATH, SOIL, PLANT, OBSTACLE_ID = range(5)
CAM = CameraModel()
GRID = (15, 20)
ROBOT = RobotConfig()
CFG = ExperienceConfig()
SPEED = 0.3  # m/s
BOX = (2.0, 2.5, -0.6, 0.6)  # obstacle: x from, x to, y from, y to (world, metres)
PATCH = (1.0, 1.4)  # a muddy soil patch across the way: x from, x to


def in_box(xy: np.ndarray, box: tuple[float, float, float, float], tol: float = 0.0) -> np.ndarray:
    x0, x1, y0, y1 = box
    return ((xy[..., 0] >= x0 - tol) & (xy[..., 0] <= x1 + tol) & (xy[..., 1] >= y0 - tol)
            & (xy[..., 1] <= y1 + tol))


def straight_drive(
    slip_patch: bool = False, moisture: bool = False, hz: float = 20.0,
) -> list[dict]:
    """Drive along +x at 0.3 m/s until the bumper touches BOX, then sit still for a second."""
    stop_x = BOX[0] - ROBOT.front_m
    t_hit = stop_x / SPEED
    records = []
    for t in np.arange(0, t_hit + 1.0, 1 / hz):
        x = min(SPEED * t, stop_x)
        rec = {"t": round(float(t), 4), "x_m": x, "y_m": 0.0, "theta_rad": 0.0,
               "bumper": bool(t >= t_hit and t < t_hit + 0.2), "slip": 0.0}
        if slip_patch and PATCH[0] <= x <= PATCH[1]:
            rec["slip"] = 0.6
        if moisture:
            probe_x = x + CFG.probe_x_m
            rec["moisture"] = 0.1 if PATCH[0] <= probe_x <= PATCH[1] else 0.5
        records.append(rec)
    return records


def cell_world(label: ExperienceLabel, track: PoseTrack, frame_times: np.ndarray) -> np.ndarray:
    """The world point the labelled cell's centre looked at."""
    centres = cell_ground_centres(CAM, GRID)
    pose = track.at(frame_times[label.frame])
    return robot_to_world(centres[label.row, label.col], tuple(pose))


PIXEL_GROUND = CAM.ground_grid()  # (240, 320, 2): every pixel, robot frame
# The labeller estimates coverage from an 8 × 8 lattice per cell; a band crossing the cell can
# be off by one lattice row, so a cell it labels at 0.5 holds at least 0.5 − 1/8 for real.
TRUE_SHARE = 0.5 - 1 / 8


def share_inside(label: ExperienceLabel, track: PoseTrack, frame_times: np.ndarray,
                 box: tuple[float, float, float, float]) -> float:
    """Oracle: the share of the cell's pixels (all 16 × 16 of them) whose ground lies in box."""
    ch, cw = CAM.height // GRID[0], CAM.width // GRID[1]
    block = PIXEL_GROUND[label.row * ch:(label.row + 1) * ch, label.col * cw:(label.col + 1) * cw]
    world = robot_to_world(block, tuple(track.at(frame_times[label.frame])))
    return float(in_box(world, box).mean())


def run(records: list[dict], fps: float = 10.0, cfg: ExperienceConfig = CFG):
    track = PoseTrack.from_telemetry(records)
    frame_times = np.arange(0, records[-1]["t"], 1 / fps)
    events = events_from_telemetry(records, DEFAULT_CLASSES, ROBOT, cfg)
    labels = experience_labels(frame_times, track, events, CAM, GRID, cfg)
    return track, frame_times, events, labels


def test_a_bump_labels_the_cells_that_saw_the_obstacle_from_afar():
    track, times, events, labels = run(straight_drive())
    assert [e.kind for e in events if e.kind == OBSTACLE] == [OBSTACLE], "one bump, one event"
    bumps = [lb for lb in labels if lb.kind == OBSTACLE]
    assert len(bumps) > 20
    for lb in bumps:
        assert lb.label == OBSTACLE_ID and lb.allowed == (OBSTACLE_ID,)
        assert lb.source == "experience"
        assert share_inside(lb, track, times, BOX) >= TRUE_SHARE, f"{lb} looked at no obstacle"
    t_hit = events[[e.kind for e in events].index(OBSTACLE)].t
    seen_at = sorted(times[lb.frame] for lb in bumps)
    assert t_hit - seen_at[0] > 2.5, "near-to-far: frames from seconds before the bump"
    assert seen_at[-1] <= t_hit - CFG.min_gap_s


def test_a_bump_marks_the_middle_of_the_bumper_unless_told_to_take_the_whole_width():
    def obstacle_half_width(cfg: ExperienceConfig) -> float:
        events = events_from_telemetry(straight_drive(), DEFAULT_CLASSES, ROBOT, cfg)
        (bump,) = [e for e in events if e.kind == OBSTACLE]
        return bump.half_extent_m[1]

    assert obstacle_half_width(CFG) == pytest.approx(CFG.obstacle_width_m / 2)
    assert CFG.obstacle_width_m < ROBOT.width_m
    whole = replace(CFG, obstacle_width_m=0.0)
    assert obstacle_half_width(whole) == pytest.approx(ROBOT.width_m / 2)


def test_smooth_driving_labels_the_ground_the_wheels_rolled_over():
    track, times, events, labels = run(straight_drive())
    driven = (-0.1, BOX[0] - ROBOT.front_m + 0.1, -ROBOT.width_m / 2, ROBOT.width_m / 2)
    trav = [lb for lb in labels if lb.kind == TRAVERSABLE_KIND]
    assert len(trav) > 100
    for lb in trav:
        assert lb.label == UNLABELLED and lb.allowed == (LAWN, PATH)
        assert share_inside(lb, track, times, driven) >= TRUE_SHARE, f"{lb}: not the driven lane"
        assert share_inside(lb, track, times, BOX) == 0.0
    n_events = sum(e.kind == TRAVERSABLE_KIND for e in events)
    assert n_events == pytest.approx((BOX[0] - ROBOT.front_m) / CFG.sample_spacing_m, abs=3)


def test_no_smooth_label_near_the_bump_in_time():
    _, _, events, _ = run(straight_drive())
    t_hit = next(e.t for e in events if e.kind == OBSTACLE)
    trav_t = [e.t for e in events if e.kind == TRAVERSABLE_KIND]
    assert all(abs(t - t_hit) > CFG.quiet_window_s for t in trav_t)


SLIP_LABELS = replace(CFG, slip_labels=True)


def test_slip_labels_nothing_by_default_but_is_never_smooth_driving():
    track, times, events, labels = run(straight_drive(slip_patch=True))
    assert not [e for e in events if e.kind == NOT_TRAVERSABLE], "wet lawn slips too"
    middle = (PATCH[0] + 0.1, PATCH[1] - 0.1, -0.1, 0.1)
    assert not any(in_box(cell_world(lb, track, times), middle)
                   for lb in labels if lb.kind == TRAVERSABLE_KIND)


def test_with_slip_labels_on_slip_labels_the_muddy_patch_not_traversable():
    track, times, _, labels = run(straight_drive(slip_patch=True), cfg=SLIP_LABELS)
    slips = [lb for lb in labels if lb.kind == NOT_TRAVERSABLE]
    assert slips and all(lb.allowed == (SOIL, PLANT, OBSTACLE_ID) for lb in slips)
    patch = (PATCH[0], PATCH[1], -ROBOT.width_m / 2, ROBOT.width_m / 2)
    for lb in slips:
        assert share_inside(lb, track, times, patch) >= TRUE_SHARE
    # and no "traversable" label lands in the middle of the patch
    middle = (PATCH[0] + 0.1, PATCH[1] - 0.1, -0.1, 0.1)
    assert not any(in_box(cell_world(lb, track, times), middle)
                   for lb in labels if lb.kind == TRAVERSABLE_KIND)


def test_wheels_spinning_against_an_obstacle_say_nothing_about_the_ground():
    records = straight_drive()
    for r in records:  # pushing against the box: the wheels spin, the robot does not move
        if r["bumper"]:
            r["slip"] = 1.0
    _, _, events, labels = run(records)
    assert [e.kind for e in events if e.kind != TRAVERSABLE_KIND] == [OBSTACLE]
    assert not [lb for lb in labels if lb.kind == NOT_TRAVERSABLE]


def test_the_generators_wheel_slip_field_is_read_as_slip():
    records = straight_drive(slip_patch=True)
    for r in records:
        r["wheel_slip"] = r.pop("slip")
    _, _, events, _ = run(records, cfg=SLIP_LABELS)
    assert any(e.kind == NOT_TRAVERSABLE for e in events)


def test_bump_on_a_curve_lands_on_the_obstacle_too():
    radius, hz = 2.0, 20.0
    omega = SPEED / radius
    t_hit = 5.0
    records = []
    for t in np.arange(0, t_hit + 0.5, 1 / hz):
        a = omega * min(t, t_hit)
        records.append({"t": float(t), "x_m": radius * math.sin(a),
                        "y_m": radius * (1 - math.cos(a)), "theta_rad": a,
                        "bumper": bool(t >= t_hit)})
    track, times, events, labels = run(records)
    hit = next(e for e in events if e.kind == OBSTACLE)
    bumps = [lb for lb in labels if lb.kind == OBSTACLE]
    assert len(bumps) > 5
    for lb in bumps:
        xy = cell_world(lb, track, times)
        # the labelled ground is the strip ahead of the bumper at the hit (within a cell)
        assert np.hypot(*(xy - np.array(hit.centre_xy))) < 0.2


def test_moisture_readings_label_dry_and_wet_ground_with_their_value():
    track, times, _, labels = run(straight_drive(moisture=True))
    dry = [lb for lb in labels if lb.kind == DRY]
    wet = [lb for lb in labels if lb.kind == WET]
    assert dry and wet
    assert all(lb.value == 0.1 and lb.allowed == () and lb.label == UNLABELLED for lb in dry)
    patch = (PATCH[0], PATCH[1], -0.2, 0.2)
    for lb in dry:
        assert in_box(cell_world(lb, track, times), patch, tol=CFG.probe_radius_m + 0.05)


def test_contradicting_events_leave_a_cell_unlabelled():
    track = PoseTrack.from_telemetry([{"t": 0.0, "x_m": 0.0, "y_m": 0.0, "theta_rad": 0.0},
                                      {"t": 5.0, "x_m": 0.0, "y_m": 0.0, "theta_rad": 0.0}])
    where = ((1.0, 0.0), 0.0, (0.3, 0.3))
    trav = GroundEvent(2.0, TRAVERSABLE_KIND, (LAWN, PATH), *where)
    bump = GroundEvent(2.1, OBSTACLE, (OBSTACLE_ID,), *where)
    stall = GroundEvent(2.2, NOT_TRAVERSABLE, (SOIL, PLANT, OBSTACLE_ID), *where)
    alone = experience_labels([0.0], track, [trav], CAM, GRID, CFG)
    assert alone
    assert experience_labels([0.0], track, [trav, bump], CAM, GRID, CFG) == []
    narrowed = experience_labels([0.0], track, [bump, stall], CAM, GRID, CFG)
    assert narrowed and all(lb.kind == OBSTACLE and lb.label == OBSTACLE_ID for lb in narrowed)


def test_far_cells_are_not_labelled_by_a_small_footprint():
    track, times, _, labels = run(straight_drive())
    far = 1.6
    for lb in labels:
        pose = track.at(times[lb.frame])
        xy = cell_world(lb, track, times)
        assert xy[0] - pose[0] < far, "a 10 cm strip never covers half a cell 1.6 m away"


def test_resolve_label_confirms_a_traversable_prediction():
    trav = ExperienceLabel(0, 1, 2, UNLABELLED, (LAWN, PATH), TRAVERSABLE_KIND, 1.0, 0.0)
    assert resolve_label(trav, PATH) == PATH
    assert resolve_label(trav, SOIL) == UNLABELLED
    bump = ExperienceLabel(0, 1, 2, OBSTACLE_ID, (OBSTACLE_ID,), OBSTACLE, 1.0, 0.0)
    assert resolve_label(bump, LAWN) == OBSTACLE_ID


def test_pose_track_interpolates_across_the_angle_wrap_and_not_beyond():
    track = PoseTrack.from_telemetry([
        {"t": 0.0, "x_m": 0.0, "y_m": 0.0, "theta_rad": math.pi - 0.1},
        {"t": 1.0, "x_m": 1.0, "y_m": 0.0, "theta_rad": -math.pi + 0.1},
        {"t": 2.0, "bumper": True},  # no pose: skipped
    ])
    mid = track.at(0.5)
    assert mid[0] == pytest.approx(0.5)
    assert math.cos(mid[2]) == pytest.approx(-1.0), "through π, not through 0"
    assert np.isnan(track.at(1.5)).all() and np.isnan(track.at(-0.1)).all()


def test_too_little_telemetry_gives_no_labels():
    assert events_from_telemetry([], DEFAULT_CLASSES, ROBOT, CFG) == []
    assert experience_labels([0.0], PoseTrack.from_telemetry([]), [], CAM, GRID, CFG) == []


# --- precision on a recording where the truth is known ----------------------------------------

def world_class(xy: np.ndarray) -> np.ndarray:
    cls = np.full(xy.shape[:-1], LAWN, np.uint8)
    cls[(xy[..., 1] > -0.5) & (xy[..., 1] < -0.3)] = PATH
    cls[(xy[..., 0] >= PATCH[0]) & (xy[..., 0] <= PATCH[1])] = SOIL
    cls[in_box(xy, BOX)] = OBSTACLE_ID
    return np.where(np.isnan(xy[..., 0]), UNLABELLED, cls).astype(np.uint8)


def write_drive_recording(path: Path, fps: float = 10.0) -> None:
    records = straight_drive(slip_patch=True, moisture=True)
    track = PoseTrack.from_telemetry(records)
    meta = RecordingMeta(fps=fps, width=CAM.width, height=CAM.height, camera=CAM,
                         season="summer", source={"kind": "synthetic", "generator": "test"})
    ground = CAM.ground_grid()
    paint = np.array([(40, 150, 40), (150, 150, 150), (40, 70, 110), (140, 60, 160),
                      (30, 30, 200)], np.uint8)
    with RecordingWriter(path, meta) as w:
        for i, t in enumerate(np.arange(0, records[-1]["t"], 1 / fps)):
            pose = tuple(track.at(t))
            lab = world_class(robot_to_world(ground, pose))
            img = paint[np.minimum(lab, 4)]
            w.add_frame(img, t=float(t), labels=lab if i % 2 == 0 else None)
        for r in records:
            w.add_telemetry(r)


def test_measure_precision_on_a_recording_with_known_truth(tmp_path: Path):
    write_drive_recording(tmp_path / "drive")
    report = measure_precision(tmp_path / "drive", cfg=SLIP_LABELS)
    assert report["frames_labelled"] > report["frames"] // 2
    kinds = report["per_kind"]
    for kind in (OBSTACLE, NOT_TRAVERSABLE, TRAVERSABLE_KIND):
        assert kinds[kind]["checked"] > 5, kind
        assert kinds[kind]["precision"] >= 0.95, (kind, kinds[kind])
    assert kinds[DRY]["labels"] > 0 and kinds[DRY]["precision"] is None
    assert report["precision"] >= 0.95
    assert report["checked"] <= report["labels"]


def _step_after_a_drive(set_labels: bool, source_of=None):
    """ExperienceStep fed a straight drive into the box while the adapter calls everything
    "plant" (leaf-covered lawn in autumn); returns the buffer it filled."""
    from robot.learning.replay_buffer import ReplayBuffer
    from robot.runtime.learning import CellOrigin, ExperienceStep, KeyFrame, Memory

    dim = 4
    memory = Memory(ReplayBuffer(dim, "ab" * 32, DEFAULT_CLASSES), Path("unused.gbrb"))
    step = ExperienceStep(memory, CAM, GRID, DEFAULT_CLASSES, ROBOT,
                          replace(CFG, set_labels=set_labels), dry_below=0.2,
                          describe=lambda tick: CellOrigin("autumn", "drive", 0.0))
    step.source_of = source_of
    records = straight_drive()
    rng = np.random.default_rng(0)
    step._records.extend(records)
    origin = CellOrigin("autumn", "drive", 0.0)
    for t in np.arange(0, records[-1]["t"], 0.1):
        step._keyframes.append(KeyFrame(
            float(t), rng.standard_normal((*GRID, dim)).astype(np.float16),
            np.full(GRID, PLANT, np.uint8), None, origin))
    step.label(records[-1]["t"] + 1.0)
    return step, memory.buffer


def test_experience_step_buffers_smooth_driving_as_a_set_label_the_adapter_disagrees_with():
    step, buf = _step_after_a_drive(set_labels=True)
    sets = buf.set_counts()
    assert sets.get("lawn|path", 0) > 100  # the adapter said plant: buffered anyway, as a set
    assert step.stats.set_labelled == sets["lawn|path"]
    assert buf.class_counts()["obstacle"] > 0  # the bump stays a single label
    assert buf.class_counts()["plant"] == 0  # the adapter's own (wrong) view is never a label
    cells = buf.cells()
    assert set(cells.source) == {"experience"}
    assert np.all(cells.labels[cells.is_set] == UNLABELLED)


def test_labels_of_events_during_a_probe_are_buffered_as_the_probes():
    records = straight_drive()
    half = records[-1]["t"] / 2
    step, buf = _step_after_a_drive(True, lambda t: "probe" if t >= half else "experience")
    by_source = step.stats.by_source
    assert by_source["probe"] > 0 and by_source["experience"] > 0
    assert sum(by_source.values()) == step.stats.added == len(buf)
    assert {str(s) for s in buf.cells().source} == {"probe", "experience"}
    assert step.stats.source_precision("probe") is None  # no label map: nothing to check


def test_confirm_only_experience_drops_what_the_adapter_disagrees_with():
    step, buf = _step_after_a_drive(set_labels=False)
    assert buf.set_counts() == {}
    assert buf.class_counts()["lawn"] == buf.class_counts()["path"] == 0
    assert buf.class_counts()["obstacle"] > 0 and step.stats.set_labelled == 0
