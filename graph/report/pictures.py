"""Pictures of a sweep: issue heatmap, isolation plots and loss curves (matplotlib, Agg, PNG).

Each ``*_figure`` function returns a :class:`matplotlib.figure.Figure` (or None when
there is nothing to draw) built with the object API, so tests can inspect its axes and
titles; :func:`draw_pictures` returns them as PNG bytes with the links for
:func:`graph.report.markdown.render_report`. The facts drawn (rates, ``k/n``, significance,
thresholds, the next sweep's ranges, NaN onsets, best epochs) are read by field from the typed
diagnosis (:class:`core.records.Diagnosis`; a summary dict is read as one);
the per-trial values come from the typed tables (:class:`core.table.TrialTable`,
:class:`core.curves.CurveTable`).

Every figure has a title, labelled axes (with the scale) and a legend, and is sized
for the width GitHub shows an image at (about 900 pixels).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import matplotlib

matplotlib.use("Agg")  # never a display, whatever MPLBACKEND says

import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import to_rgba_array  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, PercentFormatter  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

from core.curves import CurveTable, curve_facts, held_out_loss, train_loss  # noqa: E402
from core.domains import log_scaled  # noqa: E402
from core.issue_types import ISSUE_TYPES, SICK_SEVERITIES, label_of  # noqa: E402
from core.records import Association, Diagnosis, NextSweep  # noqa: E402
from core.table import TrialTable  # noqa: E402
from core.values import format_number  # noqa: E402
from graph.report import worker  # noqa: E402
from graph.report.compose import FOLDER  # noqa: E402
from graph.report.plot_data import (  # noqa: E402
    CATEGORY_COLOURS,
    SEVERITY_ORDER,
    PicturePlan,
    by_importance,
    isolation_data,
    picture_plan,
    worst_issue,
)

HEATMAP = "heatmap.png"
ISOLATION = "isolation_{}.png"
CURVES = "curves.png"

DPI = 110
WIDTH = 8.2
"""Inches: 900 pixels at :data:`DPI`, the width GitHub shows an image at."""
_HEALTHY = ("#9A9A9A", "o")
_RC = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 8.5,
       "xtick.labelsize": 9, "ytick.labelsize": 9, "figure.titlesize": 12}

_DRAW_RC = {"text.hinting": "none"}
"""Settings read when a figure is drawn: FreeType's autohinter (Agg's default) cost about an eighth of the pictures'
CPU at 100,000 trials; unhinted, anti-aliased text looks nearly the same at :data:`DPI`."""


def _style(kind: str) -> tuple[str, str]:
    """(colour, marker) of an issue type's trials; a type outside the table is drawn as healthy ones are."""
    entry = ISSUE_TYPES.get(kind)
    return (entry.colour, entry.marker) if entry else _HEALTHY


def _log_scale(ax: Any, axis: str) -> None:
    """A log scale on ``axis`` ("x" or "y") labelled 10⁻⁵ ... 10² in plain text, minor ticks at 2 and 5.

    Matplotlib's own labels go through mathtext, and its minor ticks at 2 to 9 of every
    decade are most of an axis' drawing time: the same picture, several times cheaper.
    """
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    _log_ticks(ax.xaxis if axis == "x" else ax.yaxis)


def _log_ticks(axis: Any) -> None:
    """The ticks of :func:`_log_scale` on a matplotlib ``Axis`` already on a log scale (a colour bar's too)."""
    axis.set_major_formatter(FuncFormatter(_power_of_ten))
    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    axis.set_minor_formatter(NullFormatter())


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power_of_ten(value: float, _pos: int | None = None) -> str:
    """``10⁻³`` for a tick at a power of ten, nothing elsewhere (the log axes' major ticks are powers of ten)."""
    exponent = math.log10(value) if value > 0 else math.nan
    if not math.isfinite(exponent) or abs(exponent - round(exponent)) > 1e-9:
        return ""
    return "10" + str(round(exponent)).translate(_SUPERSCRIPT)


