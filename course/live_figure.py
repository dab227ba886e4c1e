"""A matplotlib figure redrawn fast enough to follow a slider, as PNG bytes.

A full redraw of a three-panel figure costs 100 ms or more, almost all of
it laying out tick labels, titles and legends that do not change while a
slider moves.  So the figure is drawn once *without* its moving parts (the
"background"), kept as pixels, and each update only pastes that back and
draws the moving artists on top (matplotlib's blitting, done on the Agg
canvas).  A background depends on the axis limits, so backgrounds are
cached by a key the caller gives (for example the loss axis' rounded
limits): a new key costs one full draw, every other move costs a few ms.

It uses ``Figure`` + ``FigureCanvasAgg`` directly, never pyplot, so it
neither changes the notebook's backend nor pops up an extra inline figure,
and it works headless.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["LiveFigure"]

#: ``False`` while the autograder grades without figures (``autograder.kernel.guard``): nothing
#: graded looks at the pixels, so :meth:`LiveFigure.render` draws nothing and returns no bytes.
RENDER = os.environ.get("GD_NO_FIGURES") != "1"


class LiveFigure:
    """A figure whose ``moving`` artists are redrawn over cached static backgrounds.

    ``render(key)`` returns PNG bytes; ``key`` must change whenever anything
    static changes (axis limits, contours, labels).  ``forget()`` drops the
    cached backgrounds, e.g. after the contours were redrawn.
    """

    def __init__(self, figsize=(12.6, 3.9), dpi=80, max_backgrounds=24):
        self.figure = Figure(figsize=figsize, dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        self.moving: list = []
        self._backgrounds: OrderedDict = OrderedDict()
        self._max_backgrounds = max_backgrounds
        self.full_draws = 0  # how many backgrounds were drawn (the slow path), for the benchmark

    def add_moving(self, *artists):
        """Register artists that change on every update (drawn last, in this order)."""
        self.moving.extend(artists)
        for artist in artists:
            artist.set_animated(True)  # full draws leave them out: they are never part of a background
        return artists[0] if len(artists) == 1 else artists

    def forget(self):
        self._backgrounds.clear()

    def _background(self, key):
        background = self._backgrounds.get(key)
        if background is None:
            self.canvas.draw()  # animated (moving) artists are skipped by a full draw
            self.full_draws += 1
            background = self.canvas.copy_from_bbox(self.figure.bbox)
            self._backgrounds[key] = background
            while len(self._backgrounds) > self._max_backgrounds:
                self._backgrounds.popitem(last=False)
        else:
            self._backgrounds.move_to_end(key)
        return background

    def draw(self, key):
        """Paint the background for ``key`` and the moving artists onto the canvas."""
        self.canvas.restore_region(self._background(key))
        renderer = self.canvas.get_renderer()
        for artist in self.moving:
            if artist.get_visible():
                artist.draw(renderer)

    def png(self) -> bytes:
        """The canvas as PNG (fast zlib level: this runs on every slider move)."""
        from PIL import Image

        width, height = self.canvas.get_width_height()
        image = Image.frombuffer("RGBA", (width, height), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        out = io.BytesIO()
        image.convert("RGB").save(out, format="PNG", compress_level=1)
        return out.getvalue()

    def render(self, key) -> bytes:
        if not RENDER:
            return b""
        self.draw(key)
        return self.png()

    def full_redraw(self) -> bytes:
        """A plain full redraw of everything (the slow way, for comparison in the benchmark)."""
        for artist in self.moving:
            artist.set_animated(False)
        try:
            self.canvas.draw()
        finally:
            for artist in self.moving:
                artist.set_animated(True)
        return self.png()
