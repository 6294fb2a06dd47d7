"""A report that reads at a glance: the front fills its plot, sizes tell front rows apart, the
table leads with what differs, the commands name the study, one row per distinct budget pick,
plurals, readable 3-D ticks, a legend clear of its axis title, every study string escaped."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import optuna
import pytest
from paretune.search import build_report_data, render_report_html
from paretune.search.report import (
    ConstraintPick,
    distinct_digits,
    distinct_picks,
    front_zoom,
    plural,
)

EVIL = "<script>alert(1)</script>"
BOLD = "<b>bold</b>"
Builder = Callable[..., optuna.Study]


def _figures(text: str) -> dict[str, Any]:
    found = re.findall(
        r'<script type="application/json" class="paretune-figure" '
        r'data-target="([^"]+)">(.*?)</script>',
        text,
        flags=re.S,
    )
    return {target: json.loads(body) for target, body in found}


def _section(text: str, start: str, end: str) -> str:
    return text.split(f'id="{start}"')[1].split(f'id="{end}"')[0]


@pytest.fixture(scope="module")
def quick(make_study: Builder) -> tuple[str, Any]:
    data = build_report_data(make_study(), max_importance_trials=50)
    return render_report_html(data), data


def test_the_front_plot_opens_framed_on_the_front(quick: tuple[str, Any]) -> None:
    text, data = quick
    layout = _figures(text)["plot-front-0"]["layout"]
    low, high = layout["yaxis"]["range"]
    # the front lies between 0.975 and 0.99; diverged trials at 0.1 stay out of the frame
    assert 0.95 < low < 0.975 and 0.99 < high < 1.0
    assert min(r.accuracy for r in data.rows) == pytest.approx(0.1)
    x_low, x_high = layout["xaxis"]["range"]  # log axis: log10 of the size
    assert x_low < math.log10(41_324) and math.log10(73_000) < x_high < math.log10(90_000)
    buttons = layout["updatemenus"][0]["buttons"]
    assert [b["label"] for b in buttons] == ["front", "all trials"]
    assert buttons[1]["args"][0] == {"xaxis.autorange": True, "yaxis.autorange": True}
    assert buttons[0]["args"][0]["yaxis.range"] == [low, high]


def test_a_front_point_far_below_the_rest_is_left_outside_and_named(make_study: Builder) -> None:
    study = make_study()
    cheap = study.trials[0]  # add a near-free model that learned nothing
    attrs = {**cheap.user_attrs, "size_bits": 41_000.0, "val_accuracy": 0.53}
    study.add_trial(
        optuna.trial.create_trial(
            state=optuna.trial.TrialState.COMPLETE, values=[0.53, 41_000.0],
            params=cheap.params, distributions=cheap.distributions, user_attrs=attrs,
        )
    )  # fmt: skip
    data = build_report_data(study, max_importance_trials=50)
    zoom = front_zoom(data.rows, data.fronts[0])
    assert zoom is not None
    assert [data.rows[i].number for i in zoom.outside] == [len(study.trials) - 1]
    assert zoom.y[0] > 0.95
    layout = _figures(render_report_html(data))["plot-front-0"]["layout"]
    assert any("1 front point below this view" in a["text"] for a in layout["annotations"])
    # kept when it is the one to keep (the recommended strategy), and never fewer than two
    kept = front_zoom(data.rows, data.fronts[0], keep=list(zoom.outside))
    assert kept is not None and kept.outside == () and kept.y[0] < 0.53


def test_sizes_tell_front_rows_apart(quick: tuple[str, Any]) -> None:
    text, _ = quick
    table = _section(text, "table", "picks")
    assert "41.32 kbit" in table and "41.34 kbit" in table
    assert "41.3 kbit" not in table
    assert distinct_digits([41_324, 41_336], render=lambda v, d: f"{v:.{d}g}") == 4
    assert distinct_digits([0.5, 0.25, 0.5], render=lambda v, d: f"{v:.{d}g}") == 3
    assert distinct_digits([1.0, 1.0 + 1e-12], render=lambda v, d: f"{v:.{d}g}", most=6) == 6


def test_the_table_leads_with_what_differs(quick: tuple[str, Any]) -> None:
    text, data = quick
    table = _section(text, "table", "picks")
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    assert heads[:4] == ["trial", "val acc", "test acc", "size_bits"]
    for varying in ("lr", "bits", "batch_size", "prune_rate"):
        assert varying in heads
    for constant in ("beta1", "beta2", "eps", "optimizer", "epochs", "seed"):
        assert constant not in heads
    same = re.search(r'class="help same-for-all">(.*?)</p>', table, re.S)
    assert same is not None
    assert "Same for all 4 strategies" in same.group(1)
    assert "<b>beta1</b> 0.9" in same.group(1) and "<b>eps</b> 1e-08" in same.group(1)
    assert heads.index("lr") < heads.index("latency_ms")  # settings before other measures
    assert table.count("<tr") == len(data.front) + 1


def test_the_commands_name_the_study(make_study: Builder) -> None:
    data = build_report_data(make_study("my study"), max_importance_trials=50)
    text = render_report_html(data)
    assert "STUDY" not in text
    assert "paretune select &#x27;my study&#x27; --knee --export trial-" in text
    given = render_report_html(
        data, study_args=["--storage", "postgresql://me:secret@db/x", "--study", "my study"]
    )
    assert (
        "--storage &#x27;postgresql://me:***@db/x&#x27; --study &#x27;my study&#x27; --knee"
        in given
    )
    assert "secret" not in given


def test_budgets_that_pick_the_same_trial_share_one_row(quick: tuple[str, Any]) -> None:
    text, data = quick
    chosen = [p.selection.chosen.number for p in data.picks if p.selection.chosen]
    assert len(chosen) == len(data.picks) == 5 and len(set(chosen)) < len(chosen)
    picks = _section(text, "picks", "progress")
    assert picks.count("<tr") == len(set(chosen)) + 1
    for pick in data.picks:
        assert pick.label.replace("≤", "≤") in picks
    groups = distinct_picks(data.picks)
    assert [len(g.picks) for g in groups] == [chosen.count(c) for c in dict.fromkeys(chosen)]
    empty = ConstraintPick("x", {}, data.picks[0].selection._replace(chosen=None))
    assert len(distinct_picks([empty, empty._replace(label="y")])) == 1


def test_plurals() -> None:
    assert plural(1, "strategy") == "1 strategy"
    assert plural(2, "strategy") == "2 strategies"
    assert plural(0, "trial") == "0 trials"
    assert plural(1_500, "trial") == "1,500 trials"
    assert plural(2, "pass") == "2 passes" and plural(2, "day") == "2 days"


def test_a_single_front_strategy_is_singular(make_study: Builder) -> None:
    study = make_study()
    best = study.trials[3]  # the most accurate front point, kept alone
    alone = optuna.create_study(directions=study.directions)
    for key, value in study.user_attrs.items():
        alone.set_user_attr(key, value)
    alone.add_trial(best)
    text = render_report_html(build_report_data(alone, max_importance_trials=50))
    assert "1 strategy</div>" in text and "1 strategies" not in text


def test_three_d_log_axes_have_few_short_ticks(make_study: Builder) -> None:
    study = make_study(objectives=("accuracy", "size_bits", "latency_ms"))
    figure = _figures(render_report_html(build_report_data(study, max_importance_trials=50)))
    scene = figure["plot-multi"]["layout"]["scene"]
    size_axis = scene["xaxis"]
    assert size_axis["type"] == "log"
    assert 2 <= len(size_axis["tickvals"]) <= 8
    for value, label in zip(size_axis["tickvals"], size_axis["ticktext"], strict=True):
        mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
        assert round(mantissa, 6) in (1.0, 2.0, 3.0, 5.0)
        assert len(label) <= 4 and re.fullmatch(r"[0-9.]+[kMGT]?", label)


def test_the_importance_legend_sits_above_the_plot(quick: tuple[str, Any]) -> None:
    text, _ = quick
    layout = _figures(text)["plot-importance"]["layout"]
    # the x axis title is under the plot: a legend above it cannot overlap it
    assert layout["legend"]["y"] >= 1 and layout["legend"]["yanchor"] == "bottom"


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_every_study_string_is_escaped(make_study: Builder) -> None:
    study = make_study(BOLD, param=EVIL)
    data = build_report_data(study, max_importance_trials=50)
    assert EVIL in data.importances["accuracy"]  # the parameter reaches the importance chart
    text = render_report_html(data)
    assert EVIL not in text and BOLD not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    hover = json.loads(text.split('id="paretune-hover">')[1].split("</script>")[0])
    figures = _figures(text)
    ours = {"<b>", "</b>", "<br>", "<i>", "</i>", "<extra>", "</extra>"}
    for string in [*_strings(figures), *hover]:
        assert set(re.findall(r"</?[a-zA-Z][^>]*>", string)) <= ours, string
    bars = figures["plot-importance"]["data"][0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bars["y"]
