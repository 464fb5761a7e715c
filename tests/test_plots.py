"""Pictures (graph/report/pictures.py): built from real sweeps, checked through matplotlib objects, saved as PNG."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from matplotlib.patches import Rectangle

from core.curves import build_curve_table
from core.issue_types import ISSUE_TYPES
from core.loading import read_results
from core.next_sweep import plan_next_sweep
from core.patterns import analyze_patterns
from core.roles import infer_roles
from core.summary import analyze_sweep
from core.table import build_trial_table
from graph.report.pictures import curves_figure, draw_pictures, heatmap_figure, isolation_figures
from tests.conftest import DATA, EXAMPLES

CIFAR = EXAMPLES / "deepobs_cifar10_3c3d.csv"
SLICE = DATA / "deepobs_nonfinite_slice.csv"
CURVES = DATA / "curves" / "deepobs_curves_slice.csv"


def _inputs(path, curves=None):
    raw = read_results(path)
    roles = infer_roles(raw.frame, raw.source)
    summary = analyze_sweep(raw, roles, curves=read_results(curves) if curves else None)
    summary |= analyze_patterns(summary)
    summary["next_sweep"] = plan_next_sweep(summary)
    summary["writer"] = {"author": "deterministic", "notes": []}
    curve_table = build_curve_table(read_results(curves)) if curves else None
    return summary, build_trial_table(raw, roles), curve_table


@pytest.fixture(scope="module")
def cifar():
    return _inputs(CIFAR)


def test_heatmap_has_a_cell_per_region_and_issue_type_and_outlines_the_significant_ones(cifar):
    summary, _, _ = cifar
    fig = heatmap_figure(summary)
    ax, bar = fig.axes  # the heatmap and its colour bar
    assert ax.get_title().startswith("Issue rate by hyperparameter region (135 trials)")
    assert ax.get_xlabel() == "issue type" and "region" in ax.get_ylabel() and "%" in bar.get_xlabel()
    regions = [a for a in summary["associations"] if a["rule"] in ("bucket", "value")]
    types = [t for t in summary["issue_counts"] if t != "pruned" and any(a["issue_type"] == t for a in regions)]
    assert [t.get_text() for t in ax.get_xticklabels()] == [ISSUE_TYPES[t].label for t in types]
    rows = list(dict.fromkeys(a["condition"] for a in regions))
    assert sorted(t.get_text() for t in ax.get_yticklabels()) == sorted(rows)
    cells = [t.get_text() for t in ax.texts]
    assert len(cells) == len(rows) * len(types)
    significant = [a for a in regions if a["q"] < 0.05 and a["k"] >= 3 and a["rate"] > a["rate_rest"]]
    outlined = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_linewidth() == 2]
    assert len(outlined) == len(significant) >= 3
    assert sorted(c for c in cells if c.endswith("*")) == sorted(f"{a['k']}/{a['n']}*" for a in significant)


def test_heatmap_is_900_pixels_wide_and_has_no_column_without_a_cell(cifar):
    """An issue type no region test covers (unfinished runs are not tested) gets no empty column."""
    from graph.report.pictures import DPI, _png

    summary, _, _ = cifar
    counts = {**summary["issue_counts"], "running": 4}  # counted, but no association has it
    fig = heatmap_figure({**summary, "issue_counts": counts})
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ISSUE_TYPES["running"].label not in labels and labels
    png = _png(fig)
    width = int.from_bytes(png[16:20], "big")  # the IHDR chunk
    assert width == round(fig.get_figwidth() * DPI) and 880 <= width <= 920


def test_isolation_plot_of_the_learning_rate(cifar):
    summary, table, _ = cifar
    figures = isolation_figures(table, summary)
    assert [hp for hp, _ in figures] == ["learning_rate"]  # optimizer is categorical, batch_size constant
    ax = figures[0][1].axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_title().startswith("Isolation plot: val_loss vs learning_rate")
    assert ax.get_xlabel().startswith("learning_rate (log scale") and ax.get_ylabel().startswith("val_loss (lower is better")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    order = ["high", "medium", "low"]
    by_trial: dict[str, list[str]] = {}
    for issue in summary["issues"]:
        by_trial.setdefault(issue["trial_id"], []).append(issue["type"])
    worst = [min(types, key=lambda t: (order.index(summary["issue_types"][t]["severity"]), list(ISSUE_TYPES).index(t)))
             for types in by_trial.values()]
    for kind in summary["issue_counts"]:  # each sick trial once, by its most severe issue
        assert f"{ISSUE_TYPES[kind].label} ({worst.count(kind)})" in labels
    assert f"no issue ({135 - len(by_trial)})" in labels
    assert "NaN/inf val_loss, in the top band (36)" in labels
    best = [line for line in ax.get_lines() if line.get_label().startswith("best trial per bucket, optimizer = ")]
    assert len(best) == 3  # the patterns name the optimizer: one line per optimizer, points coloured by it
    assert {"optimizer = adam", "optimizer = momentum", "optimizer = sgd"} <= set(labels)
    loss = table.metrics["val_loss"].to_numpy(dtype=float)  # the plot's metric; the best trial is ranked on accuracy
    assert min(min(line.get_ydata()) for line in best) == pytest.approx(loss[np.isfinite(loss)].min())
    nxt = summary["next_sweep"]["hyperparameters"]["learning_rate"]
    assert any(label.startswith("next sweep: 1e-05 to 0.1") for label in labels) and nxt["changed"]
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert dashed and dashed[0].get_xdata()[0] == pytest.approx(nxt["high"])  # the P2 threshold


def test_curves_panel_shows_sick_trials_next_to_the_best_healthy_one():
    summary, table, curves = _inputs(SLICE, CURVES)
    fig = curves_figure(curves, summary, trial_ids=table.ids.tolist())
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 9
    assert panels[0].get_title().endswith("best healthy trial")
    healthy = panels[0].get_title().split(":")[0]
    assert healthy not in {i["trial_id"] for i in summary["issues"]}
    titles = {ax.get_title().split(":")[0]: ax for ax in panels}
    ax = titles["r00754"]  # test loss overflows to +inf from epoch 56 (tests/test_summary_curves.py)
    assert "NaN/inf" in ax.get_title() and ax.get_xlabel() == "epoch" and ax.get_ylabel().startswith("test_loss")
    onsets = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert onsets == [56]
    stars = [line for line in ax.get_lines() if line.get_marker() == "*"]
    fact = next(t for t in summary["curves"]["trials"] if t["trial_id"] == "r00754")
    assert stars and stars[0].get_xdata()[0] == fact["best_step"]
    assert "next to the best healthy trial" in fig.get_suptitle()


def test_pictures_are_drawn_as_png_with_their_links(cifar):
    summary, table, _ = cifar
    drawn = draw_pictures(summary, table=table)
    links = [link for link, _ in drawn]
    assert [link["path"] for link in links] == ["hparam_figures/heatmap.png", "hparam_figures/isolation_1.png"]
    assert [link["section"] for link in links] == ["pathologies", "isolation"]
    assert [link.get("hyperparameter") for link in links] == [None, "learning_rate"]
    for _, data in drawn:
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
    assert draw_pictures({**summary, "associations": []}) == []  # nothing to draw


def test_pictures_drawn_in_two_processes_are_the_same_bytes(monkeypatch):
    """The child process draws part of the pictures; the same PNGs come back, in the same order."""
    from PIL import Image

    import graph.report.pictures as pictures

    summary, table, curves = _inputs(SLICE, CURVES)
    alone = draw_pictures(summary, table=table, curves=curves, processes=1)
    assert len(alone) >= 3
    parent, drawn_here, real_drawn = os.getpid(), [], pictures._drawn
    monkeypatch.setattr(pictures, "_drawn", lambda build: (drawn_here.append(1) if os.getpid() == parent else None,
                                                           real_drawn(build))[1])
    assert draw_pictures(summary, table=table, curves=curves, processes=2) == alone
    assert 0 < len(drawn_here) < len(alone)  # the child's share came back through the pipe, not redrawn here
    monkeypatch.setattr(pictures, "_drawn", real_drawn)
    image = Image.open(io.BytesIO(alone[0][1]))
    image.load()  # a valid PNG: PIL decodes every row
    fig = curves_figure(curves, summary)  # the first picture
    assert image.mode == "RGB" and image.size == (round(fig.get_figwidth() * pictures.DPI),
                                                  round(fig.get_figheight() * pictures.DPI))
    # a child that fails (here: killed by its first picture) costs nothing: its share is drawn here
    real = pictures._png

    def dies_in_the_child(fig):
        if os.getpid() != parent:
            os._exit(3)
        return real(fig)

    monkeypatch.setattr(pictures, "_png", dies_in_the_child)
    assert draw_pictures(summary, table=table, curves=curves, processes=2) == alone


def test_pictures_never_fork_a_process_with_other_threads(monkeypatch):
    """A notebook kernel or a server has threads of its own: a lock one holds at a fork stays held in the child.

    By default draw_pictures forks only where the drawing process may start (the one rule,
    :func:`graph.report.worker.may_start`, tested in tests/test_picture_worker.py).
    """
    from graph.report import worker

    summary, table, _ = _inputs(CIFAR)

    def no_fork():
        raise AssertionError("forked")

    monkeypatch.setattr(worker, "may_start", lambda: False)
    monkeypatch.setattr(worker.os, "fork", no_fork)
    assert draw_pictures(summary, table=table)  # drawn here, in one process
    monkeypatch.setattr(worker, "may_start", lambda: True)
    with pytest.raises(AssertionError, match="forked"):
        draw_pictures(summary, table=table)


def test_text_from_the_input_cannot_start_mathtext(write_csv, tmp_path):
    lines = ["trial_id,lr$x$,val_loss,train_loss"] + [
        f"$a{i}$,{10.0 ** -(i % 5)},{'nan' if i % 5 == 0 else 0.5 + 0.01 * i},0.4" for i in range(30)]
    summary, table, _ = _inputs(write_csv("\n".join(lines) + "\n"))
    links = [link for link, _ in draw_pictures(summary, table=table)]
    assert any(link["path"].startswith("hparam_figures/isolation") for link in links)
    ax = isolation_figures(table, summary)[0][1].axes[0]
    assert r"lr\$x\$" in ax.get_xlabel()
    assert np.isfinite(ax.get_xlim()).all()


def test_heatmap_cells_of_few_trials_are_pale_and_say_their_n(cifar):
    summary, _, _ = cifar
    a = next(a for a in summary["associations"] if a["rule"] in ("bucket", "value") and a["k"] >= 10)
    base = {**summary, "associations": [a]}
    full = heatmap_figure(base)
    tiny = heatmap_figure({**summary, "associations": [a | {"k": 1, "n": 1, "rate": a["k"] / a["n"]}]})
    strong = full.axes[0].images[0].get_array()[0, list(summary["issue_counts"]).index(a["issue_type"])][:3]
    pale = tiny.axes[0].images[0].get_array()[0, list(summary["issue_counts"]).index(a["issue_type"])][:3]
    assert (pale > strong).all() and pale.min() > 0.8  # nearly white: one trial says little
    assert "1/1" in [t.get_text() for t in tiny.axes[0].texts] and "paler" in tiny.axes[0].get_title()


def test_nan_markers_sit_inside_the_axes_in_a_band_above_the_data(cifar):
    summary, table, _ = cifar
    ax = isolation_figures(table, summary)[0][1].axes[0]
    band = [c for c in ax.collections if len(c.get_offsets()) and c.get_offset_transform() != ax.transData]
    assert len(band) == 2  # values above the clipped axis, and NaN/inf values
    assert all(np.all((c.get_offsets()[:, 1] > 0.88) & (c.get_offsets()[:, 1] < 0.98)) for c in band)  # not on the frame
    low, high = ax.get_ylim()
    finite = table.metrics["val_loss"].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    shown = finite[finite <= high]
    assert np.log(shown.max() / low) / np.log(high / low) < 0.88  # the data stay below the band


def test_a_large_sweep_is_drawn_from_bounded_binned_data(tmp_path):
    import sys

    from graph.report.plot_data import MAX_POINTS, isolation_data
    from tests.conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_pipeline import make_sweep

    path = tmp_path / "sweep.csv"
    make_sweep(20_000, path)
    summary, table, _ = _inputs(path)
    data = isolation_data(table, summary, "learning_rate")
    assert data["n"] > MAX_POINTS and "points" not in data
    gx, gy, counts = data["density"]
    assert counts.shape == (60, 90) and counts.sum() > 0.8 * data["n"]
    assert sum(len(x) for x, _ in data["cells"].values()) <= 60 * 90 * len(data["cells"])
    assert len(data["nonfinite"][0]) <= 90 * len(ISSUE_TYPES) and data["n_nonfinite"] > 500
    fig = isolation_figures(table, summary, max_plots=1)[0][1]
    assert "binned" in fig.axes[0].get_title()
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) < 20_000  # no marker per trial


def test_threshold_labels_that_would_overlap_are_written_as_one():
    from matplotlib.figure import Figure

    from graph.report.pictures import _draw_plan, _log_scale

    cuts = [(0.3, "P1", "≥", "red"), (0.3, "P2", "≥", "black"), (0.29, "P3", "≤", "black"), (1e-4, "P4", "≤", "black")]
    ax = Figure(figsize=(9.0, 5.0)).add_subplot()
    _log_scale(ax, "x")
    ax.set_xlim(1e-5, 1.0)
    _draw_plan(ax, None, cuts)
    assert len([line for line in ax.get_lines() if line.get_linestyle() == "--"]) == 4  # every threshold drawn
    assert sorted(t.get_text() for t in ax.texts) == ["P1, P2: ≥ 0.3; P3: ≤ 0.29", "P4: ≤ 0.0001"]


def test_log_axes_are_labelled_in_plain_text_powers_of_ten(cifar):
    summary, table, _ = cifar
    fig = isolation_figures(table, summary)[0][1]
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(label.startswith("10") and "$" not in label for label in labels)
    assert "10⁻³" in labels  # the cifar learning rates span 1e-5 to 1


def test_the_dashed_thresholds_are_the_threshold_patterns_on_the_plotted_hyperparameter(cifar):
    from core.records import Diagnosis
    from graph.report.pictures import _pattern_cuts

    summary, _, _ = cifar
    by_id = {a["id"]: a for a in summary["associations"]}
    thresholds = [(p["id"], by_id[p["association_id"]]) for p in summary["patterns"]
                  if p.get("association_id") in by_id and by_id[p["association_id"]]["rule"] == "threshold"]
    assert thresholds  # the sweep has threshold patterns
    for hp in {a["hyperparameter"] for _, a in thresholds} | {"no such hyperparameter"}:
        cuts = _pattern_cuts(Diagnosis.from_dict(summary), hp)
        assert [(pid, cut, sign) for cut, pid, sign, _ in cuts] == [
            (pid, a["lo"] if a["direction"] == "above" else a["hi"], "≥" if a["direction"] == "above" else "≤")
            for pid, a in thresholds if a["hyperparameter"] == hp]


def test_binning_finds_the_bins_a_binary_search_finds():
    """The grid of an aggregated isolation plot: the bin computed from the spacing is the one searchsorted finds."""
    from graph.report.plot_data import _bin, _edges

    rng = np.random.default_rng(1)
    samples = [rng.uniform(-5, 5, 2000), 10 ** rng.uniform(-8, 3, 2000), rng.integers(1, 9, 2000).astype(float),
               np.full(50, 3.7), 1.0 + rng.normal(0, 1e-12, 500), np.array([0.0, 1e-300, 1.0]),
               np.array([1e-200, 1e-5, 1.0, 1e150]), np.array([1e-10, 0.5, 2.3, 1e300])]  # spans past the largest float
    for values in samples:
        for log in (False, True):
            for n in (1, 7, 60, 90):
                edges = _edges(values, log, n)
                values_and_edges = np.concatenate([values, edges[(edges >= values.min()) & (edges <= values.max())]])
                expected = np.searchsorted(edges, values_and_edges, side="right") - 1
                expected[values_and_edges == edges[-1]] -= 1  # the last bin is closed, as in numpy.histogram2d
                assert np.array_equal(_bin(values_and_edges, edges, log), expected), (values[:3], log, n)
