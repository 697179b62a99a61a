"""One synthetic recording: a garden, a season, a drive, rendered and written frame by frame.

``RecordingSpec`` says what to make; ``frames(spec)`` yields every frame with its label map and
telemetry (used by tests and the preview); ``write_recording`` writes a recording folder with
``robot.seeing.recording.RecordingWriter``. Same spec, same frames: every random draw comes from
generators seeded by (garden, season, year, seed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot.common.classes import DEFAULT_CLASSES, SEASONS
from robot.common.geometry import CameraModel
from robot.seeing.recording import RecordingMeta, RecordingWriter
from tools.garden.camera_fx import CameraEffects
from tools.garden.layout import Garden, garden_role, parse_garden_id
from tools.garden.motion import ROBOT_RADIUS_M, TICKS_PER_M, WHEEL_BASE_M
from tools.garden.render import GardenRenderer
from tools.garden.telemetry import telemetry_records
from tools.garden.trajectory import RobotState, drive
from tools.garden.world import World, build_world

GENERATOR_NAME = "gardenbot-synth"
GENERATOR_VERSION = 1
MAX_SECONDS = 3600.0
MAX_FPS = 60.0


def default_camera() -> CameraModel:
    return CameraModel.from_fov(320, 240, 70.0, 0.35, 32.0)


@dataclass(frozen=True)
class RecordingSpec:
    garden: str
    season: str
    seconds: float
    fps: float = 10.0
    seed: int = 0
    year: int = 0  # 0 = the first year; 1 = "next spring" and so on
    label_every: int = 1  # write a label map on every n-th frame
    camera: CameraModel = field(default_factory=default_camera)

    def __post_init__(self) -> None:
        object.__setattr__(self, "garden", parse_garden_id(self.garden))
        if self.season not in SEASONS:
            raise ValueError(f"season {self.season!r} is not one of {', '.join(SEASONS)}")
        if not (0 < self.seconds <= MAX_SECONDS):
            raise ValueError(f"seconds must be in (0, {MAX_SECONDS:g}], got {self.seconds!r}")
        if not (0 < self.fps <= MAX_FPS):
            raise ValueError(f"fps must be in (0, {MAX_FPS:g}], got {self.fps!r}")
        if not (isinstance(self.seed, int) and self.seed >= 0):
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (isinstance(self.year, int) and self.year >= 0):
            raise ValueError(f"year must be a non-negative integer, got {self.year!r}")
        if not (isinstance(self.label_every, int) and self.label_every >= 1):
            raise ValueError(f"label_every must be an integer >= 1, got {self.label_every!r}")

    @property
    def frame_count(self) -> int:
        return max(1, round(self.seconds * self.fps))

    @property
    def role(self) -> str:
        return garden_role(self.garden)

    def rngs(self) -> tuple[np.random.Generator, np.random.Generator, np.random.Generator]:
        """Independent generators for the drive, the telemetry and the camera."""
        root = np.random.SeedSequence(
            [0x5EED, int(self.garden[1:]), SEASONS.index(self.season), self.year, self.seed])
        return tuple(np.random.default_rng(s) for s in root.spawn(3))  # type: ignore[return-value]


@dataclass(frozen=True)
class SynthFrame:
    index: int
    t: float
    image: np.ndarray  # BGR uint8 after the camera effects
    labels: np.ndarray  # class ids uint8 (every frame has them; the writer keeps every n-th)
    state: RobotState
    telemetry: dict[str, Any]


@dataclass(frozen=True)
class Synthesis:
    """Everything fixed before the first frame: world, drive, telemetry."""

    spec: RecordingSpec
    world: World
    states: list[RobotState]
    telemetry: list[dict[str, Any]]


def prepare(spec: RecordingSpec) -> Synthesis:
    world = build_world(spec.garden, spec.season, spec.year, spec.seed)
    drive_rng, telemetry_rng, _ = spec.rngs()
    states = drive(world.garden, world.look, spec.seconds, spec.fps, drive_rng)
    records = telemetry_records(world.garden, world.look, states, spec.seconds, telemetry_rng)
    return Synthesis(spec, world, states, records)


def frames(spec: RecordingSpec, synthesis: Synthesis | None = None) -> Iterator[SynthFrame]:
    syn = synthesis or prepare(spec)
    cam = spec.camera
    renderer = GardenRenderer(syn.world, cam)
    _, _, fx_rng = spec.rngs()
    fx = CameraEffects(cam.width, cam.height, cam.fx, syn.world.look, fx_rng)
    for i, (st, rec) in enumerate(zip(syn.states, syn.telemetry, strict=True)):
        clean, labels = renderer.render(st.pose)
        image = fx.apply(clean, st.v_mps, st.omega_radps)
        yield SynthFrame(i, st.t, image, labels, st, rec)


def recording_meta(spec: RecordingSpec, garden: Garden, world: World) -> RecordingMeta:
    light = world.look.light
    extra = {
        "generator": {"name": GENERATOR_NAME, "version": GENERATOR_VERSION},
        "garden": {
            "id": garden.id, "role": garden.role, "width_m": garden.width_m,
            "height_m": garden.height_m, "boundary": garden.boundary,
            "boundary_height_m": garden.boundary_height_m, "path_material": garden.path_material,
        },
        "world_frame": "x east, y north, z up, metres; the garden is [0, width_m] x [0, height_m]",
        "year": spec.year,
        "label_every": spec.label_every,
        "robot": {"wheel_base_m": WHEEL_BASE_M, "ticks_per_m": TICKS_PER_M,
                  "footprint_radius_m": ROBOT_RADIUS_M},
        "watering_zones": [
            {"zone": bed.id, "outline": [list(p) for p in bed.outline],
             "probes": [{"probe": p.id, "x_m": p.x_m, "y_m": p.y_m} for p in bed.probes]}
            for bed in garden.beds
        ],
        "light": {"sun_elevation_deg": round(light.sun_elevation_deg, 2),
                  "sun_azimuth_deg": round(light.sun_azimuth_deg, 2)},
    }
    return RecordingMeta(
        fps=spec.fps, width=spec.camera.width, height=spec.camera.height, camera=spec.camera,
        classes=DEFAULT_CLASSES, season=spec.season,
        source={"kind": "synthetic", "generator": f"{GENERATOR_NAME} {GENERATOR_VERSION}",
                "seed": spec.seed, "garden": garden.id},
        extra=extra,
    )


def write_recording(
    spec: RecordingSpec, out: str | os.PathLike[str], overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Write the recording ``spec`` describes into folder ``out``; returns a summary.

    ``progress`` is called with the number of frames written since its last call.
    """
    syn = prepare(spec)
    meta = recording_meta(spec, syn.world.garden, syn.world)
    labelled = 0
    with RecordingWriter(out, meta, overwrite=overwrite) as writer:
        for f in frames(spec, syn):
            keep = f.index % spec.label_every == 0
            writer.add_frame(f.image, f.t, f.labels if keep else None)
            writer.add_telemetry(f.telemetry)
            labelled += keep
            if progress is not None:
                progress(1)
    return {"path": str(Path(out)), "garden": spec.garden, "role": spec.role,
            "season": spec.season, "year": spec.year, "seed": spec.seed,
            "frames": spec.frame_count, "labelled_frames": labelled}
