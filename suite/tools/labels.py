"""Text on a chart that never overlaps other text: each label tries candidate places until one is free.

A candidate is a data point, an offset in points, an alignment and a rotation. A place is free when the text's
box (the renderer's extent, as matplotlib draws it) lies inside the axes and meets no label placed before it
and no obstacle (the marks' boxes, the legend). The figure's layout must be final before labels are placed:
extents and the angles of diagonals are in display space.

matplotlib is imported by the caller (``plot.py``); this module only works on the objects it is given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    """Where a label goes: anchored at data point ``xy``, moved by ``offset`` points, aligned by ``ha``/``va``
    (before rotation: ``rotation_mode='anchor'``), rotated ``rotation`` degrees."""

    xy: tuple[float, float]
    offset: tuple[float, float] = (0.0, 0.0)
    ha: str = "left"
    va: str = "bottom"
    rotation: float = 0.0


def display_angle(axes, point_a: tuple[float, float], point_b: tuple[float, float]) -> float:
    """The angle in degrees, on screen, of the line from data point a to b (a diagonal roof's slope as drawn)."""
    (xa, ya), (xb, yb) = axes.transData.transform([point_a, point_b])
    return math.degrees(math.atan2(yb - ya, xb - xa))


class LabelPlacer:
    """Places texts on ``axes`` so that no two placed label boxes intersect, ever, and, as far as some place
    allows, no label meets a mark, a ridge dot or a line.

    What a label keeps off, in tiers tried in turn: (1) every line and obstacle but its owner's; (2) the
    obstacles (marks, ridge dots, the legend), not the lines; (3) the hard obstacles (marks, the legend);
    (4) only the other labels. Each tier tries every text variant (a full label, then a shorter one) at every
    place before the next tier is tried."""

    def __init__(self, axes, pad_px: float = 2.0):
        from matplotlib.transforms import offset_copy

        self.axes = axes
        self.figure = axes.figure
        self.renderer = self.figure.canvas.get_renderer()
        self.area = axes.get_window_extent(self.renderer)
        self.pad = pad_px
        self.placed: list = []  # Bbox of every placed label, padded
        self.obstacles: list = []  # (Bbox, owner): marks and the legend
        self.soft_obstacles: list = []  # (Bbox, owner): ridge dots
        self.lines: list[tuple[tuple[float, float], tuple[float, float], str]] = []  # display coords, owner
        self._offset_copy = offset_copy

    def add_obstacle(self, bbox) -> None:
        self.obstacles.append((bbox.padded(self.pad), None))

    def add_point_obstacle(self, xy: tuple[float, float], radius_pt: float, soft: bool = False,
                           owner: str | None = None) -> None:
        """A mark drawn at data point ``xy``, ``radius_pt`` points across each way. A ``soft`` one (a ridge dot)
        gives way before a hard one (a mark); ``owner``'s label may sit on it."""
        from matplotlib.transforms import Bbox

        x, y = self.axes.transData.transform(xy)
        r = radius_pt * self.figure.dpi / 72
        box = (Bbox.from_extents(x - r, y - r, x + r, y + r), owner)
        (self.soft_obstacles if soft else self.obstacles).append(box)

    def add_line(self, xy_a: tuple[float, float], xy_b: tuple[float, float], owner: str) -> None:
        """A straight line (in display space) between data points a and b that labels keep off, except the
        label of ``owner`` (the line's own name, which it sits on)."""
        a, b = self.axes.transData.transform([xy_a, xy_b])
        self.lines.append(((float(a[0]), float(a[1])), (float(b[0]), float(b[1])), owner))

    def extent(self, text):
        return text.get_window_extent(self.renderer)

    def _apply(self, text, place: Place) -> None:
        text.set_position(place.xy)
        text.set_transform(self._offset_copy(self.axes.transData, fig=self.figure, x=place.offset[0],
                                             y=place.offset[1], units="points"))
        text.set_horizontalalignment(place.ha)
        text.set_verticalalignment(place.va)
        text.set_rotation(place.rotation)
        text.set_rotation_mode("anchor")

    def free(self, box) -> bool:
        """Inside the axes and clear of every placed label (the one rule no tier relaxes)."""
        inside = (box.x0 >= self.area.x0 and box.x1 <= self.area.x1 and box.y0 >= self.area.y0
                  and box.y1 <= self.area.y1)
        return inside and not any(box.overlaps(other) for other in self.placed)

    def crosses_line(self, text, place: Place, owner: str | None) -> bool:
        """Whether the text's rotated rectangle at ``place`` meets a line other than its owner's."""
        if not self.lines:
            return False
        rotation = text.get_rotation()
        text.set_rotation(0)
        box = self.extent(text)  # unrotated: the rectangle in the text's own frame
        text.set_rotation(rotation)
        width, height = box.width, box.height
        left = {"left": 0.0, "center": -width / 2, "right": -width}[place.ha] - self.pad
        bottom = {"bottom": 0.0, "center": -height / 2, "center_baseline": -height / 2, "baseline": 0.0,
                  "top": -height}[place.va] - self.pad
        width, height = width + 2 * self.pad, height + 2 * self.pad
        ax, ay = self.axes.transData.transform(place.xy)
        scale = self.figure.dpi / 72
        ax, ay = ax + place.offset[0] * scale, ay + place.offset[1] * scale
        cos, sin = math.cos(math.radians(place.rotation)), math.sin(math.radians(place.rotation))

        def local(point: tuple[float, float]) -> tuple[float, float]:
            dx, dy = point[0] - ax, point[1] - ay
            return dx * cos + dy * sin, -dx * sin + dy * cos

        rectangle = (left, bottom, left + width, bottom + height)
        return any(_segment_meets_rectangle(local(a), local(b), rectangle)
                   for a, b, line_owner in self.lines if line_owner != owner)

    def _meets(self, box, obstacles: list, owner: str | None) -> bool:
        return any(box.overlaps(other) for other, other_owner in obstacles if owner is None or other_owner != owner)

    def place(self, text, places: Iterable[Place], accept=None, owner: str | None = None,
              variants: tuple[str, ...] = ()) -> Place | None:
        """Put ``text`` at the first free place of ``places`` (where ``accept(box)`` also holds, when given),
        tier by tier (see the class), trying the text as it is and then each of ``variants`` (shorter forms).
        Returns the place found; when none is, the text is removed from the chart (a label drawn over another
        helps nobody) and None is returned."""
        places = list(places)
        texts = [text.get_text(), *variants]
        for tier in (1, 2, 3, 4):
            for content in texts:
                text.set_text(content)
                for place in places:
                    self._apply(text, place)
                    box = self.extent(text)
                    padded = box.padded(self.pad)
                    if not self.free(padded) or (accept is not None and not accept(box)):
                        continue
                    if tier <= 3 and self._meets(padded, self.obstacles, owner):
                        continue
                    if tier <= 2 and self._meets(padded, self.soft_obstacles, owner):
                        continue
                    if tier == 1 and self.crosses_line(text, place, owner):
                        continue
                    self.placed.append(padded)
                    return place
        text.remove()
        return None


def _segment_meets_rectangle(a: tuple[float, float], b: tuple[float, float],
                             rectangle: tuple[float, float, float, float]) -> bool:
    """Whether segment a-b meets the axis-aligned rectangle (x0, y0, x1, y1): Liang-Barsky clipping (Liang and
    Barsky, "A new concept and method for line clipping", ACM TOG 1984)."""
    x0, y0, x1, y1 = rectangle
    dx, dy = b[0] - a[0], b[1] - a[1]
    low, high = 0.0, 1.0
    for p, q in ((-dx, a[0] - x0), (dx, x1 - a[0]), (-dy, a[1] - y0), (dy, y1 - a[1])):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            low = max(low, t)
        else:
            high = min(high, t)
        if low > high:
            return False
    return True


def spread(preferred: float, low: float = 0.02, high: float = 0.98, step: float = 0.03) -> list[float]:
    """Fractions in [low, high], ``preferred`` first, then alternately further each side: the order in which
    positions along a line are tried."""
    fractions = [preferred]
    k = 1
    while True:
        below, above = preferred - k * step, preferred + k * step
        if below < low and above > high:
            return fractions
        fractions += [f for f in (below, above) if low <= f <= high]
        k += 1


def along(axes, segment: tuple[float, float], fraction: float) -> float:
    """The x at ``fraction`` of a segment's length on the (log) x axis."""
    low, high = segment
    return low * (high / low) ** fraction


def around(xys: list[tuple[float, float]], radius: float = 5.0, prefer_below: bool = False) -> Iterator[Place]:
    """Places beside a mark, nearest first: right, left, below, above it, then further out; for each mark."""
    sides = [((1, 0), "left", "center"), ((-1, 0), "right", "center"), ((0, -1), "center", "top"),
             ((0, 1), "center", "bottom"), ((1, -1), "left", "top"), ((1, 1), "left", "bottom"),
             ((-1, -1), "right", "top"), ((-1, 1), "right", "bottom")]
    if prefer_below:
        sides = sides[4:5] + sides[2:3] + sides[6:7] + sides[:2] + sides[3:4] + sides[5:6] + sides[7:]
    for distance in (radius, 2 * radius, 3.5 * radius, 5 * radius):
        for xy in xys:
            for (dx, dy), ha, va in sides:
                yield Place(xy, (dx * distance, dy * distance), ha, va)


def leader(axes, place: Place | None, xy: tuple[float, float], radius: float) -> None:
    """A thin line from a mark to its label when the label had to go further than beside it."""
    if place is not None and place.xy == xy and math.hypot(*place.offset) > 1.5 * radius:
        axes.annotate("", xy=xy, xytext=place.offset, textcoords="offset points", zorder=4,
                      arrowprops={"arrowstyle": "-", "color": "#999999", "linewidth": 0.6, "shrinkA": 0,
                                  "shrinkB": 3})
