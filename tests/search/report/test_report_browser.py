"""The report of a digits-quick-like and a digits-full-like study in real headless Chromium:
each front plot opens framed on its front, "all trials" shows every trial, the importance
legend clears its axis title, escaped names read as text. Screenshots are kept in
``$PARETUNE_SCREENSHOT_DIR`` when it is set."""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna
import pytest
from paretune.search import build_report_data, write_report

ROOT = Path(__file__).resolve().parents[3]
EVIL = "<script>alert(1)</script>"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _cdp() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cdp_pipe", ROOT / "bench" / "cdp_pipe.py")
    if spec is None or spec.loader is None:
        raise ImportError("bench/cdp_pipe.py is missing")
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


def _click(button: int) -> str:
    """Click the front plot's zoom button ``button`` and return the y range drawn after it."""
    return (
        "new Promise(function(done){var gd=document.getElementById('plot-front-0');"
        f"gd.querySelectorAll('.updatemenu-button')[{button}].dispatchEvent("
        "new MouseEvent('click',{bubbles:true}));"
        "setTimeout(function(){done(gd._fullLayout.yaxis.range.slice());},400);})"
    )


PROBES = {
    "y": "document.getElementById('plot-front-0')._fullLayout.yaxis.range.slice()",
    "x": "document.getElementById('plot-front-0')._fullLayout.xaxis.range.slice()",
    "front": (
        "(function(){var t=document.getElementById('plot-front-0').data.filter(function(t){"
        "return t.name.indexOf('Pareto front')===0;})[0];return [t.x,t.y];})()"
    ),
    "all": _click(1),
    "back": _click(0),
    "boxes": (
        "(function(){var gd=document.getElementById('plot-importance');"
        "function box(s){var r=gd.querySelector(s).getBoundingClientRect();"
        "return [r.left,r.top,r.right,r.bottom];}return [box('.legend'),box('.g-xtitle')];})()"
    ),
    "ticks": (
        "Array.from(document.querySelectorAll('#plot-importance .ytick text'))"
        ".map(function(t){return t.textContent.trim();})"
    ),
}


def _open(chromium: str, data: Any, path: Path) -> Any:
    report = write_report(data, path)
    shot = path.with_suffix(".png")
    page = _cdp().open_report(report, executable=chromium, probes=PROBES, screenshot=shot)
    assert page.console_errors == [] and page.requests == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    keep = os.environ.get("PARETUNE_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
    return page.values


def _fills(values: list[float], span: list[float], share: float) -> bool:
    low, high = span
    inside = all(low <= v <= high for v in values)
    return inside and (max(values) - min(values)) >= share * (high - low)


def _check_front(values: dict[str, Any], *, log_x: bool) -> None:
    xs, ys = values["front"]
    xs = [math.log10(x) for x in xs] if log_x else xs
    # the front fills the frame: the diverged trials (accuracy 0.1) are outside it
    assert _fills(ys, values["y"], 0.7) and values["y"][0] > 0.9
    assert _fills(xs, values["x"], 0.7)
    assert values["all"][0] < 0.1 < values["all"][1]  # "all trials": every trial in view
    assert values["back"] == pytest.approx(values["y"])  # "front" frames it again
    legend, title = values["boxes"]
    assert legend[3] <= title[1] or title[3] <= legend[1]  # legend and axis title apart


def test_digits_quick_report_opens_on_its_front(
    chromium: str, make_study: Callable[..., optuna.Study], tmp_path: Path
) -> None:
    data = build_report_data(make_study("digits-quick", param=EVIL), max_importance_trials=50)
    values = _open(chromium, data, tmp_path / "digits-quick.html")
    _check_front(values, log_x=data.fronts[0].log_x)
    assert EVIL in values["ticks"]  # an escaped parameter name reads as text, never runs


def test_digits_full_report_opens_on_its_front(
    chromium: str, make_study: Callable[..., optuna.Study], tmp_path: Path
) -> None:
    study = make_study("digits-full", objectives=("accuracy", "size_bits", "train_seconds"))
    data = build_report_data(study, max_importance_trials=50)
    values = _open(chromium, data, tmp_path / "digits-full.html")
    _check_front(values, log_x=data.fronts[0].log_x)
