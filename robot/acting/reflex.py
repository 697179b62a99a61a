"""The bump reflex: after the bumper closes, back off, turn away, then let the policy drive again.

The camera policy decides from what it sees; a bump means it saw wrong (or the obstacle was
too low or too close to see). Pushing on would stall the wheels against it, so for a moment the
reflex overrides the policy: reverse a short way, then turn on the spot — away from the side
that was hit, or alternately left and right when both sides close at once — so that the next
frames show a different way.
"""

from __future__ import annotations

from dataclasses import dataclass

from robot.acting.policy import DriveCommand

BACKOFF = "backoff"  # reversing after a bump
SEARCH = "search"  # turning on the spot after backing off
REFLEX_REASONS = frozenset({BACKOFF, SEARCH})


@dataclass
class BumpReflex:
    back_speed_mps: float = 0.12
    back_s: float = 0.8
    turn_radps: float = 0.8
    turn_s: float = 1.2
    bumps: int = 0  # bumps that started a reflex
    _since: float | None = None
    _turn: float = 1.0

    def command(self, t: float, bumper_left: bool, bumper_right: bool,
                ttl_ms: int) -> DriveCommand | None:
        """The reflex's command at time ``t`` (seconds), or None when the policy drives.

        A bump while backing off is the same bump (the robot has not left the contact yet);
        a bump while turning starts a new reflex.
        """
        hit = bumper_left or bumper_right
        if hit and (self._since is None or t - self._since >= self.back_s):
            self._since = t
            self.bumps += 1
            if bumper_left != bumper_right:
                self._turn = -1.0 if bumper_left else 1.0  # left side hit: turn right
            else:
                self._turn = 1.0 if self.bumps % 2 else -1.0
        if self._since is None:
            return None
        dt = t - self._since
        if dt < self.back_s:
            return DriveCommand(-self.back_speed_mps, 0.0, ttl_ms, BACKOFF,
                                f"bump {dt:.1f} s ago")
        if dt < self.back_s + self.turn_s:
            return DriveCommand(0.0, self._turn * self.turn_radps, ttl_ms, SEARCH,
                                "turning away from the bump")
        self._since = None
        return None

    def reset(self) -> None:
        self._since = None
