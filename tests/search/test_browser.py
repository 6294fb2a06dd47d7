"""The HTML report in real headless Chromium: renders, no console error, no network request."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import optuna
import pytest
from paretune.search import build_report_data, write_report
from paretune.search.study import add_synthetic_trials, create_synthetic_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

ROOT = Path(__file__).resolve().parents[2]
EVIL = "<script>alert(1)</script>"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _cdp() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cdp_pipe", ROOT / "bench" / "cdp_pipe.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["cdp_pipe"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def chromium() -> str:
    found: str | None = _cdp().find_chromium()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Chromium is not installed (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI fails instead")
    return found


def test_report_renders_offline_with_the_expected_front(chromium: str, tmp_path: Path) -> None:
    study = create_synthetic_study(
        storage=None, study_name=EVIL, objectives=("accuracy", "size_bits", "latency_ms")
    )
    add_synthetic_trials(study, n_trials=1500, seed=7)  # > 1000 points: WebGL traces
    data = build_report_data(study, max_importance_trials=300)
    path = write_report(data, tmp_path / "report.html")
    front_js = (
        "document.getElementById('{0}').data.filter("
        "function(t){{return t.name.indexOf('Pareto front')===0;}})[0].x.length"
    )
    probes = {
        "plots": "document.querySelectorAll('.js-plotly-plot').length",
        "front0": front_js.format("plot-front-0"),
        "front1": front_js.format("plot-front-1"),
        "types0": "document.getElementById('plot-front-0').data.map(function(t){return t.type;})",
        "gl_canvases": "document.querySelectorAll('#plot-front-0 canvas').length",
        "title": "document.querySelector('h1').textContent",
        "scripts": "document.querySelectorAll('script:not([type])').length",
        "hover": (
            "(function(){var gd=document.getElementById('plot-front-0');"
            "var k=gd.data.findIndex(function(t){return t.name.indexOf('Pareto front')===0;});"
            "Plotly.Fx.hover(gd,[{curveNumber:k,pointNumber:0}]);"
            "return gd.querySelector('.hoverlayer').textContent;})()"
        ),
    }
    shot = tmp_path / "report.png"
    page = _cdp().open_report(path, executable=chromium, probes=probes, screenshot=shot)

    assert page.console_errors == []
    assert page.requests == []
    values = page.values
    assert values["plots"] == 7  # two fronts, 3-D, hypervolume, history, importance, curves
    assert values["front0"] == len(data.fronts[0].front)
    assert values["front1"] == len(data.fronts[1].front)
    assert "scattergl" in values["types0"] and values["gl_canvases"] > 0
    assert values["title"] == f"paretune report — {EVIL}"  # shown as text, never run
    assert values["scripts"] == 2
    first = data.rows[data.fronts[0].front[0]]
    assert f"trial {first.number}" in values["hover"] and "optimizer = " in values["hover"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    keep = os.environ.get("PARETUNE_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")


def test_the_client_sees_console_errors_and_requests(chromium: str, tmp_path: Path) -> None:
    """The checks above can fail: a page that logs an error and fetches a URL is caught."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<html><body><img src='http://127.0.0.1:9/x.png'><script>"
        "console.error('boom');window.paretuneReport={ready:true,readyAt:1};"
        "</script></body></html>"
    )
    seen = _cdp().open_report(page, executable=chromium)
    assert any("boom" in e for e in seen.console_errors)
    assert "http://127.0.0.1:9/x.png" in seen.requests
