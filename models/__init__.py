"""Data files shipped with gardenbot: the frozen backbone, default adapters, sample recordings."""

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent
SAMPLES_DIR = MODELS_DIR / "samples"
