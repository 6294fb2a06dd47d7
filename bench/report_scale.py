"""Report build and ``paretune status`` times at 1,000 / 10,000 / 20,000 trials, today's code
against a base checkout, side by side.

Synthetic trials (the exact records the search engine writes: params, values, strategy,
costs, curve; about 70% complete, 27% pruned, 3% failed) go straight into an Optuna storage:
a journal file, and a SQLite file at the smaller sizes (written in one bulk transaction, then
read back through Optuna and checked equal to the trials written: writing 10,000 trials
through Optuna's own SQLite path takes about half an hour).

For each storage and size, two fresh processes per code version:

- **report**: open the storage, read every trial, compute the report and write the HTML
  (imports done before the clock starts: Optuna's fANOVA pulls in scikit-learn once);
- **status**: the whole ``paretune status`` command, as a user runs it (Python start-up and
  imports included).

"reads" is the part of the report spent opening the storage and reading the trials as the
``report`` command does: ``optuna.load_study`` + ``study.get_trials`` in the base code,
``load_study_fast`` + ``read_trials`` (a journal replayed without Optuna's copies, an RDB read
with bulk SQL) today. Each time is
wall-clock seconds with the process's CPU seconds beside it; the speed-ups (×) compare CPU
seconds, which a busy shared machine inflates far less than wall-clock ones (every step here
runs on one core, so on an idle machine the wall time is about the CPU time). The base code
runs from ``--base DIR``, a checkout of an earlier commit (``git worktree add /tmp/base
a5ca75c``), through a tree of symbolic links that makes ``import paretune.search`` load that
checkout; each child process says which folder it imported, and the bench checks it. Both
versions must find the same front and the same picks (the bench stops otherwise). The largest
new report is then opened in headless Chromium and the time until every plot is drawn is
measured.

Run: ``python bench/report_scale.py --base /tmp/base --keep /tmp/scale`` (``--sizes``,
``--sqlite-sizes``, ``--no-browser``; ``--keep`` reuses the storages written by an earlier run).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PACKAGES = ("spaces", "trainers", "search", "studies")
TARGETS = {"report": (20000, 10.0), "status": (10000, 3.0)}  # size, seconds


def _child_build(url: str, name: str, out: str) -> None:
    """Child process: time open + read, compute + write; print one JSON line."""
    import importlib

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    importlib.import_module("optuna.importance._fanova._fanova")  # scikit-learn, once
    importlib.import_module("plotly.offline")
    import paretune.search
    from paretune.search import build_report_data, make_storage, write_report

    wall, cpu = time.perf_counter(), time.process_time()
    if hasattr(paretune.search, "read_trials"):  # the product's read path (paretune report)
        study = paretune.search.load_study_fast(storage=url, study_name=name)
        trials = paretune.search.read_trials(study)
    else:  # the base commit reads through Optuna
        study = optuna.load_study(study_name=name, storage=make_storage(url))
        trials = study.get_trials(deepcopy=False)
    read = (time.perf_counter() - wall, time.process_time() - cpu)
    data = build_report_data(study, trials=trials)
    write_report(data, Path(out))
    total = (time.perf_counter() - wall, time.process_time() - cpu)
    top = {o: max(v, key=lambda k: v[k]) for o, v in data.importances.items() if v}
    print(
        json.dumps(
            {
                "imported": paretune.search.__file__,
                "read": read,
                "total": total,
                "front": [data.rows[i].number for i in data.front],
                "picks": [p.selection.chosen and p.selection.chosen.number for p in data.picks],
                "hypervolume": data.hypervolume.values[-1:],
                "top_importance": top,
            }
        )
    )


def _base_tree(base: Path, folder: Path) -> Path:
    """A folder whose ``paretune/<package>`` links point at the base checkout's packages."""
    tree = folder / "base-tree"
    (tree / "paretune").mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        link = tree / "paretune" / package
        if not link.exists():
            link.symlink_to(base / package, target_is_directory=True)
    return tree