def _rgba(colours: list[str]) -> np.ndarray:
    """Colour names as an RGBA array, each distinct name converted once (a marker per trial is thousands of names)."""
    distinct = list(dict.fromkeys(colours))
    codes = {c: i for i, c in enumerate(distinct)}
    table = to_rgba_array(distinct) if distinct else np.zeros((0, 4))
    return table[[codes[c] for c in colours]] if colours else np.zeros((0, 4))


def text(value: object, limit: int = 48) -> str:
    """Input text made safe for a matplotlib label: ``$`` does not start mathtext, long text is cut."""
    s = " ".join(str(value).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("\\", "\\\\").replace("$", r"\$")


# --------------------------------------------------------------------------------------
# Heatmap: hyperparameter regions x issue types
# --------------------------------------------------------------------------------------


def heatmap_figure(summary: Diagnosis | dict[str, Any], *, max_rows: int = 40) -> Figure | None:
    """Issue rate per hyperparameter region (bucket or value) and issue type.

    Each cell is the share of the region's trials with that issue, written as ``k/n``;
    cells whose association is significant (Benjamini-Hochberg ``q`` below the
    analysis' alpha, with at least ``min_support`` affected trials and a higher rate
    than the rest of the sweep) are outlined and starred. Hyperparameters with patterns
    come first; at most ``max_rows`` regions are shown (whole hyperparameters).
    Returns None when there are no associations to show.
    """
    diagnosis = Diagnosis.of(summary)
    alpha, support = float(diagnosis.analysis.alpha), int(diagnosis.analysis.min_support)
    types = [t for t in diagnosis.issue_counts if t != "pruned"]
    cells: dict[str, dict[str, dict[str, Association]]] = {}
    for a in diagnosis.associations:
        if a.rule in ("bucket", "value") and a.issue_type in types and a.outside is None:  # not a residual test
            cells.setdefault(a.hyperparameter, {}).setdefault(a.condition, {})[a.issue_type] = a
    if not cells or not types:
        return None
    rows: list[tuple[str, str, dict[str, Association]]] = []
    for hp in by_importance(diagnosis, list(cells)):
        regions = cells[hp]
        if rows and len(rows) + len(regions) > max_rows:
            continue
        rows += [(hp, cond, by_type) for cond, by_type in regions.items()]
    types = [t for t in types if any(t in by_type for _, _, by_type in rows)]  # no empty column (unfinished runs)
    rate = np.full((len(rows), len(types)), np.nan)
    size = np.zeros((len(rows), len(types)))
    cells_drawn: list[tuple[int, int, Association, bool]] = []  # row, column, the region's test, significant
    for i, (_, _, by_type) in enumerate(rows):
        for j, t in enumerate(types):
            a = by_type.get(t)
            if a is not None:
                rate[i, j], size[i, j] = a.rate, a.n
                cells_drawn.append((i, j, a, a.q < alpha and a.k >= support and a.rate > a.rate_rest))
    labels = {(i, j): f"{a.k}/{a.n}" + ("*" if significant else "") for i, j, a, significant in cells_drawn}
    points = _cell_points(max(len(cond) for _, cond, _ in rows), len(types), max(map(len, labels.values())))

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(WIDTH, 2.2 + 0.34 * len(rows)), layout="constrained")
        ax = fig.add_subplot()
        cmap = matplotlib.colormaps["OrRd"]
        colours = cmap(np.nan_to_num(rate))
        weight = _weight(size)[..., None]  # a region of few trials is pale: 1/1 is not as red as 40/40
        colours[..., :3] = weight * colours[..., :3] + (1 - weight)
        colours[np.isnan(rate)] = (1, 1, 1, 0)
        ax.imshow(colours, aspect="auto", interpolation="none")
        image = matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(0, 1), cmap=cmap)
        for i, j, a, significant in cells_drawn:
            colour = "white" if a.rate * _weight(a.n) > 0.6 else "black"
            ax.text(j, i, labels[i, j], ha="center", va="center", fontsize=points, color=colour,
                    fontweight="bold" if significant else "normal",
                    in_layout=False)  # inside its cell: the layout need not measure it
            if significant:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=2))
        n_significant = sum(significant for *_, significant in cells_drawn)
        previous = None
        for i, (hp, _, _) in enumerate(rows):
            if previous is not None and hp != previous:
                ax.axhline(i - 0.5, color="#333333", linewidth=1)
            previous = hp
        ax.set_xticks(range(len(types)), [text(label_of(t), 40) for t in types], rotation=30, ha="right")
        ax.set_yticks(range(len(rows)), [text(cond, 44) for _, cond, _ in rows])
        ax.set_xlabel("issue type")
        ax.set_ylabel("hyperparameter region (bucket or value)")
        ax.set_title(f"Issue rate by hyperparameter region ({diagnosis.sweep.n_trials} trials)\n"
                     f"cell: trials with the issue / trials in the region,\npaler when the region has under "
                     f"{_FULL_COLOUR} trials;\noutlined*: significant (q < {alpha:g}, {n_significant} cell(s))",
                     fontsize=10.5)
        bar = fig.colorbar(image, ax=ax, location="bottom", shrink=0.5, aspect=30, pad=0.01, anchor=(1.0, 1.0),
                           format=PercentFormatter(1.0))
        bar.set_label("issue rate (% of the region's trials)", fontsize=8.5)
    return fig


