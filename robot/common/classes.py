"""Ground classes: ids are positions in the class list; 255 marks an unlabelled pixel or cell."""

from __future__ import annotations

DEFAULT_CLASSES: tuple[str, ...] = ("lawn", "path", "soil", "plant", "obstacle")
UNLABELLED = 255

TRAVERSABLE = frozenset({"lawn", "path"})


def traversable_ids(classes: tuple[str, ...] | list[str]) -> tuple[int, ...]:
    """The ids of the traversable classes under a class list, ascending."""
    return tuple(i for i, name in enumerate(classes) if name in TRAVERSABLE)

WATERING_TARGETS = frozenset({"plant", "soil"})

SEASONS: tuple[str, ...] = ("spring", "summer", "autumn", "winter")

# BGR colours for overlays and previews, one per default class; added classes get a generated one.
CLASS_COLOURS_BGR: dict[str, tuple[int, int, int]] = {
    "lawn": (60, 180, 60),
    "path": (160, 160, 160),
    "soil": (40, 80, 140),
    "plant": (200, 60, 200),
    "obstacle": (30, 30, 220),
}


def class_colour(name: str) -> tuple[int, int, int]:
    """A stable BGR colour for a class name (a fixed one for the defaults)."""
    if name in CLASS_COLOURS_BGR:
        return CLASS_COLOURS_BGR[name]
    h = sum((i + 1) * ord(c) for i, c in enumerate(name))
    return (h * 37 % 200 + 40, h * 91 % 200 + 40, h * 53 % 200 + 40)
