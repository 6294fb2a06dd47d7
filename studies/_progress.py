"""The progress line ``paretune run`` draws on stderr while trials finish."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar", "format_elapsed"]


def format_elapsed(seconds: float) -> str:
    """``mm:ss`` (or ``h:mm:ss`` past an hour).

    Examples:
        >>> format_elapsed(75.4), format_elapsed(3725)
        ('01:15', '1:02:05')
    """
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressBar:
    """Trials done / pruned / failed, front size and elapsed time, on one line.

    On a terminal the line is redrawn in place; otherwise (a log file, a pipe) one line is
    written per change.

    Args:
        total: The number of finished trials the study should hold.
        stream: Where to draw (stderr by default).
        width: Characters of the bar itself.

    Examples:
        >>> import io
        >>> out = io.StringIO()
        >>> bar = ProgressBar(total=4, stream=out, width=8)
        >>> bar.update(done=2, pruned=1, failed=0, front=2, elapsed=5.0)
        >>> out.getvalue()
        '[####----] 2/4 finished (1 pruned) | 0 failed | front 2 | 00:05\\n'
    """

    def __init__(self, *, total: int, stream: TextIO | None = None, width: int = 24) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.start = time.monotonic()
        self._last = ""
        self._live = bool(getattr(self.stream, "isatty", lambda: False)())

    def render(self, *, done: int, pruned: int, failed: int, front: int, elapsed: float) -> str:
        """The progress line for these counts (``done`` counts complete + pruned)."""
        share = min(1.0, done / self.total) if self.total else 1.0
        filled = int(round(share * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        return (
            f"[{bar}] {done}/{self.total} finished ({pruned} pruned) | {failed} failed | "
            f"front {front} | {format_elapsed(elapsed)}"
        )

    def update(
        self, *, done: int, pruned: int, failed: int, front: int, elapsed: float | None = None
    ) -> None:
        """Draw the line (nothing is written when it did not change)."""
        seconds = time.monotonic() - self.start if elapsed is None else elapsed
        line = self.render(done=done, pruned=pruned, failed=failed, front=front, elapsed=seconds)
        if line == self._last:
            return
        self._last = line
        if self._live:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line on a terminal."""
        if self._live and self._last:
            self.stream.write("\n")
            self.stream.flush()
