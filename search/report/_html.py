"""Draw a :class:`ReportData` as one self-contained, offline HTML file (plotly, lazily imported).

The file embeds plotly.js once and makes no network request: no CDN, no web font, no
MathJax. Every string that comes from the study (name, task, strategy values, reasons) is
HTML-escaped; figure data sits in ``<script type="application/json">`` blocks with ``<``,
``>`` and ``&`` written as JSON escapes, so nothing in a study can close a tag. Plots with
more than ``webgl_above`` points use WebGL traces (``scattergl``). Hover texts are stored once
per trial and attached to the traces in the browser, which keeps a 20,000-trial report small.

This module is the page skeleton; the figures (``_figures``), the tables (``_tables``) and the
text helpers (``_format``) are built from the data and placed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paretune.search.report._data import ReportData
from paretune.search.report._figures import (
    curves_figure,
    front_figure,
    history_figure,
    hypervolume_figure,
    importance_figure,
    multi_figure,
)
from paretune.search.report._format import (
    axis_title,
    better,
    esc,
    hover_text,
    json_for_script,
    test_short,
)
from paretune.search.report._select import Selection
from paretune.search.report._tables import front_table_html, picks_html, summary_html
from paretune.search.report._trials import Quality

__all__ = ["render_report_html", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.25em;margin:34px 0 8px;border-bottom:1px solid
#d5d9e0;padding-bottom:4px}h3{font-size:1.05em;margin:18px 0 6px}
p.lead{color:#4a5261;margin:4px 0 14px}.muted{color:#667085}
nav a{margin-right:14px;color:#1f5fbf;text-decoration:none;font-size:.92em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(165px,1fr));gap:10px}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 12px}
.card .k{font-size:.78em;color:#667085;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:1.2em;font-weight:600;margin-top:2px;word-break:break-word}
.card .s{font-size:.85em;color:#4a5261}
.reco{background:#fff;border:1px solid #dde1e7;border-left:4px solid #d62728;border-radius:6px;
padding:10px 14px;margin-top:12px}
.plot{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:8px 0;height:480px}
.plot.tall{height:620px}.plot.short{height:380px}
.scroll{overflow-x:auto;background:#fff;border:1px solid #dde1e7;border-radius:6px}
table{border-collapse:collapse;font-size:.86em;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid #eceef2;text-align:right;white-space:nowrap}
th{background:#f0f2f5;position:sticky;top:0;font-weight:600}
td.t,th.t{text-align:left}tr.reco-row td{background:#fff4f4}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}
dl.kv dt{color:#667085}dl.kv dd{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace}
.help{font-size:.9em;color:#4a5261;margin:2px 0 8px}
"""

_BOOT = """
(function(){
  var hover = JSON.parse(document.getElementById('paretune-hover').textContent);
  var config = {displaylogo:false, responsive:true, showLink:false, showSendToCloud:false,
                showEditInChartStudio:false, toImageButtonOptions:{format:'png', scale:2}};
  window.paretuneReport = {figures:{}};
  document.querySelectorAll('script.paretune-figure').forEach(function(node){
    var fig = JSON.parse(node.textContent);
    fig.data.forEach(function(trace){
      if (trace.meta === 'hover') {
        trace.text = trace.customdata.map(function(i){ return hover[i]; });
        trace.hovertemplate = '%{text}<extra></extra>';
      }
    });
    window.paretuneReport.figures[node.dataset.target] = fig;
    Plotly.newPlot(node.dataset.target, fig.data, fig.layout, config);
  });
  window.paretuneReport.readyAt = performance.now();
  window.paretuneReport.ready = true;
})();
"""


def _figure_block(target: str, figure: dict[str, Any] | None, css: str = "plot") -> str:
    if figure is None:
        return '<p class="muted">Not enough data for this view.</p>'
    return (
        f'<div id="{target}" class="{css}"></div>'
        f'<script type="application/json" class="paretune-figure" data-target="{target}">'
        f"{json_for_script(figure)}</script>"
    )


def _recommended_row(data: ReportData, selection: Selection) -> int | None:
    if selection.chosen is None:
        return None
    for i, row in enumerate(data.rows):
        if row.number == selection.chosen.number:
            return i
    return None


def _words(quality: Quality) -> dict[str, str]:
    """The page's words for the study's quality objective (HTML, escaped).

    An accuracy study keeps the words it always had; a metric study names its metric and
    direction (``val_rmse``, lower is better) wherever the page speaks of the quality.
    """
    if quality.key == "val_accuracy":
        return {
            "Quality": "Accuracy",
            "name": "accuracy",
            "lead": "beats on accuracy <i>and</i> cost at\nonce: pick one of those for your "
            "budget. Accuracy is measured on the validation split; the\ntest accuracy is "
            "reported alongside but was never used to choose.",
            "best": "the best accuracy",
            "most": "The most accurate strategy",
            "volume": "How much of the accuracy–cost space the front covers (reference: "
            "accuracy 0 and\n1.1 × the largest cost seen)",
        }
    name, test, direction = esc(quality.key), esc(test_short(quality)), better(quality)
    best = "highest" if quality.maximize else "lowest"
    reference = f"{name} 0" if quality.maximize else f"1.1 × the largest {name}"
    return {
        "Quality": name,
        "name": name,
        "lead": f"beats on {name} ({direction}) <i>and</i> cost at\nonce: pick one of those "
        f"for your budget. {name} is measured on the validation split; {test} is\nreported "
        "alongside but was never used to choose.",
        "best": f"the {best} {name}",
        "most": f"The strategy with the {best} {name}",
        "volume": f"How much of the {name}–cost space the front covers (reference: "
        f"{reference} and\n1.1 × the largest cost seen)",
    }