def _cell_points(row_label: int, columns: int, cell_label: int) -> float:
    """Points of the heatmap's ``k/n`` labels: 8.5, smaller (down to 6) when the longest would overflow its cell.

    The cells share the width the row labels (``row_label`` characters at 9 points) leave;
    a digit is about 0.64 of the font size wide.
    """
    cell = (WIDTH - 0.45 - 0.6 * 9 / 72 * min(row_label, 44)) / columns  # inches per column
    return float(np.clip(0.92 * cell * 72 / (0.64 * cell_label), 6.0, 8.5))


_FULL_COLOUR = 20
"""A heatmap cell of a region with this many trials or more gets its rate's full colour."""


def _weight(n: np.ndarray | float) -> np.ndarray:
    """How much of its rate's colour a cell of ``n`` trials gets: sqrt(n / 20), at most 1 (1 trial: 0.22)."""
    return np.sqrt(np.minimum(np.asarray(n, dtype=float), _FULL_COLOUR) / _FULL_COLOUR)




# --------------------------------------------------------------------------------------
# Isolation plots: the metric against one hyperparameter
# --------------------------------------------------------------------------------------


_BAND = (0.885, 0.935, 0.97)  # axes-fraction: where the top band starts, its "above the axis" row, its NaN row


def isolation_figures(
    table: TrialTable, summary: Diagnosis | dict[str, Any], *, max_plots: int = 4, max_buckets: int = 12
) -> list[tuple[str, Figure]]:
    """One isolation plot per important numeric hyperparameter (tuning-playbook style).

    The main metric of every trial (the one the best trial is judged by) against the
    hyperparameter's value, on a log axis when a positive range spans two decades or
    more; sick trials are marked by their worst issue type, NaN/inf metrics (and values
    above a clipped axis) in a band at the top; the best trial of each bucket of the
    hyperparameter is joined by a line. When a pattern names a categorical
    hyperparameter (``optimizer = adam and learning_rate >= 0.6``) the points and the
    best-per-bucket lines are coloured by its value. The next sweep's range is shaded
    and the thresholds of the patterns on this hyperparameter are drawn as dashed lines.
    Hyperparameters with patterns come first; at most ``max_plots`` of those with 3 or
    more distinct values. Each plot is drawn from :func:`isolation_data` (bounded).

    Returns
    -------
    list of (hyperparameter, Figure)
    """
    plan = picture_plan(summary, table=table, max_plots=max_plots, max_buckets=max_buckets)
    return [(hp, build()) for hp, build in _isolation_builders(plan)]


def _isolation_builders(plan: PicturePlan) -> list[tuple[str, Callable[[], Figure]]]:
    """The plan's isolation plots, each with the function that builds its figure (its data included)."""
    def builder(hp: str) -> Callable[[], Figure]:
        return lambda: _draw_isolation(isolation_data(plan.table, plan.diagnosis, hp, max_buckets=plan.max_buckets,
                                                      kinds=plan.kinds), plan.diagnosis)

    return [(hp, builder(hp)) for hp in plan.hyperparameters]