def _run(command: list[str], tree: Path | None) -> tuple[str, float, float]:
    """Run ``command`` (importing paretune from ``tree`` when given): stdout, wall, CPU s."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.stdout, wall, cpu


def _report(url: str, name: str, out: Path, tree: Path | None, root: Path) -> dict[str, Any]:
    command = [sys.executable, str(HERE / "report_scale.py"), "--child-build", url, name, str(out)]
    stdout, _, _ = _run(command, tree)
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    if not Path(result["imported"]).resolve().is_relative_to(root.resolve()):
        raise RuntimeError(
            f"expected paretune from {root}, the child imported {result['imported']}"
        )
    return result


def _status(url: str, name: str, tree: Path | None) -> tuple[list[int], float, float]:
    command = [
        sys.executable,
        "-m",
        "paretune.studies",
        "status",
        "--storage",
        url,
        "--study",
        name,
    ]
    stdout, wall, cpu = _run(command, tree)
    front = stdout.split("Pareto front", 1)[-1].splitlines()[2:]
    numbers = [int(line.split()[0]) for line in front if line.split() and line.split()[0].isdigit()]
    return numbers, wall, cpu


def _trials(n: int) -> tuple[Any, list[Any]]:
    """The synthetic study of ``n`` trials, in memory: (study, its trials)."""
    from paretune.search.study import add_synthetic_trials, create_synthetic_study

    study = create_synthetic_study(storage=None, study_name=f"scale-{n}")
    add_synthetic_trials(study, n_trials=n, seed=n)
    return study, study.get_trials(deepcopy=False)


def _write_journal(url: str, n: int) -> None:
    from paretune.search import make_storage
    from paretune.search.study import add_synthetic_trials, create_synthetic_study

    study = create_synthetic_study(storage=make_storage(url), study_name=f"scale-{n}")
    add_synthetic_trials(study, n_trials=n, seed=n)


def _write_sqlite(url: str, n: int) -> None:
    """The same trials as :func:`_write_journal`, bulk-inserted into Optuna's SQLite tables,
    then read back through Optuna and compared with what was written."""
    import optuna
    import sqlalchemy
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from paretune.search import make_storage
    from paretune.search.study import create_synthetic_study

    storage = make_storage(url)
    study = create_synthetic_study(storage=storage, study_name=f"scale-{n}")
    study_id = storage.get_study_id_from_name(study.study_name)
    _, trials = _trials(n)
    rows: dict[Any, list[dict[str, Any]]] = {}
    value_model, step_model = models.TrialValueModel, models.TrialIntermediateValueModel
    for trial_id, trial in enumerate(trials, start=1):
        rows.setdefault(models.TrialModel, []).append(
            {
                "trial_id": trial_id,
                "number": trial.number,
                "study_id": study_id,
                "state": trial.state,
                "datetime_start": trial.datetime_start,
                "datetime_complete": trial.datetime_complete,
            }
        )
        for name, value in trial.params.items():
            dist = trial.distributions[name]
            rows.setdefault(models.TrialParamModel, []).append(
                {
                    "trial_id": trial_id,
                    "param_name": name,
                    "param_value": dist.to_internal_repr(value),
                    "distribution_json": distribution_to_json(dist),
                }
            )
        for objective, value in enumerate(trial.values or ()):
            stored, kind = value_model.value_to_stored_repr(value)
            rows.setdefault(value_model, []).append(
                {"trial_id": trial_id, "objective": objective, "value": stored, "value_type": kind}
            )
        for step, value in trial.intermediate_values.items():
            stored, kind = step_model.intermediate_value_to_stored_repr(value)
            rows.setdefault(step_model, []).append(
                {
                    "trial_id": trial_id,
                    "step": step,
                    "intermediate_value": stored,
                    "intermediate_value_type": kind,
                }
            )
        for key, value in trial.user_attrs.items():
            rows.setdefault(models.TrialUserAttributeModel, []).append(
                {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
            )
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        for model, values in rows.items():
            connection.execute(sqlalchemy.insert(model.__table__), values)
    engine.dispose()
    back = optuna.load_study(study_name=f"scale-{n}", storage=url).get_trials(deepcopy=False)
    fields = ("number", "state", "params", "values", "intermediate_values", "user_attrs")
    for wrote, read in zip(trials, back, strict=True):
        for field in fields:
            if getattr(wrote, field) != getattr(read, field):
                raise RuntimeError(f"SQLite bulk write: trial {wrote.number} {field} differs")


def _cell(wall: float, cpu: float) -> str:
    return f"{wall:.1f} ({cpu:.1f} cpu)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 20000])
    parser.add_argument("--sqlite-sizes", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--base", type=Path, help="checkout of the code to compare against")
    parser.add_argument("--keep", metavar="DIR", help="keep (and reuse) storages and reports")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium load")
    parser.add_argument(
        "--child-build", nargs=3, metavar=("URL", "NAME", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child_build:
        _child_build(*args.child_build)
        return 0
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = Path(args.keep or tempfile.mkdtemp(prefix="paretune-bench-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    versions: list[tuple[str, Path | None, Path]] = []
    if args.base is not None:
        base = args.base.resolve()
        versions.append(("today", _base_tree(base, folder), base))
    versions.append(("new", None, ROOT))
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.1f} at start; files in {folder}")
    jobs = [("journal", n) for n in args.sizes] + [("sqlite", n) for n in args.sqlite_sizes]
    table: list[tuple[str, int, dict[str, Any]]] = []
    largest: Path | None = None
    for kind, n in jobs:
        path = folder / f"scale-{n}.{'log' if kind == 'journal' else 'db'}"
        url = f"{kind}:///{path}"
        if not path.exists():
            start = time.perf_counter()
            try:
                (_write_journal if kind == "journal" else _write_sqlite)(url, n)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            print(f"{kind} {n:,} trials written in {time.perf_counter() - start:.0f} s", flush=True)
        cells: dict[str, Any] = {}
        for label, tree, root in versions:
            out = folder / f"report-{kind}-{n}-{label}.html"
            cells[label] = _report(url, f"scale-{n}", out, tree, root)
            cells[label]["status"] = _status(url, f"scale-{n}", tree)
            if label == "new" and kind == "journal":
                largest = out
            r = cells[label]
            print(
                f"{kind} {n:>6,} {label:>5}: report {_cell(*r['total'])} s (reads "
                f"{_cell(*r['read'])}), status {_cell(*r['status'][1:])} s; top importance "
                f"{r['top_importance']}",
                flush=True,
            )
        if "today" in cells:
            for key in ("front", "picks"):
                if cells["today"][key] != cells["new"][key]:
                    raise RuntimeError(f"{kind} {n}: the {key} differs between the versions")
            if cells["today"]["status"][0] != cells["new"]["status"][0]:
                raise RuntimeError(f"{kind} {n}: status shows another front")
        table.append((kind, n, cells))
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    print(
        "\n| storage | trials | report today (s) | report new (s) | × (CPU) | of which "
        "reads (s) | status today (s) | status new (s) | × (CPU) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind, n, cells in table:
        new, old = cells["new"], cells.get("today")
        report_x = f"{old['total'][1] / new['total'][1]:.1f}" if old else "–"
        status_x = f"{old['status'][2] / new['status'][2]:.1f}" if old else "–"
        print(
            f"| {kind} | {n:,} | {_cell(*old['total']) if old else '–'} | {_cell(*new['total'])} "
            f"| {report_x} | {_cell(*new['read'])} | "
            f"{_cell(*old['status'][1:]) if old else '–'} | {_cell(*new['status'][1:])} | "
            f"{status_x} |"
        )
    for what, (size, limit) in TARGETS.items():
        for kind, n, cells in table:
            if n == size:
                seconds = cells["new"]["total" if what == "report" else "status"]
                wall, cpu = seconds[-2:]
                floor = cells["new"]["read"]
                verdict = "met" if wall < limit else "not met in wall time"
                verdict += "; met in CPU time" if cpu < limit else "; not met in CPU time"
                print(
                    f"target: {what} of {n:,} trials ({kind}) < {limit:.0f} s: "
                    f"{_cell(wall, cpu)} s: {verdict} (reading the storage takes "
                    f"{_cell(*floor)} s)"
                )
    if largest is not None and not args.no_browser:
        sys.path.insert(0, str(HERE))
        from cdp_pipe import find_chromium, open_report

        chromium = find_chromium()
        if chromium is None:
            print("\nChromium not found: browser load time not measured")
            return 0
        start = time.perf_counter()
        page = open_report(largest, executable=chromium, screenshot=folder / "largest.png")
        wall = time.perf_counter() - start
        print(
            f"\nChromium (headless, software WebGL): {largest.name} "
            f"({largest.stat().st_size / 1e6:.1f} MB) drawn {page.load_ms / 1e3:.1f} s after "
            f"navigation ({wall:.1f} s including browser start); console errors: "
            f"{len(page.console_errors)}; network requests: {len(page.requests)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
