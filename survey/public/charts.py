"""Server-rendered SVG charts (matplotlib, SVG backend), drawn from the results table, never recomputed.

Every value drawn — indices, intervals, funnel limits, verdicts — is a value of the results the page
shows; this module only places them. The SVG is small (text stays text: ``svg.fonttype = none``,
no embedded fonts, no metadata), carries an accessible ``<title>`` and ``<desc>``, scales to the
width of a 360 px phone, and is cached per results revision (see :func:`cached_svg`).
Every chart on a page is followed by a table of the same data.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from html import escape

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

matplotlib.rcParams.update({
    "svg.fonttype": "none",
    "svg.hashsalt": "survey-charts",  # stable element ids: the same data draws the same bytes
    "font.family": "sans-serif",
    "font.size": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
})

INK = "#1b1b1b"
MUTED = "#595959"
ACCENT = "#0b5cad"
ABOVE = "#1b7f3b"
BELOW = "#b00020"
WIDTH_IN = 4.2
#: Marker per verdict: shape as well as colour, so the chart reads in black and white.
VERDICT_STYLE = {
    "above": ("^", ABOVE),
    "below": ("v", BELOW),
    "within": ("o", ACCENT),
}

_render_lock = threading.Lock()
_cache: OrderedDict[tuple, str] = OrderedDict()
_CACHE_SIZE = 256


def cached_svg(key: tuple, draw: Callable[[], str]) -> str:
    """The SVG for ``key`` (which must name the results revision), drawn once."""
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    with _render_lock:  # matplotlib is not thread-safe; drawing is rare (once per revision and view)
        if key not in _cache:
            _cache[key] = draw()
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return _cache[key]


def _svg(fig: Figure, title: str, desc: str) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
                bbox_inches="tight", pad_inches=0.06)
    text = buffer.getvalue()
    text = re.sub(r"<\?xml[^>]*\?>\s*|<!DOCTYPE[^>]*>\s*", "", text)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r"\n\s*", "\n", text)  # indentation is a fifth of matplotlib's output
    text = re.sub(r" ?\n(?=[LMCQZz][ \n\"])", " ", text)  # path data on one line
    text = re.sub(r"(\d\.\d)\d+", r"\1", text)  # coordinates to 0.1 pt: a third of the bytes
    head = re.search(r"<svg[^>]*>", text).group(0)
    opening = (head.replace(re.search(r'width="[^"]*"', head).group(0), "", 1)
               .replace(re.search(r'height="[^"]*"', head).group(0), "", 1)
               .replace("<svg", '<svg role="img" aria-labelledby="chart-title chart-desc"', 1))
    accessible = f'<title id="chart-title">{escape(title)}</title><desc id="chart-desc">{escape(desc)}</desc>'
    return text.replace(head, opening + accessible, 1)


def _percent_axis(axis) -> None:
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{100 * v:.0f}%"))


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def forest_svg(rows: list[dict], *, title: str, desc: str, target: float | None, labels: dict[str, str]) -> str:
    """Index with its interval per unit, sorted by estimate (publishable rows only)."""
    shown = sorted((r for r in rows if r.get("publishable") and r.get("index") is not None),
                   key=lambda r: (r["index"], r["code"]))
    height = 1.5 + 0.26 * max(len(shown), 1)
    fig = Figure(figsize=(WIDTH_IN, height), layout="constrained")
    ax = fig.add_subplot()
    # One artist per verdict (not per unit): the SVG stays small however many units there are.
    for verdict, (marker, colour) in VERDICT_STYLE.items():
        ys = [y for y, r in enumerate(shown) if (r.get("comparison") or "within") == verdict]
        if not ys:
            continue
        lows, highs = [shown[y]["ci_low"] for y in ys], [shown[y]["ci_high"] for y in ys]
        ax.hlines(ys, lows, highs, color=colour, linewidth=1.6)
        ax.plot(lows + highs, ys + ys, marker="|", markersize=6, color=colour, linestyle="none")
        ax.plot([shown[y]["index"] for y in ys], ys, marker=marker, color=colour, markersize=5.5, linestyle="none")
    if target is not None:
        ax.axvline(target, color=MUTED, linestyle="--", linewidth=1)
    ax.set_yticks(range(len(shown)), [_short(r["label"]) for r in shown])
    if not shown:
        ax.text(0.5, 0.5, labels["empty"], transform=ax.transAxes, ha="center", va="center", color=MUTED)
    ax.set_ylim(-0.7, max(len(shown), 1) - 0.3)
    low = min((r["ci_low"] for r in shown), default=0.5)
    ax.set_xlim(max(0.0, low - 0.03), 1.0)
    _percent_axis(ax.xaxis)
    ax.set_xlabel(labels["x"])
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    _legend(ax, labels, target is not None)
    return _svg(fig, title, desc)


def _legend(ax, labels: dict[str, str], with_target: bool) -> None:
    handles = [
        Line2D([], [], marker=VERDICT_STYLE["above"][0], color=ABOVE, linestyle="none", label=labels["above"]),
        Line2D([], [], marker=VERDICT_STYLE["within"][0], color=ACCENT, linestyle="none", label=labels["within"]),
        Line2D([], [], marker=VERDICT_STYLE["below"][0], color=BELOW, linestyle="none", label=labels["below"]),
    ]
    if with_target:
        handles.append(Line2D([], [], color=MUTED, linestyle="--", label=labels["target"]))
    _legend_below(ax, handles)


def _legend_below(ax, handles=None) -> None:
    """The legend under the plot (outside the axes), where it never hides a unit."""
    handles = handles if handles is not None else ax.get_legend_handles_labels()[0]
    ax.figure.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=9, frameon=False,
                     handletextpad=0.4, columnspacing=1.2)


def funnel_svg(rows: list[dict], funnel: dict | None, *, title: str, desc: str, labels: dict[str, str]) -> str:
    """Index against number of ratings, with the target and the limits the analysis computed."""
    x = (funnel or {}).get("x", "n")
    shown = [{**r, "x": r.get(x) if r.get(x) is not None else r["n"]}
             for r in rows if r.get("publishable") and r.get("index") is not None]
    fig = Figure(figsize=(WIDTH_IN, 3.8), layout="constrained")
    ax = fig.add_subplot()
    if funnel is not None:
        columns = {k: [math.nan if v is None else v for v in values] for k, values in funnel["columns"].items()}
        n = columns["n"]
        ax.axhline(funnel["target"], color=MUTED, linewidth=1.2, label=labels["target"])
        for level, style in (("95", "--"), ("99.8", ":")):
            low, high = columns.get(f"lower_{level}"), columns.get(f"upper_{level}")
            if low is None or high is None:
                continue
            label = labels[f"limit_{level}"]
            ax.plot(n, low, color=INK, linestyle=style, linewidth=1, label=label)
            ax.plot(n, high, color=INK, linestyle=style, linewidth=1)
    for verdict, (marker, colour) in VERDICT_STYLE.items():
        points = [r for r in shown if (r.get("comparison") or "within") == verdict]
        if points:
            ax.plot([r["x"] for r in points], [r["index"] for r in points], marker=marker, color=colour,
                    linestyle="none", markersize=5, label=labels[verdict])
    named = [r for r in shown if r.get("comparison") in ("above", "below")][:12]
    for row in named:
        ax.annotate(_short(row["label"], 18), (row["x"], row["index"]), textcoords="offset points",
                    xytext=(4, 3), fontsize=8.5, color=INK)
    if shown and max(r["x"] for r in shown) > 10 * max(1, min(r["x"] for r in shown)):
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}".replace(",", " ")))
    lows = [r["index"] for r in shown]
    if funnel is not None:  # keep the limits in view where the units are
        lows += [v for v in columns.get("lower_99.8", []) if not math.isnan(v)][-len(n) // 2:]
    ax.set_ylim(max(0.0, min(lows, default=0.5) - 0.03), 1.005)
    _percent_axis(ax.yaxis)
    ax.set_xlabel(labels["x_eff"] if x == "n_eff" else labels["x"])
    ax.set_ylabel(labels["y"])
    ax.grid(color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    if shown:
        _legend_below(ax)
    else:
        ax.text(0.5, 0.5, labels["empty"], transform=ax.transAxes, ha="center", va="center", color=MUTED)
    return _svg(fig, title, desc)


def trend_svg(points: list[dict], *, title: str, desc: str, labels: dict[str, str]) -> str:
    """A unit's index with its interval per period; provisional periods drawn hollow."""
    fig = Figure(figsize=(WIDTH_IN, 3.0), layout="constrained")
    ax = fig.add_subplot()
    xs = list(range(len(points)))
    for x, point in zip(xs, points):
        if point.get("index") is None:
            continue
        colour = ACCENT
        ax.plot([x, x], [point["ci_low"], point["ci_high"]], color=colour, linewidth=1.6)
        ax.plot([x - 0.12, x + 0.12], [point["ci_low"]] * 2, color=colour, linewidth=1)
        ax.plot([x - 0.12, x + 0.12], [point["ci_high"]] * 2, color=colour, linewidth=1)
        ax.plot([x], [point["index"]], marker="o", markersize=5.5, color=colour,
                markerfacecolor="white" if point.get("provisional") else colour, linestyle="none")
    ax.set_xticks(xs, [p["label"] for p in points], rotation=0 if len(points) <= 6 else 45,
                  ha="center" if len(points) <= 6 else "right")
    lows = [p["ci_low"] for p in points if p.get("ci_low") is not None]
    ax.set_ylim(max(0.0, min(lows, default=0.5) - 0.05), 1.0)
    if not lows:
        ax.text(0.5, 0.5, labels["empty_trend"], transform=ax.transAxes, ha="center", va="center", color=MUTED)
    ax.set_xlim(-0.5, max(len(points), 1) - 0.5)
    _percent_axis(ax.yaxis)
    ax.set_ylabel(labels["y"])
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    handles = [Line2D([], [], marker="o", color=ACCENT, linestyle="none", label=labels["published"]),
               Line2D([], [], marker="o", color=ACCENT, markerfacecolor="white", linestyle="none",
                      label=labels["provisional"])]
    _legend_below(ax, handles)
    return _svg(fig, title, desc)