def _draw_isolation(d: dict[str, Any], diagnosis: Diagnosis) -> Figure:
    hp, metric, log_x, log_y, top = d["hp"], d["metric"], d["log_x"], d["log_y"], d["top"]
    colour_of = dict(zip(d["categories"], CATEGORY_COLOURS))
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(9.0, 5.0), layout="constrained")
        ax = fig.add_subplot()
        if log_x:
            _log_scale(ax, "x")
        if log_y:
            _log_scale(ax, "y")
        if "points" in d:
            px, py, pk, pc = d["points"]
            for k in d["counts"]:
                sel = pk == k  # noqa: E711 - None too, elementwise
                colour, marker = _style(k) if k else _HEALTHY
                colours = _rgba([colour_of.get(c, "#999999") for c in pc[sel]]) if colour_of else colour
                ax.scatter(px[sel], py[sel], s=34 if k else 22, c=colours, marker=marker, alpha=0.85 if k else 0.6,
                           linewidths=0.3 if k else 0, edgecolors="white")
        else:
            gx, gy, counts = d["density"]
            mesh = ax.pcolormesh(gx, gy, np.ma.masked_equal(counts, 0), cmap="Greys", shading="flat",
                                 norm=matplotlib.colors.LogNorm(vmin=1, vmax=max(2.0, float(counts.max()))))
            bar = fig.colorbar(mesh, ax=ax, location="bottom", shrink=0.4, aspect=30, pad=0.02, anchor=(0.0, 1.0))
            bar.set_label("trials per cell", fontsize=8.5)
            _log_ticks(bar.ax.xaxis)
            for k, (cx, cy) in d["cells"].items():
                colour, marker = _style(k)
                ax.scatter(cx, cy, s=20, c=colour, marker=marker, alpha=0.9, linewidths=0.3, edgecolors="white")
        for k, n in d["counts"].items():  # the legend: each trial once, by its worst issue
            colour, marker = _style(k) if k else _HEALTHY
            _key(ax, "#666666" if colour_of else colour, marker, f"{label_of(k) if k else 'no issue'} ({n})")
        lo, hi = d["x_range"]
        plan = _numeric_plan(diagnosis.next_sweep, hp)
        if plan is not None and (plan.low > 0 or not log_x):
            lo, hi = min(lo, plan.low), max(hi, plan.high)  # a widened range shows where it ends
        if log_x:
            pad = (hi / lo) ** 0.04
            ax.set_xlim(lo / pad, hi * pad)
        else:
            pad = 0.04 * (hi - lo) or 0.5
            ax.set_xlim(lo - pad, hi + pad)
        for c, (bx, by) in d["best"].items():
            if bx.size >= 2:
                ax.plot(bx, np.minimum(by, top) if top is not None else by, color=colour_of.get(c, "black"),
                        linewidth=1.4, marker="o", markersize=6, markerfacecolor="none", zorder=4,
                        label=f"best trial per bucket{', ' + text(d['category'], 20) + ' = ' + text(c, 16) if c else ''}")
        _top_band(ax, d, top)
        _draw_plan(ax, plan, _pattern_cuts(diagnosis, hp))
        ax.set_xlabel(f"{text(hp, 40)} ({'log' if log_x else 'linear'} scale"
                      f"{'; points jittered sideways' if d['jitter'] and 'points' in d else ''})")
        ax.set_ylabel(f"{text(metric, 30)} ({'lower' if d['goal'] == 'min' else 'higher'} is better"
                      f"{', log scale' if log_y else ''})")
        how = ("sick ones marked by their worst issue type" if "points" in d else
               "binned: grey shows the trials per cell,\na mark that most of a cell's trials have that issue")
        by = f"; colour: {text(d['category'], 24)}" if colour_of else ""
        ax.set_title(f"Isolation plot: {text(metric, 30)} vs {text(hp, 40)}\n{d['n']} trials; {how}{by}")
        ax.grid(True, which="major", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        handles += [Line2D([], [], color=colour_of[c], marker="o", linestyle="none") for c in d["categories"]]
        labels += [f"{text(d['category'], 20)} = {text(c, 16)}" for c in d["categories"]]
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, frameon=False)
    return fig


