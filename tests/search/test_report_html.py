"""The HTML report: self-contained, offline, escaped, WebGL at scale, bounded size."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import optuna
import pytest
from paretune.search import ReportData, build_report_data, render_report_html, write_report
from paretune.search.study import add_synthetic_trials, create_synthetic_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

EVIL = "<script>alert(1)</script>"


def _study(
    n: int, *, name: str = "demo", objectives: tuple[str, ...] = ("accuracy", "size_bits")
) -> optuna.Study:
    study: optuna.Study = create_synthetic_study(
        storage=None, study_name=name, objectives=objectives, task=EVIL
    )
    add_synthetic_trials(study, n_trials=n, seed=0)
    return study


def _figures(text: str) -> dict[str, Any]:
    found = re.findall(
        r'<script type="application/json" class="paretune-figure" '
        r'data-target="([^"]+)">(.*?)</script>',
        text,
        flags=re.S,
    )
    return {target: json.loads(body) for target, body in found}


@pytest.fixture(scope="module")
def small_report() -> tuple[str, ReportData]:
    study = _study(120, name=EVIL, objectives=("accuracy", "size_bits", "latency_ms"))
    data = build_report_data(study, max_importance_trials=100)
    return render_report_html(data), data


def test_study_strings_are_escaped(small_report: tuple[str, ReportData]) -> None:
    text, _ = small_report
    # the only <script> tags are ours: plotly.js, the JSON blocks and the boot script
    assert EVIL not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    tags = re.findall(r"<script[^>]*>", text)
    assert all(t == "<script>" or 'type="application/json"' in t for t in tags)
    assert text.count("<script>") == 2  # plotly.js + boot


def test_no_external_resource_is_referenced(small_report: tuple[str, ReportData]) -> None:
    text, _ = small_report
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)
    assert "@import" not in text and "url(" not in text.split("<script>")[0]
    assert "cdn.plot.ly/plotly" not in text.split("<script>")[0]
    assert "MathJax" not in text.split("<script>")[0]


def test_every_section_is_present(small_report: tuple[str, ReportData]) -> None:
    text, data = small_report
    headings = ("Summary", "Pareto front", "Non-dominated strategies", "What common budgets pick",
                "Hypervolume against trials", "Optimization history", "Which settings matter",
                "Learning curves")  # fmt: skip
    for heading in headings:
        assert heading in text
    figures = _figures(text)
    assert set(figures) == {
        "plot-front-0", "plot-front-1", "plot-multi", "plot-hypervolume", "plot-history",
        "plot-importance", "plot-curves",
    }  # fmt: skip
    # the front trace has one point per 2-D front member
    for i, view in enumerate(data.fronts):
        traces = figures[f"plot-front-{i}"]["data"]
        front = [t for t in traces if t["name"].startswith("Pareto front")]
        assert len(front) == 1 and len(front[0]["x"]) == len(view.front)
        pruned = [t for t in traces if t["name"].startswith("pruned")]
        assert len(pruned[0]["x"]) == len(view.pruned)
    assert figures["plot-multi"]["data"][0]["type"] == "scatter3d"
    # the table lists the whole front with every dimension: a column, or named once above
    # the table when it is the same for every row
    table = text.split('id="table"')[1].split('id="picks"')[0]
    assert table.count("<tr") == len(data.front) + 1
    for dimension in data.dimensions:
        assert f">{dimension}</th>" in table or f"<b>{dimension}</b>" in table


def test_small_reports_use_svg_and_large_ones_webgl() -> None:
    data = build_report_data(_study(60), max_importance_trials=50)
    small = _figures(render_report_html(data, webgl_above=1000))
    large = _figures(render_report_html(data, webgl_above=10))

    def kinds(figures: dict[str, Any]) -> set[str]:
        return {t["type"] for t in figures["plot-front-0"]["data"]}

    assert "scattergl" not in kinds(small)
    assert "scattergl" in kinds(large)


def test_hover_text_carries_the_whole_strategy(small_report: tuple[str, ReportData]) -> None:
    text, data = small_report
    found = re.search(r'id="paretune-hover">(.*?)</script>', text, re.S)
    assert found is not None
    hover = json.loads(found.group(1))
    assert len(hover) == len(data.rows)
    row = data.rows[data.front[0]]
    for key in row.strategy:
        assert f"{key} = " in hover[data.front[0]]


def test_four_objectives_get_a_pairwise_view() -> None:
    study = _study(80, objectives=("accuracy", "size_bits", "latency_ms", "bitops"))
    figures = _figures(render_report_html(build_report_data(study, max_importance_trials=50)))
    assert figures["plot-multi"]["data"][0]["type"] == "splom"


def test_single_objective_study_with_constraint(tmp_path: Path) -> None:
    study = create_synthetic_study(
        storage=None, study_name="one", objectives=("accuracy",), constraints={"size_bits": 20000}
    )
    add_synthetic_trials(study, n_trials=80, seed=5)
    data = build_report_data(study, max_importance_trials=50)
    assert [v.cost for v in data.fronts] == ["size_bits"]
    assert all(data.rows[i].metrics["size_bits"] <= 20000 for i in data.fronts[0].front)
    path = write_report(data, tmp_path / "sub" / "r.html")
    assert path.is_file() and "breaks a study constraint" in path.read_text()


@pytest.mark.slow
def test_twenty_thousand_trials_stay_under_twenty_megabytes(tmp_path: Path) -> None:
    study = _study(20_000)
    data = build_report_data(study, max_importance_trials=50)  # importances timed in bench/
    path = write_report(data, tmp_path / "big.html")
    assert path.stat().st_size <= 20 * 1024 * 1024
    figures = _figures(path.read_text())
    types = {t["type"] for t in figures["plot-front-0"]["data"]}
    assert "scattergl" in types


def test_empty_and_failed_only_studies_still_render() -> None:
    study = create_synthetic_study(storage=None, study_name="empty")
    text = render_report_html(build_report_data(study))
    assert "No recommendation." in text and "0 complete" in text
    study.add_trials(
        [
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.FAIL, user_attrs={"fail_reason": "x"}
            )
        ]
    )
    data = build_report_data(study)
    assert data.summary.n_failed == 1 and data.front == ()
    assert "1 failed · 0 finished" in render_report_html(data)  # a failed trial never finished


STORED = ["--storage", "sqlite:///x.db", "--study", "demo"]


@pytest.mark.parametrize(
    ("task", "study_args", "how"),
    [
        ("digits-mlp", None, "<code>paretune select demo --knee --export trial-"),
        ("mytasks:make_task", None, "<code>paretune select demo --knee --export trial-"),
        (
            "digits-mlp",
            STORED,
            "<code>paretune select --storage sqlite:///x.db --study demo --knee --export "
            "trial-{number}</code>",
        ),
        (  # named by the storage alone, a user task is imported only when trusted
            "mytasks:make_task",
            STORED,
            "<code>paretune select --storage sqlite:///x.db --study demo --knee --export "
            "trial-{number} --trust-task</code>",
        ),
        (
            "__main__:make_task",
            None,
            "in the script that ran the study (its task __main__:make_task",
        ),
    ],
)
def test_the_recommendation_says_how_to_export_it(
    task: str, study_args: list[str] | None, how: str
) -> None:
    """``select --export`` refuses a task defined in the running script: the report then
    points to ``result.export`` in that script instead."""
    study = create_synthetic_study(storage=None, study_name="demo", task=task)
    add_synthetic_trials(study, n_trials=20, seed=0)
    data = build_report_data(study)
    number = data.summary.recommended.chosen.number  # type: ignore[union-attr]
    text = render_report_html(data, study_args=study_args)
    assert f"Reproduce it: {how.format(number=number)}" in text
    if task.startswith("__main__:"):
        assert f"result.export({number}, &#x27;trial-{number}&#x27;)" in text
        assert "paretune select" not in text
