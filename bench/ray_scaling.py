"""How well run_ray scales with concurrent trials on one machine, and what a trial costs on it.

The trainer sleeps a fixed time per epoch (no CPU), writes a small checkpoint and reports each
epoch, like a real trainer does, so what is measured is paretune + Ray Tune + Optuna: the
sampler in the driver, a Ray worker per trial, one Tune result and checkpoint per epoch, the
curve written to the study, the final record. For each concurrency N the study runs
``waves * N`` trials with ``max_concurrent=N`` on a Ray with 16 logical CPUs (1 CPU per trial:
sleeping uses none), and the table gives trials/hour over the ideal ``N x`` the single-trial
rate (the rate with N = 1), for the whole run and for warm workers, plus what starting the
workers costs (how many worker processes the run started, and the CPU seconds each had used
when its first trial began) and the per-trial overhead of Ray over the local executor (same
trainer, ``run_local``, one at a time). An untimed warm-up run first pays the driver's one-off
imports (Ray Tune and its loggers), which would otherwise be charged to the N = 1 run.

    python bench/ray_scaling.py                 # 1, 2, 4, 8, 16 concurrent trials (~15 min)
    python bench/ray_scaling.py --concurrency 1 4 --epoch-seconds 1 --waves 2

GPU packing (needs a CUDA GPU): the same study of real trainings, one trial per GPU
(``gpus_per_trial=1``) and then four per GPU (``gpus_per_trial=0.25``, each capped at a
quarter of the GPU's memory), and the packed speed-up:

    python bench/ray_scaling.py --gpu --gpu-task digits-cnn --gpu-trials 16
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "1")

Reporter = Callable[[int, Mapping[str, float]], bool]


class SleepTrainer:
    """An objective whose epochs sleep ``epoch_seconds`` (no CPU), with per-epoch checkpoints.

    With ``marker_dir``, each call writes a small JSON file there: the process id, and for the
    first trial a process runs, the CPU seconds the process had used by then (starting the
    Ray worker, importing Ray Tune and paretune, building the trainer). Ray reuses a worker
    for the next trial, so a run should start about N processes, not one per trial.
    """

    def __init__(self, *, epoch_seconds: float, marker_dir: str | None = None) -> None:
        self.epoch_seconds = epoch_seconds
        self.marker_dir = marker_dir
        self._calls = 0

    def _mark(self) -> None:
        if self.marker_dir is None:
            return
        self._calls += 1
        mark: dict[str, Any] = {"pid": os.getpid(), "call": self._calls}
        if self._calls == 1:
            mark["cpu_s"] = time.process_time()
        name = f"{os.getpid()}-{self._calls}.json"
        Path(self.marker_dir, name).write_text(json.dumps(mark))

    def __call__(
        self, params: Mapping[str, Any], report: Reporter | None, checkpoint_dir: str | None = None
    ) -> dict[str, Any]:
        self._mark()
        epochs, lr = int(params["epochs"]), float(params["lr"])
        start, curve = 1, []
        state = Path(checkpoint_dir, "state.json") if checkpoint_dir else None
        if state is not None and state.exists():
            saved = json.loads(state.read_text())
            start, curve = saved["epoch"] + 1, saved["curve"]
        for epoch in range(start, epochs + 1):
            time.sleep(self.epoch_seconds)
            metrics = {"val_accuracy": lr * epoch / epochs, "train_loss": 1.0 - lr}
            curve.append(metrics)
            if state is not None:
                state.write_text(json.dumps({"epoch": epoch, "curve": curve}))
            if report is not None and report(epoch, metrics):
                break
        return {
            "status": "completed",
            "reason": "",
            "val_accuracy": curve[-1]["val_accuracy"],
            "test_accuracy": curve[-1]["val_accuracy"],
            "params": 1,
            "nonzero_params": 1,
            "sparsity": 0.0,
            "size_bits": 32.0,
            "bitops": 1.0,
            "latency_ms": 0.0,
            "train_seconds": self.epoch_seconds * len(curve),
            "epochs": len(curve),
            "curve": curve,
            "strategy": dict(params),
        }


def sleep_trainer(epoch_seconds: float, marker_dir: str | None = None) -> SleepTrainer:
    return SleepTrainer(epoch_seconds=epoch_seconds, marker_dir=marker_dir)


def _workers(marker_dir: Path) -> dict[str, float]:
    """Worker processes a run used, and the mean CPU seconds each had spent before its trial."""
    marks = [json.loads(path.read_text()) for path in marker_dir.iterdir()]
    starts = [mark["cpu_s"] for mark in marks if "cpu_s" in mark]
    return {
        "processes": len({mark["pid"] for mark in marks}),
        "start_cpu": sum(starts) / len(starts) if starts else math.nan,
    }


def _spec(folder: Path, name: str, epochs: int) -> Any:
    from paretune.search import StudySpec
    from paretune.spaces import Fixed, FloatDistribution, StrategySpace

    return StudySpec(
        name=name,
        storage=f"sqlite:///{folder}/{name}.db",
        objectives=("accuracy",),
        sampler="random",
        space=StrategySpace(
            params={"lr": FloatDistribution(low=0.0, high=1.0), "epochs": Fixed(value=epochs)}
        ),
    )


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for name in ("ray", "ray.tune", "ray.train"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _timeline(spec: Any) -> dict[str, float]:
    """Cold start and warm cycle of a run, from the trials' start / complete times.

    The first wave pays for starting the Ray workers (a process each, importing Ray Tune);
    later trials reuse them. ``cycle`` is a warm trial's start-to-complete time plus the gap
    between a trial completing and the next one starting on the freed worker.
    """
    import optuna

    trials = optuna.load_study(study_name=spec.name, storage=spec.storage).trials
    spans = [
        (t.datetime_start.timestamp(), t.datetime_complete.timestamp())
        for t in trials
        if t.datetime_start is not None and t.datetime_complete is not None
    ]
    starts = sorted(start for start, _ in spans)
    ends = sorted(end for _, end in spans)
    first_end = ends[0]
    warm = [(s, e) for s, e in spans if s >= first_end - 0.05]
    cold = [(s, e) for s, e in spans if s < first_end - 0.05]
    if not warm:
        raise RuntimeError("no trial started on a warm worker: use --waves 2 or more")

    def seconds(group: list[tuple[float, float]]) -> float:
        return sum(end - start for start, end in group) / len(group)

    warm_starts = [s for s in starts if s >= first_end - 0.05]
    gaps = [max(0.0, s - e) for s, e in zip(warm_starts, ends, strict=False)]
    duration = seconds(warm)
    return {
        "cold": seconds(cold) - duration,
        "cycle": duration + sum(gaps) / len(gaps),
    }


def scaling(args: argparse.Namespace, folder: Path) -> list[dict[str, float]]:
    """Trials/hour at each concurrency, and the single-trial overhead over run_local."""
    import ray
    from paretune.search import run_local, run_ray

    trial_seconds = args.epochs * args.epoch_seconds

    # The local executor's cycle (a trial plus the gap to the next), measured like Ray's below.
    local = _spec(folder, "local", args.epochs)
    run_local(
        local, objective_factory=functools.partial(sleep_trainer, args.epoch_seconds), n_trials=2
    )
    local_per_trial = _timeline(local)["cycle"]

    ray.init(
        num_cpus=args.cpus,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    rows: list[dict[str, float]] = []
    try:
        # Untimed: the driver imports Ray Tune (and its TensorBoard logger) on its first run.
        run_ray(
            _spec(folder, "warm-up", 1),
            objective_factory=functools.partial(sleep_trainer, 0.0),
            n_trials=1,
            storage_path=folder / "ray",
        )
        for n in args.concurrency:
            spec = _spec(folder, f"ray-{n}", args.epochs)
            markers = folder / f"workers-{n}"
            markers.mkdir()
            n_trials = args.waves * n
            started = time.perf_counter()
            summary = run_ray(
                spec,
                objective_factory=functools.partial(
                    sleep_trainer, args.epoch_seconds, str(markers)
                ),
                n_trials=n_trials,
                max_concurrent=n,
                cpus_per_trial=1,
                storage_path=folder / "ray",
            )
            seconds = time.perf_counter() - started
            if summary.complete != n_trials:
                raise RuntimeError(f"N={n}: {summary}")
            rows.append(
                {
                    "n": n,
                    "trials": n_trials,
                    "seconds": seconds,
                    "per_hour": n_trials / seconds * 3600,
                    **_timeline(spec),
                    **_workers(markers),
                }
            )
            print(f"N={n:2d}: {n_trials} trials in {seconds:.1f} s", file=sys.stderr)
    finally:
        ray.shutdown()
    one = next((row for row in rows if row["n"] == 1), None)
    print(
        f"\nSleep trainer: {args.epochs} epochs x {args.epoch_seconds:g} s = {trial_seconds:g} s "
        f"per trial; {args.waves} waves of N trials per run; Ray with {args.cpus} logical CPUs, "
        f"1 CPU per trial; {os.cpu_count()} CPU cores. Local executor: "
        f"{local_per_trial:.2f} s per trial ({local_per_trial - trial_seconds:+.2f} s over the "
        "trainer).\n"
    )
    print(
        "| N | trials | wall s | trials/h (whole run) | of ideal | trials/h (warm workers) | "
        "of ideal | worker processes | worker CPU s before its first trial | "
        "first wave extra s | Ray - local per trial s |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        steady = row["n"] * 3600 / row["cycle"]
        whole_ideal = row["n"] * one["per_hour"] if one else math.nan
        steady_ideal = row["n"] * 3600 / one["cycle"] if one else math.nan
        print(
            f"| {row['n']:.0f} | {row['trials']:.0f} | {row['seconds']:.1f} | "
            f"{row['per_hour']:.0f} | {row['per_hour'] / whole_ideal:.2f} | "
            f"{steady:.0f} | {steady / steady_ideal:.2f} | {row['processes']:.0f} | "
            f"{row['start_cpu']:.1f} | {row['cold']:.1f} | "
            f"{row['cycle'] - local_per_trial:+.2f} |"
        )
    print(
        "\nideal = N x the rate with N = 1. Warm: trials started on warm workers (after the "
        "first completion). First wave extra: how much longer the first wave's trials took "
        "(mostly waiting for their worker process to start)."
    )
    return rows


def gpu_packing(args: argparse.Namespace, folder: Path) -> None:
    """Trials/hour with one trial per GPU, then ``1 / gpus_per_trial`` trials per GPU."""
    import ray
    from paretune.search import StudySpec, run_ray
    from paretune.spaces import CategoricalDistribution, Fixed, FloatDistribution, StrategySpace
    from paretune.studies import build_objective

    factory = functools.partial(build_objective, task=args.gpu_task, device="cuda")
    ray.init(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    gpus = int(ray.cluster_resources().get("GPU", 0))  # type: ignore[no-untyped-call]
    if gpus < 1:
        ray.shutdown()
        raise SystemExit("--gpu needs a CUDA GPU visible to Ray; none was found")
    rates = {}
    try:
        for share in (1.0, args.gpu_share):
            name = f"gpu-{share:g}"
            spec = StudySpec(
                name=name,
                storage=f"sqlite:///{folder}/{name}.db",
                objectives=("accuracy", "size_bits"),
                sampler="random",
                space=StrategySpace(
                    params={
                        "optimizer": CategoricalDistribution(choices=("sgd", "adam")),
                        "lr": FloatDistribution(low=1e-3, high=0.1, log=True),
                        "bits": CategoricalDistribution(choices=(4, 8, 32)),
                        "epochs": Fixed(value=args.gpu_epochs),
                    }
                ),
            )
            started = time.perf_counter()
            summary = run_ray(
                spec,
                objective_factory=factory,
                n_trials=args.gpu_trials,
                gpus_per_trial=share,
                cpus_per_trial=args.gpu_cpus_per_trial,
                storage_path=folder / "ray",
            )
            seconds = time.perf_counter() - started
            rates[share] = summary.done / seconds * 3600
            print(f"gpus_per_trial={share:g}: {summary} in {seconds:.1f} s", file=sys.stderr)
    finally:
        ray.shutdown()
    per_gpu = round(1 / args.gpu_share)
    print(
        f"\nTask {args.gpu_task}, {args.gpu_trials} trials of {args.gpu_epochs} epochs, "
        f"{gpus} GPU(s).\n"
    )
    print("| gpus_per_trial | trials per GPU | trials/hour | speed-up |")
    print("|---:|---:|---:|---:|")
    print(f"| 1 | 1 | {rates[1.0]:.0f} | 1.00 |")
    print(
        f"| {args.gpu_share:g} | {per_gpu} | {rates[args.gpu_share]:.0f} | "
        f"{rates[args.gpu_share] / rates[1.0]:.2f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--epoch-seconds", type=float, default=4.0)
    parser.add_argument("--waves", type=int, default=8, help="trials per run = waves x N")
    parser.add_argument("--cpus", type=int, default=16, help="logical CPUs given to Ray")
    parser.add_argument("--gpu", action="store_true", help="measure GPU packing instead")
    parser.add_argument("--gpu-task", default="digits-cnn")
    parser.add_argument("--gpu-trials", type=int, default=16)
    parser.add_argument("--gpu-epochs", type=int, default=5)
    parser.add_argument("--gpu-share", type=float, default=0.25)
    parser.add_argument("--gpu-cpus-per-trial", type=float, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the studies and experiments")
    args = parser.parse_args(argv)
    _quiet()
    folder = Path(tempfile.mkdtemp(prefix="paretune-ray-bench-"))
    try:
        if args.gpu:
            gpu_packing(args, folder)
        else:
            scaling(args, folder)
    finally:
        if args.keep:
            print(f"\nstudies and Ray experiments kept in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