def _top_band(ax: Any, d: dict[str, Any], top: float | None) -> None:
    """A band along the top of the axes for NaN/inf values and values above a clipped axis, kept clear of the data."""
    low, high = ax.get_ylim()
    if top is not None:
        high = top
    if not (d["n_above"] or d["n_nonfinite"]):
        ax.set_ylim(low, high)
        return
    share = _BAND[0] - 0.03  # the data end a little below the band
    if ax.get_yscale() == "log":
        ax.set_ylim(low, low * (high / low) ** (1 / share))
    else:
        ax.set_ylim(low, low + (high - low) / share)
    ax.add_patch(Rectangle((0, _BAND[0]), 1, 1 - _BAND[0], transform=ax.transAxes, facecolor="#F2F2F2",
                           edgecolor="none", zorder=0))
    edge = blended_transform_factory(ax.transData, ax.transAxes)
    metric = text(d["metric"], 20)
    colour_of = dict(zip(d["categories"], CATEGORY_COLOURS))
    for (x, kinds, cats), n, level, marker, what in (
            (d["above"], d["n_above"], _BAND[1], "^", f"{metric} above the axis"),
            (d["nonfinite"], d["n_nonfinite"], _BAND[2], "X", f"NaN/inf {metric}")):
        if not n:
            continue
        colours = _rgba([colour_of.get(c, "#999999") for c in cats] if colour_of
                        else [_style(k)[0] if k else _HEALTHY[0] for k in kinds])
        ax.scatter(x, np.full(len(x), level), transform=edge, s=30, c=colours, marker=marker, linewidths=0, zorder=5)
        _key(ax, "#666666", marker, f"{what}, in the top band ({n})")






def _key(ax: Any, colour: str, marker: str, label: str) -> None:
    """A legend entry for markers: an empty line of markers (an empty ``scatter`` costs several times more to draw)."""
    ax.plot([], [], linestyle="none", color=colour, marker=marker, markersize=5.5, markeredgewidth=0, label=label)


def _numeric_plan(plan: NextSweep | None, hp: str) -> Any:
    """The next sweep's range of numeric ``hp`` when it changed (:class:`core.records.NextNumeric`), else None."""
    hp_plan = plan.hyperparameters.get(hp) if plan is not None else None
    if hp_plan is None or hp_plan.kind == "categorical" or not hp_plan.changed or hp_plan.low is None:
        return None
    return hp_plan


def _pattern_cuts(diagnosis: Diagnosis, hp: str) -> list[tuple[float, str, str, str]]:
    """``(cut, pattern id, "≥"/"≤", colour)`` of each pattern that is a threshold on ``hp``, in pattern order."""
    by_id = {a.id: a for a in diagnosis.associations}
    cuts = []
    for p in diagnosis.patterns:
        a = by_id.get(p.association_id)
        if a is None or a.hyperparameter != hp or a.rule != "threshold":
            continue
        cut = a.lo if a.direction == "above" else a.hi
        cuts.append((cut, p.id, "≥" if a.direction == "above" else "≤", _style(a.issue_type)[0]))
    return cuts


def _draw_plan(ax: Any, plan: Any, cuts: list[tuple[float, str, str, str]]) -> None:
    """The next sweep's changed range (shaded, :func:`_numeric_plan`) and the pattern thresholds ``cuts`` (dashed)."""
    if plan is not None:
        ax.axvspan(plan.low, plan.high, color="#009E73", alpha=0.10, zorder=0,
                   label=f"next sweep: {format_number(plan.low)} to {format_number(plan.high)}")
    for cut, _, _, colour in cuts:
        ax.axvline(cut, color=colour, linestyle="--", linewidth=1.3, zorder=3)
    for group in _near(ax, cuts):  # one label for thresholds that would print over each other
        ids: dict[str, list[str]] = {}  # "≥ 0.3" -> the patterns at that threshold
        for c, pid, sign, _ in group:
            ids.setdefault(f"{sign} {format_number(c)}", []).append(pid)
        label = "; ".join(f"{', '.join(pids)}: {where}" for where, pids in ids.items())
        cut, colour = group[0][0], group[0][3]
        ax.annotate(label, (cut, 0.02), xycoords=blended_transform_factory(ax.transData, ax.transAxes), xytext=(-4, 0),
                    textcoords="offset points", color=colour, fontsize=8.5, rotation=90, va="bottom", ha="right",
                    bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1})


