"""The progress bar ``paretune run`` draws on stderr (tqdm): trials, ETA, and per-epoch moves.

The bar counts the trials this run still has to finish; a running trial moves it by the
share of its epochs reported so far, so the bar and tqdm's ETA move every epoch, not only
when a trial ends. The postfix says how many trials the study holds (done/pruned/failed), the
size of the Pareto front and the epochs this run trained. On a terminal the line is redrawn
in place; on anything else (a log file, a pipe) one plain line is written per change.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from paretune.spaces import CategoricalDistribution, Fixed, IntDistribution, StrategySpace

if TYPE_CHECKING:
    from paretune.search import Progress
    from tqdm import tqdm

__all__ = ["ProgressBar", "epochs_per_trial", "format_elapsed"]

_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"


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


def epochs_per_trial(space: StrategySpace) -> int | None:
    """The most epochs a trial of ``space`` trains (None when the space does not say).

    Examples:
        >>> from paretune.spaces import IntDistribution, StrategySpace
        >>> epochs_per_trial(StrategySpace(params={"epochs": IntDistribution(low=2, high=8)}))
        8
        >>> print(epochs_per_trial(StrategySpace(params={})))
        None
    """
    entry = space.params.get("epochs")
    if isinstance(entry, Fixed):
        values: list[Any] = [entry.value]
    elif isinstance(entry, IntDistribution):
        values = [entry.high]
    elif isinstance(entry, CategoricalDistribution):
        values = list(entry.choices)
    else:
        return None
    counts = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    return max(counts) if counts else None


class _Lines:
    """A file for tqdm that writes one plain line per change instead of carriage returns."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.last = ""

    def write(self, text: str) -> None:
        for part in text.split("\r"):
            line = part.strip()
            if line and line != self.last:
                self.last = line
                self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


class ProgressBar:
    """Trials finished this run, with ETA, moving per epoch; study counts in the postfix.

    Feed it the executor's :class:`~paretune.search.Progress` reports (:meth:`show` is a
    ``progress`` callback for ``run_local``). The bar appears with the first report, so a
    study with nothing left to run draws nothing.

    Args:
        total: The number of finished trials the study should hold.
        stream: Where to draw (stderr by default).
        epochs_per_trial: The most epochs a trial trains (:func:`epochs_per_trial`), for the
            share of a running trial; estimated from this run's finished trials when None.
        budget: The study's epoch budget when it runs until the budget is spent (no
            ``n_trials``): the bar then counts the study's epochs against it, not trials.

    Examples:
        >>> import io
        >>> from paretune.search import Progress
        >>> out = io.StringIO()
        >>> bar = ProgressBar(total=4, stream=out, epochs_per_trial=2)
        >>> for epochs, complete in ((0, 0), (1, 0), (0, 1)):
        ...     bar.show(Progress(n_trials=4, complete=complete, pruned=0, failed=0,
        ...         running=1, front_size=complete, epochs_spent=2 * complete,
        ...         elapsed_s=1.0, running_epochs=epochs))
        >>> bar.close()
        >>> [line.split("|")[0] for line in out.getvalue().splitlines()]
        ['0/4 trials:   0%', '0/4 trials:  12%', '1/4 trials:  25%']
        >>> out.getvalue().splitlines()[-1].split(", ", 1)[1]
        'done=1/4, pruned=0, failed=0, front=1, epochs=2'
    """

    def __init__(
        self,
        *,
        total: int,
        stream: TextIO | None = None,
        epochs_per_trial: int | None = None,
        budget: int | None = None,
    ) -> None:
        self.total = total
        self.budget = budget
        self.stream = stream if stream is not None else sys.stderr
        self.epochs_per_trial = epochs_per_trial
        self.start = time.monotonic()
        self._live = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar: tqdm[Any] | None = None
        self._first: Progress | None = None
        self._last: tuple[int, ...] | None = None

    def _share(self, state: Progress, first: Progress) -> float:
        """How far the running trials are, in trials (each below 1)."""
        if not state.running or not state.running_epochs:
            return 0.0
        per_trial = float(self.epochs_per_trial or 0)
        ended = (state.done + state.failed) - (first.done + first.failed)
        if not per_trial and ended > 0:
            per_trial = (state.epochs_spent - first.epochs_spent) / ended
        if per_trial <= 0:
            return 0.0
        return min(state.running_epochs / per_trial, 0.95 * state.running)

    def show(self, state: Progress) -> None:
        """Draw ``state`` (nothing is drawn when no count changed)."""
        key = (
            state.done,
            state.pruned,
            state.failed,
            state.front_size,
            state.running,
            state.running_epochs,
        )
        if key == self._last:
            return
        self._last = key
        first = self._first = self._first or state
        to_run = max(0, state.n_trials - first.done)
        finished = max(0, state.done - first.done)
        n = min(float(to_run), finished + self._share(state, first))
        desc = f"{min(finished, to_run)}/{to_run} trials"
        epochs = state.epochs_spent + state.running_epochs - first.epochs_spent
        done = f"done={state.done}/{state.n_trials}"
        if self.budget is not None:  # no n_trials: the run ends when the budget is spent
            # the study's epochs against its budget, as the closing line counts them (the
            # trials running when it is reached finish, so they may pass it)
            epochs = state.epochs_spent + state.running_epochs
            to_run = self.budget
            n = float(min(epochs, to_run))
            desc = f"{epochs}/{to_run} epochs"
            done = f"done={state.done}"
        postfix = (
            f"{done}, pruned={state.pruned}, "
            f"failed={state.failed}, front={state.front_size}, epochs={epochs}"
        )
        if self._bar is None:
            from tqdm import tqdm  # only a run that shows progress needs it

            self._bar = tqdm(
                total=to_run,
                initial=n,
                desc=desc,
                postfix=postfix,
                file=self.stream if self._live else _Lines(self.stream),
                ascii=not self._live,
                dynamic_ncols=self._live,
                leave=self._live,
                smoothing=0,
                mininterval=0,
                bar_format=_FORMAT,
            )
            return
        self._bar.n = n
        self._bar.set_description_str(desc, refresh=False)
        self._bar.set_postfix_str(postfix, refresh=False)
        self._bar.refresh()

    def update(
        self, *, done: int, pruned: int, failed: int, front: int, elapsed: float | None = None
    ) -> None:
        """Draw these counts (``done`` counts complete + pruned), as :meth:`show` does."""
        from paretune.search import Progress

        seconds = time.monotonic() - self.start if elapsed is None else elapsed
        self.show(
            Progress(
                n_trials=self.total,
                complete=done - pruned,
                pruned=pruned,
                failed=failed,
                running=0,
                front_size=front,
                epochs_spent=0,
                elapsed_s=seconds,
            )
        )

    def close(self) -> None:
        """End the bar (on a terminal its last state stays on screen)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
