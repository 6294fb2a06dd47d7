"""The report names the study's quality objective with its direction: a ``val_rmse`` study
says "val_rmse" and "lower is better" wherever an accuracy study says "validation accuracy" and
"higher is better"; an accuracy study keeps its words."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import optuna
import pytest
from paretune.search import (
    OutcomeState,
    StudySpec,
    TrialOutcome,
    build_report_data,
    open_study,
    record_result,
    render_report_html,
)
from paretune.search.study import add_synthetic_trials, create_synthetic_study
from paretune.spaces import Fixed, FloatDistribution, StrategySpace

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = StrategySpace(
    params={"lr": FloatDistribution(low=1e-3, high=1.0, log=True), "epochs": Fixed(value=2)}
)

#: What an accuracy report says about its quality, word for word.
ACCURACY_WORDS = (
    "best validation accuracy",
    "<th>val acc</th>",
    "<th>test acc</th>",
    "pruned (last reported accuracy)",
    "most accurate (study constraints only)",
    "<h3>Accuracy against model size (bits)</h3>",
    "beats on accuracy <i>and</i> cost at\nonce: pick one of those for your budget. Accuracy is "
    "measured on the validation split; the\ntest accuracy is reported alongside but was never "
    "used to choose.</p>",
    "How much of the accuracy–cost space the front covers (reference: accuracy 0 and\n"
    "1.1 × the largest cost seen); a flat curve",
    "for each cost, the best accuracy reachable at or below it",
    "The most accurate strategy whose size fits",
)


def _metric_study(tmp_path: Path, metric: str, direction: str) -> optuna.Study:
    """A study of ``metric`` against size, recorded as paretune records a run."""
    spec = StudySpec(
        name="m",
        storage=f"sqlite:///{tmp_path}/m.db",
        objectives=(metric, "size_bits"),
        space=SPACE,
        metric_directions={metric: direction},
    )
    study = open_study(spec)
    test = "test_" + metric.removeprefix("val_")
    points = ((50.0, 4000.0), (55.0, 1000.0), (60.0, 2000.0), (48.0, 9000.0))
    for value, size in points:
        outcome = TrialOutcome(
            state=OutcomeState.COMPLETE,
            measurements={metric: value, test: value - 1.5, "size_bits": size, "params": 500.0,
                          "epochs": 2},
            curve=({metric: value + 5}, {metric: value}),
            strategy={"lr": 0.01, "bits": 8},
        )  # fmt: skip
        record_result(study, study.ask(), outcome)
    pruned = TrialOutcome(
        state=OutcomeState.PRUNED,
        measurements={"size_bits": 3000.0, "epochs": 1},
        curve=({metric: 70.0, "size_bits": 3000.0},),
        strategy={"lr": 0.5},
        reason="stopped",
    )
    record_result(study, study.ask(), pruned)
    return study


def _page(study: optuna.Study) -> tuple[str, dict[str, Any]]:
    """The report without plotly.js, and its figures by target."""
    text = render_report_html(build_report_data(study, max_importance_trials=50))
    body = text.split("</head>", 1)[1]
    found = re.findall(
        r'<script type="application/json" class="paretune-figure" '
        r'data-target="([^"]+)">(.*?)</script>',
        body,
        flags=re.S,
    )
    return body, {target: json.loads(data) for target, data in found}


def _hover(body: str) -> list[str]:
    block = body.split('<script type="application/json" id="paretune-hover">')[1]
    texts: list[str] = json.loads(block.split("</script>")[0])
    return texts


def test_a_minimized_metric_is_named_with_its_direction(tmp_path: Path) -> None:
    body, figures = _page(_metric_study(tmp_path, "val_rmse", "minimize"))
    front = figures["plot-front-0"]
    assert front["layout"]["yaxis"]["title"]["text"] == "val_rmse — lower is better"
    assert any(t["name"] == "pruned (last reported val_rmse) (1)" for t in front["data"])
    for target in ("plot-history", "plot-curves"):
        assert figures[target]["layout"]["yaxis"]["title"]["text"] == "val_rmse — lower is better"
    assert 'best val_rmse (lower is better)</div><div class="v">48</div>' in body
    assert "val_rmse (min), size_bits (min)" in body
    assert "<th>val_rmse</th><th>test_rmse</th>" in body
    assert "<td>48</td><td>46.5</td>" in body  # trial 3: val and test RMSE
    assert "<h3>val_rmse against model size (bits)</h3>" in body
    assert "beats on val_rmse (lower is better) <i>and</i> cost" in body
    assert "test_rmse is\nreported alongside" in body
    assert "for each cost, the lowest val_rmse reachable" in body
    assert "reference: 1.1 × the largest val_rmse and" in body
    assert "The strategy with the lowest val_rmse whose size fits" in body
    assert "best val_rmse (study constraints only)" in body
    assert "improving val_rmse further (lower is better)" in body  # the knee's reason
    hover = _hover(body)
    assert "val_rmse 48 · test 46.5" in hover[3]
    assert "last val_rmse 70 (epoch 1)" in hover[4]
    for word in ACCURACY_WORDS:
        assert word not in body, word
    for word in ("validation accuracy", "higher is better", "val acc", "most accurate"):
        assert word not in body, word


def test_a_maximized_metric_says_higher_is_better(tmp_path: Path) -> None:
    body, figures = _page(_metric_study(tmp_path, "val_macro_f1", "maximize"))
    assert figures["plot-front-0"]["layout"]["yaxis"]["title"]["text"] == (
        "val_macro_f1 — higher is better"
    )
    assert 'best val_macro_f1 (higher is better)</div><div class="v">60</div>' in body
    assert "val_macro_f1 (max), size_bits (min)" in body
    assert "for each cost, the highest val_macro_f1 reachable" in body
    assert "reference: val_macro_f1 0 and" in body
    assert "(lower is better)" not in body and "validation accuracy" not in body


@pytest.mark.parametrize("objectives", [("accuracy", "size_bits"), ("size_bits", "accuracy")])
def test_an_accuracy_report_keeps_its_words(objectives: tuple[str, ...]) -> None:
    study = create_synthetic_study(storage=None, study_name="acc", objectives=objectives)
    add_synthetic_trials(study, n_trials=60, seed=0)
    body, figures = _page(study)
    for word in ACCURACY_WORDS:
        assert word in body, word
    assert "accuracy (max)" in body and "size_bits (min)" in body
    front = figures["plot-front-0"]["layout"]["yaxis"]["title"]["text"]
    assert front == "validation accuracy — higher is better"
    assert figures["plot-history"]["layout"]["yaxis"]["title"]["text"] == "validation accuracy"
    assert figures["plot-curves"]["layout"]["yaxis"]["title"]["text"] == "validation accuracy"
    assert "lower is better</" not in body and "val_" not in body.split("paretune-hover")[0]
    assert any(re.match(r"val acc \d\.\d{4}", line) for line in _hover(body)[0].split("<br>"))