_LABEL_GAP = 0.025
"""Threshold labels closer than this share of the axes' width are written as one."""


def _near(ax: Any, cuts: list[tuple[float, str, str, str]]) -> list[list[tuple[float, str, str, str]]]:
    """``cuts`` in groups whose lines lie within :data:`_LABEL_GAP` of the axes' width of each other (by position)."""
    to_axes = ax.transScale + ax.transLimits  # data -> axes fraction, without the figure's size
    where = sorted(((float(to_axes.transform((c[0], 0))[0]), i) for i, c in enumerate(cuts)))
    groups: list[list[int]] = []
    last = -math.inf
    for x, i in where:
        if groups and x - last < _LABEL_GAP:
            groups[-1].append(i)
        else:
            groups.append([i])
        last = x
    return [[cuts[i] for i in sorted(g)] for g in groups]










# --------------------------------------------------------------------------------------
# Curves: sick trials next to the best healthy trial
# --------------------------------------------------------------------------------------


def curves_figure(
    curves: CurveTable, summary: Diagnosis | dict[str, Any], *, trial_ids: Iterable[str] | None = None,
    max_panels: int = 9,
) -> Figure | None:
    """Small multiples of the sick trials' loss curves next to the best healthy trial.

    The first panel is the healthy trial (no issue) with the lowest held-out loss among
    the trials with curves; each other panel is one sick trial (most severe first), its
    held-out loss (solid) and training loss (dashed), the healthy trial's held-out loss
    in grey for reference, the first NaN/inf step as a dotted red line and the best
    epoch of the held-out loss as a star. ``trial_ids`` are the trials of the results
    table: curves of other trials were not analysed, so none of them is taken as the
    healthy reference. Returns None without curves of sick trials or without a loss.
    """
    main = held_out_loss(curves) or train_loss(curves)
    if main is None or curves.n_trials == 0:
        return None
    train = train_loss(curves)
    train = train if train != main else None
    diagnosis = Diagnosis.of(summary)
    worst = worst_issue(diagnosis)
    types: dict[str, list[str]] = {}
    issues = diagnosis.issues
    for trial, kind, severity in zip(issues.trial_id, issues.type, issues.severity):
        if severity in SICK_SEVERITIES:
            types.setdefault(trial, []).append(kind)
    index = {str(t): i for i, t in enumerate(curves.trial_ids)}
    sick = sorted((t for t in worst if t in index), key=lambda t: (SEVERITY_ORDER[worst[t]], index[t]))
    if not sick:
        return None
    facts = curve_facts(curves).set_index("trial_id")
    known = None if trial_ids is None else {str(i) for i in trial_ids}
    healthy = [t for t in index if t not in worst and (known is None or t in known)]
    best = None
    if healthy:
        values = facts.loc[healthy, "best_value"].astype(float)
        values = values[np.isfinite(values)]
        best = str(values.idxmin()) if len(values) else None
    shown = ([best] if best else []) + sick[: max_panels - (1 if best else 0)]
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    reference = _series(curves, index[best], main) if best else None
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(10.0 if ncols == 3 else 3.4 * ncols + 0.6, 2.8 * nrows + 1.0), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax in axes.flat[len(shown):]:
            ax.set_visible(False)
        for ax, trial in zip(axes.flat, shown):
            code = index[trial]
            step, value = _series(curves, code, main)
            is_best = trial == best
            if reference is not None and not is_best:
                ax.plot(*reference, color="#9A9A9A", linewidth=1.1)
            colour = "#333333" if is_best else _style(worst[trial])[0]
            ax.plot(step, value, color=colour, linewidth=1.6)
            if train:
                ax.plot(*_series(curves, code, train), color=colour, linewidth=1.0, linestyle="--", alpha=0.8)
            row = facts.loc[trial]
            onset = float(row["first_nonfinite_step"])
            if np.isfinite(onset):
                ax.axvline(onset, color="#D55E00", linestyle=":", linewidth=1.8)
                ax.text(onset, 0.97, f" NaN/inf from {format_number(onset)} ", transform=_top(ax), color="#D55E00",
                        fontsize=8, va="top", ha="right" if onset > 0.6 * step.max(initial=0) else "left")
            if np.isfinite(float(row["best_step"])) and row["held_out"] == main:
                ax.plot([row["best_step"]], [row["best_value"]], marker="*", markersize=12, color="black",
                        linestyle="none", zorder=5)
                ax.annotate(f"best {format_number(float(row['best_step']))}", (row["best_step"], row["best_value"]),
                            xytext=(4, -12), textcoords="offset points", fontsize=8)
            finite = value[np.isfinite(value)]
            if finite.size and log_scaled(float(finite.min()), float(finite.max())):
                _log_scale(ax, "y")
            labels = ", ".join(ISSUE_TYPES[t].short_label for t in sorted(set(types.get(trial, [])), key=SEVERITY_ORDER.get))
            ax.set_title(f"{text(trial, 18)}: " + ("best healthy trial" if is_best else text(labels, 36)), fontsize=9.5)
            ax.set_xlabel(text(curves.step_column, 20))
            ax.set_ylabel(text(main, 20) + (" (log scale)" if ax.get_yscale() == "log" else ""))
            ax.grid(True, alpha=0.3)
        handles = [Line2D([], [], color="#333333", linewidth=1.6, label=f"{text(main, 20)} (held-out)"),
                   *([Line2D([], [], color="#333333", linewidth=1.0, linestyle="--", label=f"{text(train, 20)} (train)")]
                     if train else []),
                   *([Line2D([], [], color="#9A9A9A", linewidth=1.1, label=f"best healthy trial {text(best, 18)}")]
                     if best else []),
                   Line2D([], [], color="#D55E00", linestyle=":", linewidth=1.8, label="first NaN/inf step"),
                   Line2D([], [], color="black", marker="*", markersize=11, linestyle="none",
                          label=f"best epoch of {text(main, 20)}")]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False, fontsize=8.5)
        fig.suptitle(f"Loss curves: {len(shown) - (1 if best else 0)} of {len(sick)} sick trial(s) with curves"
                     + (f", next to the best healthy trial {text(best, 18)}" if best else "")
                     + "\npanel colour: the trial's most severe issue type")
    return fig


