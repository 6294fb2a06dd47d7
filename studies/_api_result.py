"""What a study holds, read in Python: :class:`StudyResult`."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from paretune.search import COSTS, Selection, pareto_front_mask, read_trials
from paretune.studies._api_select import API, Bound, Export, candidate_of, choose, export_candidate

if TYPE_CHECKING:
    import pandas
    from paretune.search import Candidate, RunSummary

__all__ = ["StudyResult"]


class StudyResult:
    """A study's trials, front and summary; choose and export a strategy from it.

    Returned by :meth:`Study.run <paretune.studies.Study.run>` and :meth:`Study.load
    <paretune.studies.Study.load>`, or read from any paretune study with :meth:`open`.

    Args:
        study: The Optuna study.
        summary: What the run that returned it did (``None`` when only read).

    Examples:
        >>> import optuna
        >>> study = optuna.create_study(directions=["maximize", "minimize"])
        >>> study.set_user_attr("objectives", ["accuracy", "size_bits"])
        >>> for values in ([0.9, 800.0], [0.8, 400.0], [0.7, 900.0]):
        ...     study.add_trial(optuna.trial.create_trial(values=values))
        >>> result = StudyResult(study=study)
        >>> [trial.values for trial in result.front]
        [[0.9, 800.0], [0.8, 400.0]]
        >>> list(result.trials_dataframe().columns)
        ['number', 'state', 'accuracy', 'size_bits', 'bitops', 'latency_ms', 'train_seconds', \
'params', 'nonzero_params']
    """

    def __init__(
        self,
        *,
        study: optuna.Study,
        summary: RunSummary | None = None,
        trusted_task: str | None = None,
    ) -> None:
        self._study = study
        self._summary = summary
        self._trusted_task = trusted_task
        self._storage: str | None = None  # the URL it was opened from (the report names it)

    @classmethod
    def open(
        cls,
        *,
        name: str,
        storage: str,
        summary: RunSummary | None = None,
        trusted_task: str | None = None,
    ) -> StudyResult:
        """The study ``name`` in ``storage`` (which must exist: it is never created).

        ``trusted_task`` is the user task (``package.module:factory``) the caller names
        itself, as :meth:`Study.load <paretune.studies.Study.load>` does: :meth:`export`
        imports the study's task without ``trust_task`` when it is that one.

        Raises:
            LookupError: The storage (a SQLite or journal file) or the study does not exist.
        """
        from paretune import search

        path = search.storage_path(storage)
        if path is not None and not path.exists():
            raise LookupError(f"No study {name!r} yet: {path} does not exist. Run it first.")
        try:
            study = search.load_study_fast(storage=storage, study_name=name)
        except KeyError:
            raise LookupError(f"No study {name!r} in {storage}. Run it first.") from None
        result = cls(study=study, summary=summary, trusted_task=trusted_task)
        result._storage = storage
        return result

    @property
    def study(self) -> optuna.Study:
        """The Optuna study (``optuna.load_study`` would give the same)."""
        return self._study

    @property
    def summary(self) -> RunSummary | None:
        """What the run did (trials run, stop reason, ...); ``None`` for a study only read."""
        return self._summary

    @property
    def objectives(self) -> list[str]:
        """The study's objective names, in order."""
        stored = self._study.user_attrs.get("objectives")
        if stored:
            return [str(o) for o in stored]
        return [f"objective_{i}" for i in range(len(self._study.directions))]

    @property
    def front(self) -> list[FrozenTrial]:
        """The Pareto front: feasible COMPLETE trials no other trial beats on every
        objective, best first on the first objective (as ``paretune status`` lists them)."""
        feasible = [
            t
            for t in read_trials(self._study)
            if t.state is TrialState.COMPLETE
            and t.values is not None
            and all(c <= 0 for c in (t.constraints or {}).values())
        ]
        if not feasible:
            return []
        signs = [-1.0 if d.name == "MAXIMIZE" else 1.0 for d in self._study.directions]
        points = [[s * v for s, v in zip(signs, t.values, strict=True)] for t in feasible]
        mask = pareto_front_mask(points)
        front = [t for t, keep in zip(feasible, mask, strict=True) if keep]
        front.sort(key=lambda t: (signs[0] * t.values[0], t.number))
        return front

    def trials_dataframe(self) -> pandas.DataFrame:
        """Every trial as one row of a pandas DataFrame.

        Columns: ``number``, ``state`` (``"COMPLETE"``, ``"PRUNED"``, ``"FAIL"`` ...), one
        column per objective named after it (NaN for a trial without values), every cost
        (``size_bits``, ``bitops``, ``latency_ms``, ``train_seconds``, ``params``,
        ``nonzero_params``; NaN when not measured) that is not an objective, then one
        ``params_<name>`` column per sampled parameter (as Optuna names them).

        Raises:
            ImportError: pandas is not installed.
        """
        try:
            import pandas
        except ImportError:  # pragma: no cover - pandas comes with the test and ray extras
            raise ImportError("trials_dataframe() needs pandas: pip install pandas") from None
        objectives = self.objectives
        costs = [c for c in COSTS if c not in objectives]
        trials = read_trials(self._study)
        names = list(dict.fromkeys(name for t in trials for name in t.params))
        rows = []
        for trial in trials:
            values = trial.values or [math.nan] * len(objectives)
            row: dict[str, Any] = {"number": trial.number, "state": trial.state.name}
            row.update(zip(objectives, values, strict=True))
            for cost in costs:
                measured = trial.user_attrs.get(cost)
                row[cost] = float(measured) if isinstance(measured, int | float) else math.nan
            for name in names:
                row[f"params_{name}"] = trial.params.get(name)
            rows.append(row)
        columns = ["number", "state", *objectives, *costs, *(f"params_{n}" for n in names)]
        return pandas.DataFrame(rows, columns=columns)

    def select(
        self,
        *,
        max: Mapping[str, float | str] | None = None,  # as `select --max`
        min: Mapping[str, float] | None = None,  # as `select --min`
        min_accuracy: float | None = None,
        knee: bool = False,
    ) -> Selection:
        """Choose one strategy under limits, as ``paretune select`` does.

        With ``max`` cost limits: the most accurate strategy within them; with only a floor
        on the quality: the cheapest on the study's first cost; with ``knee``: the knee of
        the feasible front; with nothing: the most accurate. The study's own constraints
        always apply.

        Args:
            max: Largest allowed cost, a number in the cost's unit or a string with units
                (``{"size_bits": "50kbit", "latency_ms": "3ms"}``), or largest value of a
                minimized metric objective (``{"val_rmse": 50}``).
            min: Lowest allowed value of the study's metric objective
                (``{"val_macro_f1": 0.8}``).
            min_accuracy: Lowest validation accuracy, in ``[0, 1]`` (an accuracy study).
            knee: Choose the knee of the feasible Pareto front.

        Returns:
            The :class:`~paretune.search.Selection`: ``chosen`` (``None`` when nothing meets
            the limits, then ``closest`` says by how much each trial misses), ``rule``,
            ``reason``, ``feasible_front``.

        Raises:
            ValueError: A limit names an unknown cost or another metric, or has a value
                that cannot be read.
        """
        if min_accuracy is not None and not (
            isinstance(min_accuracy, int | float)
            and not isinstance(min_accuracy, bool)
            and 0.0 <= min_accuracy <= 1.0
        ):
            raise ValueError(
                "The 'min_accuracy' parameter of StudyResult.select must be a float in "
                f"[0, 1]. Got {min_accuracy!r} instead."
            )
        return choose(
            self._study,
            min_accuracy=min_accuracy,
            maximums=Bound.from_items("max", max),
            minimums=Bound.from_items("min", min),
            knee=knee,
            syntax=API,
        )

    def export(
        self,
        chosen: Selection | FrozenTrial | Candidate | int,
        directory: str | Path,
        *,
        force: bool = False,
        device: str = "auto",
        trust_task: bool = False,
        progress: bool = False,
    ) -> Export:
        """Retrain a strategy on train + validation, as a trial trains, and export the model
        to ``directory``, as ``paretune select --export DIR`` does.

        The export takes raw inputs (the task's preprocessing is its first layer), holds no
        pickled code (``weights.pt`` is tensors only), comes as ``model.onnx`` too (with the
        ``export`` extra) and has a ``MODEL_CARD.md``; ``paretune.trainers.load_exported``
        reads it back.

        Args:
            chosen: A :meth:`select` result, a trial (one of :attr:`front`) or a trial
                number.
            directory: The folder to write.
            force: Write into a folder that already holds files (never through a symbolic
                link).
            device: Where to retrain (``"auto"``, ``"cpu"``, ``"cuda"``).
            trust_task: Import the study's task even when it is a user task
                (``package.module:factory``) named only by the storage. A result of
                :meth:`Study.run <paretune.studies.Study.run>` trusts the task it ran, one
                of :meth:`Study.load <paretune.studies.Study.load>` the task its
                ``Study`` names.
            progress: Show the retraining's progress on stderr.

        Returns:
            Where the model went and what it measures (the figures of its card).

        Raises:
            ValueError: The selection chose nothing, the trial is not complete, the folder or
                a file name in it is a symbolic link, or the study's user task is not trusted
                (:class:`~paretune.studies.UntrustedTaskError`).
            FileExistsError: ``directory`` holds files and ``force`` is false.
        """
        candidate = candidate_of(self._study, chosen)
        return export_candidate(
            self._study,
            candidate,
            directory,
            device=device,
            force=force,
            trusted=self._trusted_task,
            trust_task=trust_task or self._summary is not None,
            progress=sys.stderr if progress else None,
        )

    def report(self, path: str | Path | None = None, *, importance_trials: int = 1000) -> Path:
        """Write the study's offline HTML report, as ``paretune report`` does.

        The report names the study by its storage in the commands it shows (``paretune
        select --storage URL --study NAME ...``, a password replaced by ``***``).

        Args:
            path: The HTML file to write; default ``reports/<study name>.html``.
            importance_trials: At most this many complete trials (a seeded subsample) go into
                the parameter importances (at least 3).

        Returns:
            The file written.

        Raises:
            ValueError: ``importance_trials`` is not an integer >= 3.

        Examples:
            >>> import tempfile
            >>> folder = tempfile.TemporaryDirectory()
            >>> study = optuna.create_study(directions=["maximize", "minimize"])
            >>> study.set_user_attr("objectives", ["accuracy", "size_bits"])
            >>> for values in ([0.9, 800.0], [0.8, 400.0], [0.7, 900.0]):
            ...     study.add_trial(optuna.trial.create_trial(values=values))
            >>> StudyResult(study=study).report(f"{folder.name}/r.html").name
            'r.html'
            >>> folder.cleanup()
        """
        from paretune.search import build_report_data, write_report
        from paretune.spaces import bad_parameter
        from paretune.studies._cmd_report import default_output

        if (
            not isinstance(importance_trials, int)
            or isinstance(importance_trials, bool)
            or importance_trials < 3
        ):
            raise bad_parameter(
                "importance_trials", "StudyResult.report", "an int >= 3", importance_trials
            )
        name = self._study.study_name
        named = None if self._storage is None else ["--storage", self._storage, "--study", name]
        data = build_report_data(self._study, max_importance_trials=importance_trials)
        return write_report(
            data, path if path is not None else default_output(name), study_args=named
        )

    def __repr__(self) -> str:
        states = [t.state for t in read_trials(self._study)]
        done = states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED)
        return (
            f"StudyResult(study={self._study.study_name!r}, trials={len(states)}, "
            f"finished={done}, front={len(self.front)})"
        )
