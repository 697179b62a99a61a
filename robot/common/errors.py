"""One exception tree for the robot package; each leaf is also the builtin it resembles."""


class GardenbotError(Exception):
    """Base of every error gardenbot raises on purpose."""


class RecordingError(GardenbotError, ValueError):
    """A recording folder is missing, truncated or corrupt. The message names the file."""


class ModelError(GardenbotError, ValueError):
    """A model file is missing, does not match its card, or was made for another backbone."""


class ConfigError(GardenbotError, ValueError):
    """A configuration value is unknown or invalid. The message names the key (and line)."""


class ReplayBufferError(GardenbotError, ValueError):
    """The replay buffer file is corrupt or does not fit the backbone."""


class StoreError(GardenbotError, ValueError):
    """The adapter store is corrupt or asked for a version it does not have."""


class SampleError(GardenbotError, ValueError):
    """Labelled cells are malformed: a label outside the class map, NaN/inf features, bad shapes."""


class LearnerError(GardenbotError, RuntimeError):
    """A retrain cannot run (nothing to train on, unknown strategy, a failed job)."""


class LearnerCancelled(LearnerError):
    """A retrain was cancelled on request; nothing was published."""
class CameraError(GardenbotError, OSError):
    """A frame source cannot be opened at all (a missing file, an unsupported pipeline).

    A live camera that stops delivering is not an error: it is reconnected with back-off.
    """