def _top(ax: Any) -> Any:
    """A transform with data coordinates along x and axes coordinates along y (0 bottom, 1 top)."""
    return blended_transform_factory(ax.transData, ax.transAxes)


def _series(curves: CurveTable, code: int, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of one trial's metric where it was logged (NaN/inf become gaps)."""
    lo, hi = curves.offsets[code], curves.offsets[code + 1]
    logged = ~curves.missing[column].to_numpy()[lo:hi]
    value = curves.metrics[column].to_numpy()[lo:hi][logged]
    return curves.step[lo:hi][logged], np.where(np.isfinite(value), value, np.nan)


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def draw_pictures(
    summary: Diagnosis | dict[str, Any], *, table: TrialTable | None = None, curves: CurveTable | None = None,
    processes: int | None = None,
) -> list[tuple[dict[str, str], bytes]]:
    """Draw every picture that has data, as PNG bytes with its link.

    ``summary`` is the run's :class:`core.records.Diagnosis` (a summary dict is read as
    one, once, here).

    A link is ``{"path", "title", "section"}`` for
    :func:`graph.report.markdown.render_report` (``path`` relative to the report, in
    :data:`FOLDER`), plus ``hyperparameter`` for an isolation plot (the web app shows it
    beside that hyperparameter's patterns).

    ``processes=2`` draws about half of the pictures in a forked child process
    (:func:`graph.report.worker.draw_share`), on the second core, while this one draws
    the rest: the pictures are most of a small sweep's run, and Matplotlib draws on one
    core. The bytes are the same either way. The default (None) is 2 in the main thread
    of a process that may use two cores on Linux (the command line), else 1: a server's
    worker thread never forks.
    """
    return draw_plan(picture_plan(summary, table=table, curves=curves), processes=processes)


def draw_plan(plan: PicturePlan, *, processes: int | None = None) -> list[tuple[dict[str, str], bytes]]:
    """:func:`draw_pictures` of a :func:`~graph.report.plot_data.picture_plan` (the drawing process gets one)."""
    diagnosis = plan.diagnosis
    jobs: list[tuple[dict[str, str], Callable[[], Figure | None], int]] = []  # link, builder, rough cost
    if plan.curves is not None:
        curves = plan.curves
        jobs.append((_link(CURVES, "Loss curves of sick trials next to the best healthy trial", "breakdown"),
                     lambda: curves_figure(curves, diagnosis, trial_ids=plan.trial_ids), 2))
    jobs.append((_link(HEATMAP, "Issue rate by hyperparameter region and issue type", "pathologies"),
                 lambda: heatmap_figure(diagnosis), 2))
    for i, (hp, build) in enumerate(_isolation_builders(plan), start=1):
        jobs.append((_link(ISOLATION.format(i), f"Isolation plot of {hp}", "isolation") | {"hyperparameter": hp},
                     build, 1))
    if processes is None:
        processes = 2 if worker.may_start() else 1  # the drawing process's rule: never fork a process with threads
    builders = [build for _, build, _ in jobs]
    theirs = _their_share([cost for _, _, cost in jobs]) if processes > 1 and len(jobs) > 1 else []
    helper = worker.draw_share(lambda: {i: _drawn(builders[i]) for i in theirs}) if theirs else None
    try:
        pngs = {i: _drawn(build) for i, build in enumerate(builders) if i not in theirs}
    except BaseException:
        if helper is not None:
            helper.stop()
        raise
    drawn = (helper.draw() if helper is not None else None) or {}  # a helper that failed: its share is drawn here
    pngs |= {i: drawn[i] if i in drawn else _drawn(builders[i]) for i in theirs}
    return [(link, pngs[i]) for i, (link, _, _) in enumerate(jobs) if pngs[i] is not None]


def _link(name: str, title: str, section: str) -> dict[str, str]:
    return {"path": f"{FOLDER}/{name}", "title": title, "section": section}


def _drawn(build: Callable[[], Figure | None]) -> bytes | None:
    fig = build()
    return None if fig is None else _png(fig)


def _their_share(costs: list[int]) -> list[int]:
    """The jobs a second process draws: about half of the cost (largest first, each to the lighter side)."""
    theirs: list[int] = []
    load = [0, 0]  # this process's cost, the other's
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        side = int(load[1] < load[0])
        load[side] += costs[i]
        if side:
            theirs.append(i)
    return theirs


def warm_up() -> None:
    """Draw a small throwaway figure: the fonts (regular and bold), text layout and log ticks load once, now.

    The drawing process calls it while the sweep is still being read and diagnosed (it would
    wait otherwise); the first picture of a process paid it, after the diagnosis.
    """
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(2.0, 1.5), layout="constrained")
        ax = fig.add_subplot()
        _log_scale(ax, "x")
        ax.plot([1e-3, 1.0], [0.0, 1.0], marker="o", label="a")
        ax.text(0.01, 0.5, "1/2*", fontsize=8.5, fontweight="bold")
        ax.set_title("warm-up")
        ax.legend()
        _png(fig)


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes: drawn once by Agg (its layout included), the pixels written as they are.

    ``savefig`` drew every figure twice (a layout pass, then the picture) and encoded it
    through PIL; the pixels are the same. The text is drawn without hinting (:data:`_DRAW_RC`).
    """
    fig.set_dpi(DPI)
    fig.patch.set_facecolor("white")
    canvas = FigureCanvasAgg(fig)
    with matplotlib.rc_context(_DRAW_RC):
        canvas.draw()
    return png_bytes(np.asarray(canvas.buffer_rgba())[..., :3])  # opaque: the white figure is under everything


def png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB image (height x width x 3) as a PNG file: no row filter, zlib level 1 (fast, and small for flat plots)."""
    height, width, _ = rgb.shape
    rows = np.empty((height, 1 + 3 * width), dtype=np.uint8)
    rows[:, 0] = 0  # filter type "none" on every row
    rows[:, 1:] = rgb.reshape(height, -1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB, deflate, no filter, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))
            + chunk(b"IEND", b""))

