"""Report build time and file size at 1,000 / 5,000 / 20,000 synthetic trials.

Synthetic trials (the exact records the search engine writes: params, values, strategy,
costs, curve; about 70% complete, 27% pruned, 3% failed) go straight into an Optuna storage
(a journal file by default: writing 20,000 trials through SQLite takes ~10 minutes, reading
them back is what the report does either way). For each size the report is built from a fresh
handle on the storage (load + compute + draw + write), then the largest report is opened in
headless Chromium and the time until every plot is drawn is measured.

Run: ``python bench/report_scale.py`` (``--sizes 1000 5000 20000 --storage journal|sqlite``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

import optuna
from paretune.search import build_report_data, make_storage, write_report
from paretune.search.study import add_synthetic_trials, create_synthetic_study

HERE = Path(__file__).resolve().parent


def _build(url: str, name: str, out: Path) -> tuple[float, float, float, int]:
    start = time.perf_counter()
    study = optuna.load_study(study_name=name, storage=make_storage(url))
    trials = study.get_trials(deepcopy=False)
    loaded = time.perf_counter()
    data = build_report_data(study, trials=trials)
    write_report(data, out)
    done = time.perf_counter()
    return loaded - start, done - loaded, done - start, len(data.front)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--storage", choices=("journal", "sqlite"), default="journal")
    parser.add_argument("--keep", metavar="DIR", help="keep the reports (and screenshot) here")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium load")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    importlib.import_module("optuna.importance._fanova._fanova")  # scikit-learn, once per run
    importlib.import_module("plotly.offline")

    print(f"one-time imports (Optuna fANOVA + scikit-learn, plotly): "
          f"{time.perf_counter() - start:.1f} s", flush=True)  # fmt: skip
    folder = Path(args.keep or tempfile.mkdtemp(prefix="paretune-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    largest: Path | None = None
    for n in args.sizes:
        suffix = "log" if args.storage == "journal" else "db"
        url = f"{args.storage}:///{folder}/scale-{n}.{suffix}"
        Path(f"{folder}/scale-{n}.{suffix}").unlink(missing_ok=True)
        start = time.perf_counter()
        study = create_synthetic_study(storage=make_storage(url), study_name=f"scale-{n}")
        add_synthetic_trials(study, n_trials=n, seed=n)
        written = time.perf_counter() - start
        out = folder / f"report-{n}.html"
        load_s, compute_s, total_s, front = _build(url, f"scale-{n}", out)
        size_mb = out.stat().st_size / 1e6
        rows.append((n, written, load_s, compute_s, total_s, size_mb, front))
        print(
            f"{n:>6} trials: storage written in {written:.1f} s; report built in {total_s:.1f} s "
            f"(load {load_s:.1f} s + compute/draw {compute_s:.1f} s), {size_mb:.1f} MB, "
            f"front {front}",
            flush=True,
        )
        largest = out
    print("\n| trials | report build (s) | of which loading the storage (s) | file size (MB) |")
    print("|---:|---:|---:|---:|")
    for n, _, load_s, _, total_s, size_mb, _ in rows:
        print(f"| {n:,} | {total_s:.1f} | {load_s:.1f} | {size_mb:.1f} |")
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
            f"\nChromium (headless, software WebGL): {largest.name} drawn "
            f"{page.load_ms / 1e3:.1f} s after navigation ({wall:.1f} s including browser "
            "start); console errors: "
            f"{len(page.console_errors)}; network requests: {len(page.requests)}"
        )
    print(f"(files in {folder})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
