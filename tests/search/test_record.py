"""record_result / record_failure: the one path from a result to a finished Optuna trial."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from paretune.search import (
    MEASUREMENTS,
    OutcomeState,
    TrialOutcome,
    make_storage,
    record_failure,
    record_result,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

OBJECTIVES = ("accuracy", "size_bits", "latency_ms")


def result(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": "completed",
        "reason": "",
        "val_accuracy": 0.91,
        "test_accuracy": 0.9,
        "params": 1234,
        "nonzero_params": 1000,
        "sparsity": 0.19,
        "size_bits": 4000.0,
        "bitops": 9.5e6,
        "latency_ms": 0.7,
        "latency_ms_spread": 0.05,
        "train_seconds": 3.2,
        "epochs": 3,
        "curve": [{"val_accuracy": 0.5}, {"val_accuracy": 0.8}, {"val_accuracy": 0.91}],
        "strategy": {"optimizer": "adam", "lr": 0.01, "epochs": 3},
    }
    out.update(changes)
    return out


def _study(storage: Any) -> optuna.Study:
    s = optuna.create_study(storage=storage, directions=["maximize", "minimize", "minimize"])
    s.set_user_attr("objectives", list(OBJECTIVES))
    s.set_user_attr("constraints", {"size_bits": 5000.0})
    return s


@pytest.fixture(params=["sqlite", "journal"])
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> optuna.Study:
    """A study in a real file (the batched attribute writes differ per storage)."""
    url = {"sqlite": f"sqlite:///{tmp_path}/r.db", "journal": f"journal:///{tmp_path}/r.log"}
    return _study(make_storage(url[request.param]))


@pytest.fixture
def study() -> optuna.Study:
    return _study(None)


def test_complete_records_values_in_objective_order_and_every_attribute(
    stored: optuna.Study,
) -> None:
    trial = stored.ask()
    assert record_result(stored, trial, result()) is TrialState.COMPLETE
    frozen = stored.trials[0]
    assert frozen.state is TrialState.COMPLETE
    assert frozen.values == [0.91, 4000.0, 0.7]
    for key in MEASUREMENTS:
        assert frozen.user_attrs[key] == result()[key]
    assert frozen.user_attrs["strategy"] == {"optimizer": "adam", "lr": 0.01, "epochs": 3}
    assert frozen.user_attrs["curve"][-1] == {"epoch": 3, "val_accuracy": 0.91}
    assert "fail_reason" not in frozen.user_attrs


def test_constraints_are_visible_to_optuna(stored: optuna.Study) -> None:
    record_result(stored, stored.ask(), result(size_bits=4000.0))
    record_result(stored, stored.ask(), result(size_bits=8000.0))
    feasible, infeasible = stored.trials
    assert feasible.constraints == {"size_bits": -1000.0}
    assert infeasible.constraints == {"size_bits": 3000.0}
    # Optuna's own front ignores the infeasible trial
    assert [t.number for t in stored.best_trials] == [0]


def test_trial_can_be_given_by_number(stored: optuna.Study) -> None:
    stored.ask()
    number = stored.ask().number
    record_result(stored, number, result(val_accuracy=0.5))
    assert stored.trials[number].values == [0.5, 4000.0, 0.7]
    assert stored.trials[0].state is TrialState.RUNNING


def test_stopped_becomes_pruned_with_epoch_and_reason(stored: optuna.Study) -> None:
    trial = stored.ask()
    state = record_result(
        stored, trial, result(status="stopped", epochs=2), prune_reason="median pruner stopped it"
    )
    assert state is TrialState.PRUNED
    frozen = stored.trials[0]
    assert frozen.state is TrialState.PRUNED and frozen.values is None
    assert frozen.user_attrs["pruned_at_epoch"] == 2
    assert frozen.user_attrs["prune_reason"] == "median pruner stopped it"
    assert frozen.user_attrs["size_bits"] == 4000.0


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"status": "diverged", "reason": "loss is nan at epoch 2"}, "loss is nan at epoch 2"),
        ({"status": "diverged", "reason": ""}, "training diverged"),
        ({"val_accuracy": math.nan}, "objective 'accuracy' (val_accuracy) is nan"),
        ({"latency_ms": math.inf}, "objective 'latency_ms' (latency_ms) is inf"),
        ({"size_bits": "big"}, "objective 'size_bits' (size_bits) is not a number: 'big'"),
        (
            {"status": "done"},
            "the objective returned status 'done'; expected one of completed, stopped, diverged",
        ),
    ],
)
def test_bad_results_fail_with_a_reason(
    study: optuna.Study, changes: dict[str, Any], reason: str
) -> None:
    assert record_result(study, study.ask(), result(**changes)) is TrialState.FAIL
    frozen = study.trials[0]
    assert frozen.state is TrialState.FAIL
    assert frozen.user_attrs["fail_reason"] == reason
    assert frozen.user_attrs["strategy"]["optimizer"] == "adam"


def test_missing_objective_key_fails(study: optuna.Study) -> None:
    bad = result()
    del bad["latency_ms"]
    assert record_result(study, study.ask(), bad) is TrialState.FAIL
    assert study.trials[0].user_attrs["fail_reason"] == (
        "the result has no 'latency_ms' (needed for objective 'latency_ms')"
    )


def test_record_failure_keeps_the_partial_curve(study: optuna.Study) -> None:
    trial = study.ask()
    curve = [{"epoch": 1, "val_accuracy": 0.3}]
    assert record_failure(study, trial, "interrupted", curve=curve) is TrialState.FAIL
    frozen = study.trials[0]
    assert frozen.user_attrs == {"fail_reason": "interrupted", "curve": curve, "epochs": 1}


def test_objectives_can_be_passed_instead_of_read() -> None:
    study = optuna.create_study(direction="minimize")
    record_result(study, study.ask(), result(), objectives=("bitops",), constraints={})
    assert study.trials[0].values == [9.5e6]


def test_a_study_without_objectives_is_a_clear_error() -> None:
    study = optuna.create_study()
    with pytest.raises(ValueError, match="has no 'objectives' attribute"):
        record_result(study, study.ask(), result())


def test_numpy_scalars_are_stored_as_plain_numbers(study: optuna.Study) -> None:
    np = pytest.importorskip("numpy")
    record_result(study, study.ask(), result(params=np.int64(7), sparsity=np.float32(0.5)))
    attrs = study.trials[0].user_attrs
    assert attrs["params"] == 7 and isinstance(attrs["params"], int)
    assert attrs["sparsity"] == 0.5


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("completed", OutcomeState.COMPLETE),
        ("stopped", OutcomeState.PRUNED),
        ("diverged", OutcomeState.FAIL),
    ],
)
def test_a_trial_outcome_records_as_its_dict_form_does(
    study: optuna.Study, status: str, state: OutcomeState
) -> None:
    import pickle

    outcome = TrialOutcome.from_dict(result(status=status, reason="why"))
    assert outcome.state is state
    assert pickle.loads(pickle.dumps(outcome)) == outcome  # crosses processes as it is
    assert TrialOutcome.from_dict(outcome.to_dict()) == outcome
    typed = record_result(study, study.ask(), outcome)
    plain = record_result(study, study.ask(), result(status=status, reason="why"))
    assert typed is plain
    first, second = study.trials
    assert first.user_attrs == second.user_attrs and first.values == second.values


def test_an_unknown_measurement_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown measurement 'acc'. Known: val_accuracy"):
        TrialOutcome(state=OutcomeState.COMPLETE, measurements={"acc": 0.9})
