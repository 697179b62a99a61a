"""The ``[camera]`` and ``[perception]`` sections of gardenbot.toml (docs/config.md)."""

from __future__ import annotations

from dataclasses import dataclass

from robot.common.geometry import CameraModel
from robot.common.schema import in_range, non_empty, non_negative, one_of, positive, setting


@dataclass(frozen=True)
class CameraConfig:
    """Where frames come from and how the camera is mounted."""

    source: str = setting(
        "0", "camera index (\"0\"), GStreamer pipeline (contains \"!\"), video file or recording "
        "folder", check=non_empty)
    width: int = setting(320, "capture width asked of a live camera", "px", positive)
    height: int = setting(240, "capture height asked of a live camera", "px", positive)
    fps: float = setting(30.0, "capture rate asked of a live camera; 0 = the camera's own",
                         "frames/s", non_negative)
    reconnect_min_s: float = setting(0.5, "first wait before reopening a lost camera", "s",
                                     positive)
    reconnect_max_s: float = setting(10.0, "longest wait between reopen attempts (doubles up to "
                                     "this)", "s", positive)
    hfov_deg: float = setting(70.0, "horizontal field of view", "degrees", in_range(10, 170))
    height_m: float = setting(0.35, "lens height above the ground", "m", positive)
    pitch_deg: float = setting(32.0, "downward tilt of the optical axis", "degrees",
                               in_range(1, 89))
    forward_offset_m: float = setting(0.10, "lens position ahead of the wheel axle", "m")

    def model(self) -> CameraModel:
        """The pinhole model of this camera at its capture size."""
        return CameraModel.from_fov(self.width, self.height, self.hfov_deg, self.height_m,
                                    self.pitch_deg, self.forward_offset_m)


@dataclass(frozen=True)
class PerceptionConfig:
    """Backbone and adapter: frames to per-cell classes."""

    model_card: str = setting("", "backbone model card (.json); \"\" = the shipped "
                              "models/backbone.json")
    variant: str = setting("int8", "backbone file to run: \"int8\" (a third of the size) or "
                           "\"fp32\" (faster on x86; measure with gardenbot bench perf)",
                           check=one_of("int8", "fp32"))
    threads: int = setting(1, "onnxruntime threads for the backbone (1 leaves a core to the "
                           "link and the learner on a 2-core computer; docs/benchmarks.md)",
                           "threads", positive)
    target_fps: float = setting(30.0, "frames per second perception aims for; faster camera "
                                "frames are dropped; 0 = every frame", "frames/s", non_negative)
