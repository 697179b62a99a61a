"""Reflexes that drive for a moment instead of the camera policy.

The bump reflex: after the bumper closes, back off, turn away, then let the policy drive again.

The camera policy decides from what it sees; a bump means it saw wrong (or the obstacle was
too low or too close to see). Pushing on would stall the wheels against it, so for a moment the
reflex overrides the policy: reverse a short way, then turn on the spot — away from the side
that was hit, or alternately left and right when both sides close at once — so that the next
frames show a different way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from robot.acting.policy import STOP_BLOCKED, DriveCommand

BACKOFF = "backoff"  # reversing after a bump
SEARCH = "search"  # turning on the spot after backing off


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


@dataclass
class Unstick:
    """Boxed in: when the policy has said "blocked" for ``after_s``, turn on the spot to look
    for a way out, one way round (alternating between episodes), until the policy sees an open
    heading; after a full turn with none, stay stopped (truly boxed in: the owner is needed).

    Turning on the spot is safe for a round robot whose axle is its centre (the simulated one);
    a long robot's corners sweep wider — give it the room in ``[policy] clearance_m``.
    """

    after_s: float = 0.5
    turn_radps: float = 0.8
    give_up_rad: float = 2 * math.pi
    searches: int = 0  # episodes started
    _since: float | None = None
    _turned: float | None = None  # radians turned this episode; None = not turning
    _last_t: float = 0.0
    _turn: float = -1.0

    def command(self, t: float, decided: DriveCommand) -> DriveCommand | None:
        """The search turn at time ``t`` given the policy's own decision, or None."""
        if decided.reason != STOP_BLOCKED:
            self._since, self._turned = None, None
            return None
        if self._since is None:
            self._since, self._last_t = t, t
            return None
        if self._turned is None:
            if t - self._since < self.after_s:
                self._last_t = t
                return None
            self.searches += 1
            self._turn = -self._turn
            self._turned = 0.0
        else:
            self._turned += self.turn_radps * max(t - self._last_t, 0.0)
        self._last_t = t
        if self._turned >= self.give_up_rad:
            return None
        return DriveCommand(0.0, self._turn * self.turn_radps, decided.ttl_ms, SEARCH,
                            f"boxed in: looking for a way out ({math.degrees(self._turned):.0f}°)")