def render_report_html(
    data: ReportData, *, webgl_above: int = 1000, study_args: Sequence[str] | None = None
) -> str:
    """The report as one HTML document (plotly.js embedded, no network access needed).

    Args:
        data: What :func:`build_report_data` computed.
        webgl_above: Scatter plots with more points than this use WebGL (``scattergl``).
        study_args: How the commands the report shows name the study
            (``["digits-quick", "--storage", "sqlite:///q.db"]``); default: its name.

    Returns:
        The HTML text.
    """
    import plotly.offline

    s = data.summary
    recommended = _recommended_row(data, s.recommended)
    hover = [hover_text(row, s.objectives, s.quality) for row in data.rows]
    words = _words(s.quality)
    fronts = "".join(
        f"<h3>{words['Quality']} against {esc(axis_title(view.cost))}</h3>"
        + _figure_block(f"plot-front-{i}", front_figure(data, view, recommended, webgl_above))
        + "".join(
            f'<p class="help timing-noise">{esc(noise.note())}</p>'
            for noise in data.timing
            if noise.cost == view.cost and noise.pairs
        )
        for i, view in enumerate(data.fronts)
    )
    multi = multi_figure(data, webgl_above)
    multi_html = ""
    if multi is not None:
        multi_html = (
            "<h3>All objectives together</h3><p class='help'>Blue: strategies no other beats on "
            "every objective at once. Drag to rotate.</p>"
            + _figure_block("plot-multi", multi, "plot tall")
        )
    title = f"paretune report — {s.study_name}"
    body = f"""
<main>
<h1>{esc(title)}</h1>
<p class="lead">Each point is one training strategy (optimizer, learning rate, schedule, batch
size, regularization, prune rate, bit width) that was really trained and measured. The
<b>Pareto front</b> holds the strategies no other strategy {words["lead"]}</p>
<nav><a href="#summary">Summary</a><a href="#front">Pareto front</a><a href="#table">Front
table</a><a href="#picks">Budgets</a><a href="#progress">Progress</a><a
href="#importance">Importance</a><a href="#curves">Learning curves</a></nav>
<h2 id="summary">Summary</h2>
{summary_html(data, study_args=study_args)}
<h2 id="front">Pareto front</h2>
<p class="help">Hover a point to see its whole strategy. Blue dots joined by the staircase:
the front (for each cost, {words["best"]} reachable at or below it). Grey: dominated
strategies. Orange ×: trials stopped early by the pruner, drawn at their last reported
{words["name"]}. Red star: the recommended strategy. Each plot opens framed on its front;
<i>all trials</i> (above the plot) shows every trial, <i>front</i> frames it again. Click
legend entries to hide groups.</p>
{fronts}
{multi_html}
<h2 id="table">Non-dominated strategies</h2>
<p class="help">Sorted by cost, cheapest first; ★ marks the recommended strategy. The settings
that differ between these strategies come first; those the same for all are named once above
the table. Size counts the stored weights (nonzero weights × bits); BitOps are per inference;
sparsity is the share of weights pruned to zero.</p>
{front_table_html(data)}
<h2 id="picks">What common budgets pick</h2>
<p class="help">{words["most"]} whose size fits a share of the dense float32 model
(every parameter stored in 32 bits), and the knee of the front; budgets that pick the same
strategy share one row.</p>
{picks_html(data)}
<h2 id="progress">Progress of the search</h2>
<h3>Hypervolume against trials</h3>
<p class="help">{words["volume"]}; a flat curve means more trials stopped paying off.</p>
{_figure_block("plot-hypervolume", hypervolume_figure(data), "plot short")}
<h3>Optimization history</h3>
{_figure_block("plot-history", history_figure(data, webgl_above), "plot short")}
<h2 id="importance">Which settings matter</h2>
<p class="help">fANOVA importance of each searched parameter for each objective (Optuna's
evaluator, on a sample of at most 1,000 complete trials).</p>
{_figure_block("plot-importance", importance_figure(data), "plot short")}
<h2 id="curves">Learning curves of the front</h2>
{_figure_block("plot-curves", curves_figure(data))}
<p class="muted">Generated by paretune from the Optuna study {esc(s.study_name)}.</p>
</main>"""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{_CSS}</style>"
        f"<script>{plotly.offline.get_plotlyjs()}</script></head><body>{body}"
        f'<script type="application/json" id="paretune-hover">{json_for_script(hover)}</script>'
        f"<script>{_BOOT}</script></body></html>\n"
    )


def write_report(
    data: ReportData,
    path: str | Path,
    *,
    webgl_above: int = 1000,
    study_args: Sequence[str] | None = None,
) -> Path:
    """Write :func:`render_report_html` to ``path`` (parent folders created).

    Args:
        data: The report data.
        path: Where to write the HTML file.
        webgl_above: See :func:`render_report_html`.
        study_args: See :func:`render_report_html`.

    Returns:
        The path written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render_report_html(data, webgl_above=webgl_above, study_args=study_args)
    target.write_text(text, encoding="utf-8")
    return target
