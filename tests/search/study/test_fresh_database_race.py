"""A plain Optuna process (a script, optuna-dashboard) creating the tables of a fresh SQLite
database at the moment a paretune run creates them: the run opens it all the same.

Optuna's ``RDBStorage`` creates the tables and stamps the schema version without a lock, so
two processes creating one database at once fail ("table studies already exists", or a
second stamp of ``alembic_version``). paretune's own runs take a lock for this; a process
that does not is met by opening the storage again, once the other has made the tables."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

ROUNDS = 4


def _plain(path: str, start: Any, results: Any) -> None:
    import optuna

    start.wait()
    try:
        optuna.storages.RDBStorage(f"sqlite:///{path}")
        results.put(("plain", "ok"))
    except Exception as error:  # (Optuna's own race: not paretune's to mend)
        results.put(("plain", type(error).__name__))


def _paretune(path: str, start: Any, results: Any) -> None:
    from paretune.search import make_storage

    start.wait()
    try:
        make_storage(f"sqlite:///{path}")
        results.put(("paretune", "ok"))
    except Exception as error:
        results.put(("paretune", f"{type(error).__name__}: {error}"))


def test_a_run_opens_a_fresh_database_another_process_is_creating(tmp_path: Path) -> None:
    import optuna

    context = multiprocessing.get_context("spawn")  # (no fork of a threaded pytest)
    outcomes: list[tuple[str, str]] = []
    for round_number in range(ROUNDS):
        path = str(tmp_path / f"fresh{round_number}.db")
        start, results = context.Barrier(3), context.Queue()
        processes = [
            context.Process(target=_plain, args=(path, start, results)),
            context.Process(target=_plain, args=(path, start, results)),
            context.Process(target=_paretune, args=(path, start, results)),
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=120)
        outcomes += [results.get(timeout=5) for _ in processes]
        optuna.storages.RDBStorage(f"sqlite:///{path}")  # the database is whole
    assert [o for o in outcomes if o[0] == "paretune"] == [("paretune", "ok")] * ROUNDS
