"""What a cheap robot camera does to a clean render: auto-exposure, vignetting, motion blur, noise.

Auto-exposure chases a season-dependent brightness target with a lag, so the picture dims when
the robot turns towards bright snow and brightens in shade, and the gain it needs in dim light
raises the noise. Motion blur follows the robot's turn rate (sideways smear) and speed.
All randomness comes from the recording's generator; noise is drawn from a small bank of
pre-made frames with random shifts, which is fast and still never repeats exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

from tools.garden.season import SeasonLook

_BANK = 4
_SHIFT = 16


class CameraEffects:
    def __init__(self, width: int, height: int, fx: float, look: SeasonLook,
                 rng: np.random.Generator) -> None:
        self.look = look
        self.fx = fx
        self.rng = rng
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        r2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (height / 2)) ** 2
        self._vignette = np.repeat((1.0 - 0.22 * r2 / 2).astype(np.float32)[..., None], 3, 2)
        self._noise = rng.standard_normal((_BANK, height + _SHIFT, width + _SHIFT, 3),
                                          dtype=np.float32)
        self.gain = 1.0
        self._drift = 0.0
        self._h, self._w = height, width

    def settle(self, image: np.ndarray) -> None:
        """Set the exposure gain where auto-exposure would end up on ``image`` (a camera that
        has been looking at it for a while); the recordings start at gain 1 instead."""
        mean = float(np.mean(cv2.mean(image)[:3]))
        self.gain = float(np.clip(self.look.brightness_target / max(mean, 1.0), 0.4, 3.5))

    def apply(self, image: np.ndarray, v_mps: float, omega_radps: float) -> np.ndarray:
        """One frame through the camera (returns a new uint8 BGR image)."""
        look = self.look
        mean = float(np.mean(cv2.mean(image)[:3]))
        # slow wandering of the exposure (clouds, the camera's own hunting) around the target
        self._drift = 0.9 * self._drift + float(self.rng.normal(0.0, 0.02))
        target = look.brightness_target * (1.0 + self._drift) / max(mean, 1.0)
        self.gain += 0.35 * (np.clip(target, 0.4, 3.5) - self.gain)
        blur_px = abs(omega_radps) * look.exposure_time_s * self.fx
        k = round(blur_px)
        if k >= 2:
            image = cv2.blur(image, (k, 1))
        kv = round(abs(v_mps) * look.exposure_time_s * 60.0)
        if kv >= 2:
            image = cv2.blur(image, (1, kv))
        out = cv2.multiply(image, self._vignette, scale=float(self.gain), dtype=cv2.CV_32F)
        b = int(self.rng.integers(0, _BANK))
        oy, ox = (int(v) for v in self.rng.integers(0, _SHIFT, 2))
        sigma = look.noise_sigma * (0.6 + 0.4 * self.gain)
        out = cv2.scaleAdd(self._noise[b, oy : oy + self._h, ox : ox + self._w], sigma, out)
        np.clip(out, 0, 255, out=out)
        return out.astype(np.uint8)
