"""The sweep summary: every fact the report may state, as JSON-native data.

The summary is the single source of truth for renderers and for the grounding check
of model-written text: a trial id, count or rate that is not in it must not appear in
a report. Its keys are documented in the README ("Summary JSON").
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from core.associations import associate_issues, code_hyperparameters
from core.curves import (
    CurveTable,
    CurveThresholds,
    build_curve_table,
    chance_on_curves,
    curve_facts,
    detect_curve_issues,
    last_logged_steps,
    overfitting_judged,
    stopped_without_improvement,
    with_sweep_facts,
)
from core.detectors import (
    ISSUE_COLUMNS,
    Thresholds,
    detect_issues,
    infer_classes,
    order_issues,
    reconcile_issues,
)
from core.findings import find_sweep_findings
from core.issue_types import ISSUE_TYPES, SEVERITY_RANK, SICK_SEVERITIES
from core.loading import RawTable
from core.records import (
    INTERNED_FIELDS,
    SCHEMA_VERSION,
    Association,
    CategoricalRange,
    Classes,
    IssueColumns,
    IssueTypeInfo,
    NumericRange,
    Roles,
    SweepInfo,
)
from core.residuals import residual_associations
from core.roles import ColumnRoles, role_notes
from core.status import said_early_stop, status_counts
from core.table import TrialTable, build_trial_table
from core.values import format_number

_MAX_LISTED = 1000  # categorical values listed per hyperparameter
_GRID_VALUES = 10  # a numeric hyperparameter with at most this many values, each tried 3 times on average, is a grid


def analyze_sweep(
    raw: RawTable,
    roles: ColumnRoles,
    thresholds: Thresholds | None = None,
    curves: RawTable | None = None,
    curve_thresholds: CurveThresholds | None = None,
    curve_hints: dict[str, str] | None = None,
    search_space: dict[str, dict[str, Any]] | None = None,
    table: TrialTable | None = None,
    curve_table: CurveTable | None = None,
    issue_columns_form: bool = False,
    alpha: float = 0.05,
    min_support: int = 3,
) -> dict[str, Any]:
    """Detect issues and associations in a raw table (and its curves) and summarise them.

    This is the whole computation behind a report (load and role inference aside):
    typed table, detectors, curve detectors when per-epoch ``curves`` are given (long
    format, see :func:`core.curves.build_curve_table`; ``curve_hints`` are the
    reader's and ``--map``'s roles of curve columns), association statistics. The
    declared ``search_space`` (:attr:`core.sweep.Sweep.space`) is kept as
    ``search_space`` when there is one. ``table`` and ``curve_table``, when the caller
    already built them from ``raw`` and ``curves``, are used as they are. With
    ``issue_columns_form``, ``issues`` holds the rows column by column
    (:meth:`core.records.IssueColumns.to_state`, the graph state's form) and is never
    made rows. ``alpha`` and ``min_support`` are the analysis' settings: the second
    look (:func:`core.residuals.residual_associations`) leaves out the regions of the
    patterns they choose.
    """
    thresholds = thresholds or Thresholds()
    table = table if table is not None else build_trial_table(raw, roles)
    if curve_table is None and curves is not None:
        curve_table = build_curve_table(curves, curve_hints)
    # with curves, the steps each trial logged, not its wall time, say whether it ran short
    table.logged = None if curve_table is None else (curve_table.step_column, last_logged_steps(curve_table, table.ids))
    issues = detect_issues(table, thresholds, reconcile=curve_table is None)
    curve_summary = None
    if curve_table is not None:
        curve_thresholds = with_sweep_facts(curve_thresholds or CurveThresholds(), table, thresholds)
        at_chance, collapsed = chance_on_curves(issues, curve_table, table, thresholds, curve_thresholds)
        replaced = (issues["type"].eq("overfitting") & issues["trial_id"].isin(overfitting_judged(curve_table,
                                                                                                   curve_thresholds))
                    | at_chance  # learned at some step: collapsed if back at chance over the final window, else fine
                    # a run that stopped after its loss stopped improving stopped by design (patience) or converged
                    | issues["type"].eq("short_run") & issues["trial_id"].isin(
                        stopped_without_improvement(curve_table, curve_thresholds)))
        issues = issues[~replaced.to_numpy()]
        curve_issues = detect_curve_issues(curve_table, curve_thresholds)
        if len(collapsed):
            curve_issues = pd.concat([curve_issues, collapsed], ignore_index=True)
        issues, curve_summary = merge_curve_issues(table, issues.reset_index(drop=True), curve_table, curve_issues)
        curve_summary["thresholds"] = curve_thresholds.to_dict()
    ranking = ranked(table, issues)
    top_rows = table.rows_of([t["trial_id"] for t in ranking[1]])
    associations = both_looks(table, issues, ranking[1], top_rows, alpha, min_support)
    summary = build_summary(raw, table, issues, associations, thresholds, ranking, issue_columns_form,
                            search_space=search_space)
    if curve_summary is not None:
        summary["curves"] = curve_summary
        summary["sweep"]["notes"] += curve_summary["notes"]
    if search_space:
        summary["search_space"] = search_space
    return summary


def both_looks(table: TrialTable, issues: pd.DataFrame, top: list[dict[str, Any]], top_rows: np.ndarray,
               alpha: float, min_support: int) -> list[Association]:
    """The first pass's associations and the second look's after them, both counted over one coding of the hyperparameters.

    The coding (a few MB per hyperparameter at a million trials) is let go on return; its sort of each numeric
    hyperparameter also gives the table's extents (:meth:`~core.table.TrialTable.extents`), not sorted again.
    """
    coded = code_hyperparameters(table)
    table.extents({c.name: c.sorted_values() for c in coded if c.x is not None})
    associations = associate_issues(table, issues, protect=top_rows, coded=coded)
    return associations + residual_associations(table, issues, associations, top, protect=top_rows, alpha=alpha,
                                                min_support=min_support, coded=coded)


def merge_curve_issues(
    table: TrialTable, issues: pd.DataFrame, curves: CurveTable, curve_issues: pd.DataFrame, max_trials: int = 100
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Add curve-based issues to the trial-level ones; one row per (trial, type) still.

    Where both found the same type for a trial (a NaN final loss and a NaN onset in its
    curve), the details are joined and the curve's ``epoch`` kept. Curves of trials the
    table does not hold are left out, with a note. Returns the merged issues (with an
    ``epoch`` column, NaN where none) and the ``curves`` block of the summary: its
    shape, metrics, notes and the per-trial facts (first non-finite step, best step of
    the held-out loss) of at most ``max_trials`` trials with curve issues or a generalisation gap (whose advice
    says how far their held-out curve rose after its best).
    """
    ids = pd.Index(table.ids.to_numpy())
    curve_issues = curve_issues.assign(row=ids.get_indexer(curve_issues["trial_id"]))
    known = np.isin(curves.trial_ids.to_numpy(dtype=object), table.ids.to_numpy())
    notes = list(curves.notes)
    if not known.all():
        notes.append(f"{int((~known).sum())} trial(s) in the curves are not in the results table; their curves were left out")
    curve_issues = curve_issues[curve_issues["row"] >= 0]
    merged = issues.assign(epoch=np.nan).merge(
        curve_issues[["row", "type", "detail", "epoch"]], on=["row", "type"], how="outer", suffixes=("", "_curve"),
    )
    both = merged["trial_id"].notna() & merged["detail_curve"].notna()
    merged.loc[both, "detail"] = merged.loc[both, "detail"] + "; curve: " + merged.loc[both, "detail_curve"]
    only_curve = merged["trial_id"].isna()
    merged.loc[only_curve, "detail"] = merged.loc[only_curve, "detail_curve"]
    merged.loc[only_curve, "trial_id"] = table.ids.to_numpy()[merged.loc[only_curve, "row"].to_numpy(dtype=int)]
    severity = {name: t.severity for name, t in ISSUE_TYPES.items()}
    merged.loc[only_curve, "severity"] = merged.loc[only_curve, "type"].map(severity)
    merged["epoch"] = merged["epoch_curve"].astype(float)
    merged = order_issues(reconcile_issues(merged[[*ISSUE_COLUMNS, "row", "epoch"]]), table)

    facts = curve_facts(curves)
    flagged = set(curve_issues["trial_id"]) | set(merged.loc[merged["type"] == "generalization_gap", "trial_id"])
    shown = facts[facts["trial_id"].isin(flagged)].head(max_trials)
    return merged, {
        "source": curves.source,
        "n_rows": len(curves),
        "n_trials": curves.n_trials,
        "n_matched": int(known.sum()),
        "step_column": curves.step_column,
        "metrics": {c: {"kind": m.kind, "split": m.split} for c, m in curves.info.items()},
        "ignored": dict(curves.ignored),
        "notes": notes,
        "trials": [{k: _json_value(v) for k, v in row.items()} for row in shown.to_dict("records")],
    }


def _json_value(value: object) -> object:
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def build_summary(
    raw: RawTable,
    table: TrialTable,
    issues: pd.DataFrame,
    associations: list[Association],
    thresholds: Thresholds,
    ranking: tuple[dict[str, Any] | None, list[dict[str, Any]]],
    issue_columns_form: bool = False,
    search_space: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Assemble the summary (without ``patterns``, which the analyst adds).

    ``ranking`` is :func:`ranked`'s result (the caller needs it first, for the looks);
    ``issue_columns_form`` as in :func:`analyze_sweep`.

    Returns
    -------
    dict
        ``schema_version``; ``sweep`` (``source``, ``n_trials``, ``roles``,
        ``status_counts``, ``hyperparameters`` ranges/values, ``notes``);
        ``thresholds``; ``issue_types`` (vocabulary); ``issues`` (list of
        ``{trial_id, type, severity, detail}``, plus ``epoch`` from curves; column by column,
        :meth:`~core.records.IssueColumns.to_state`, with ``issue_columns_form``); ``issue_counts``; ``trials_affected``;
        ``severity_counts``; ``associations``; ``best_trial``; ``top_trials`` (the
        :data:`TOP_K` best, see :func:`rank_trials`); ``findings``
        (sweep-level, ids ``F1``...); ``classes`` (number of classes used by the
        chance-level rules, and how it was known).
    """
    counts = issues["type"].value_counts()
    issue_counts = {t: int(counts[t]) for t in ISSUE_TYPES if t in counts}
    sick_issues = issues[issues["severity"].isin(SICK_SEVERITIES)]
    rank = sick_issues["severity"].map(SEVERITY_RANK)
    affected = rank.groupby(sick_issues["trial_id"], sort=False).min().map(dict(enumerate(SICK_SEVERITIES)))
    best, top = ranking
    classes, how = infer_classes(table, thresholds)
    sweep = SweepInfo(source=raw.source, format=raw.format, n_trials=len(table),
                      roles=Roles.from_dict(table.roles.to_dict()),
                      status_counts=status_counts(table.status, table.status_raw),
                      hyperparameters=_ranges(table), notes=list(raw.notes) + role_notes(table.roles))
    return {
        "schema_version": SCHEMA_VERSION,
        "sweep": sweep.to_dict(),
        "thresholds": thresholds.to_dict(),
        "issue_types": {t: IssueTypeInfo(severity=e.severity, label=e.label).to_dict() for t, e in ISSUE_TYPES.items()},
        "issues": issue_state(issues) if issue_columns_form else issue_columns(issues).rows(),
        "issue_counts": issue_counts,
        "trials_affected": int(len(affected)),
        "severity_counts": {s: int((affected == s).sum()) for s in SICK_SEVERITIES},
        "associations": [a.to_dict() for a in associations],
        "best_trial": best,
        "top_trials": top,
        "findings": find_sweep_findings(table, issues, best, search_space),
        "classes": Classes(n=classes, how=how or None).to_dict(),
    }


def issue_columns(issues: pd.DataFrame) -> IssueColumns:
    """The issue rows of the detectors (``trial_id, type, severity, detail``, ``epoch`` where a curve gave one) as columns.

    Trial ids become text; ``epoch`` is None where it is missing or not finite.
    """
    epochs = issues["epoch"].to_numpy(dtype=float) if "epoch" in issues else np.full(len(issues), np.nan)
    return IssueColumns(trial_id=list(map(str, issues["trial_id"].to_numpy())), type=issues["type"].tolist(),
                        severity=issues["severity"].tolist(), detail=issues["detail"].tolist(),
                        epoch=np.where(np.isfinite(epochs), epochs, None).tolist())


def issue_state(issues: pd.DataFrame) -> dict[str, Any]:
    """The detectors' issue rows in the graph state's form: :meth:`~core.records.IssueColumns.to_state` of :func:`issue_columns`.

    Coded from the frame's columns: each is factorised (distinct values in order of first
    appearance, as ``to_state`` orders them) and only its distinct values become Python
    text, so the 240,000 rows of a million trials make no string per row (0.25 -> 0.11 s).
    A column with a missing cell, or two cells alike only as text, is coded through
    :func:`issue_columns`.
    """
    out: dict[str, Any] = {"rows": len(issues)}
    for name in INTERNED_FIELDS:
        codes, uniques = pd.factorize(issues[name], sort=False)
        values = [str(v) for v in uniques] if name == "trial_id" else uniques.tolist()
        if (codes < 0).any() or len(set(values)) < len(values):
            return issue_columns(issues).to_state()
        out[name] = {"codes": codes.tolist(), "values": values}
    epochs = issues["epoch"].to_numpy(dtype=float) if "epoch" in issues else np.full(len(issues), np.nan)
    finite = np.isfinite(epochs)
    out["epoch"] = {"rows": np.flatnonzero(finite).tolist(), "values": epochs[finite].tolist()}
    return out


def disqualified(table: TrialTable, issues: pd.DataFrame) -> np.ndarray:
    """Trials no ranking counts, as a mask over the rows: a high-severity issue (see :func:`rank_trials`).

    A low or medium issue (a short run, a gap, overfitting) leaves the result as measured:
    the ranking keeps it, and :func:`ranked` says so beside the best trial.
    """
    return table.flagged(issues[issues["severity"] == "high"])


def ranked(table: TrialTable, issues: pd.DataFrame) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """:func:`rank_trials` over the trials :func:`disqualified` leaves, the best trial's ``note`` saying what the choice passed.

    The note names the best trial's own low or medium issues (a short run's result comes
    from fewer epochs than planned: worth confirming), and the finished trial with a
    better finite value left out for a high-severity issue, with that issue, so that no
    higher score is dropped silently.
    """
    excluded = disqualified(table, issues)
    best, top = rank_trials(table, excluded)
    if best is None:
        return best, top
    notes = [best["note"]] if best.get("note") else []
    ids = issues["trial_id"].astype(str)
    own = issues[(ids == best["trial_id"]).to_numpy() & (issues["severity"] != "high").to_numpy()]
    if len(own):
        what = "; ".join(f"{ISSUE_TYPES[t].label} ({d})" for t, d in zip(own["type"], own["detail"].fillna("")))
        notes.append(f"trial {best['trial_id']} itself shows {what}: its result is as measured, worth confirming "
                     "with a rerun before building on it")
    if not best.get("note"):
        values = np.where(finished_rows(table) & excluded, table.metrics[best["metric"]].to_numpy(dtype=float), np.nan)
        better = _best_rows(values, 1, lowest_first=best["goal"] == "min")
        if len(better) and (values[better[0]] < best["value"] if best["goal"] == "min" else values[better[0]] > best["value"]):
            other = str(table.ids.iloc[int(better[0])])
            kinds = issues[(ids == other).to_numpy() & (issues["severity"] == "high").to_numpy()]["type"].unique()
            notes.append(f"trial {other} reached a better {best['metric']} ({format_number(values[better[0]])}) but "
                         f"is left out: {', '.join(ISSUE_TYPES[t].label for t in kinds)} (high severity)")
    if notes:
        best["note"] = "; ".join(notes)
    return best, top


def _ranges(table: TrialTable) -> dict[str, NumericRange | CategoricalRange]:
    """Each hyperparameter as searched: a numeric range (with its grid, when it is one), or categorical values."""
    out: dict[str, NumericRange | CategoricalRange] = {}
    extents = table.extents()
    for col in table.hyperparameters.columns:
        if col not in extents:
            counts = table.hyperparameters[col].fillna("(missing)").astype(str).value_counts()
            # every value (role inference keeps free text out), so a next sweep can list them all
            out[col] = CategoricalRange(kind="categorical", n_values=int(len(counts)),
                                        values={str(k): int(v) for k, v in counts.head(_MAX_LISTED).items()})
            continue
        span = extents[col]
        grid = None
        if 2 <= span.n_values <= _GRID_VALUES and span.n_finite >= 3 * span.n_values:  # a grid: the next sweep keeps it one
            values = table.hyperparameters[col].to_numpy(dtype=float)
            grid = [float(v) for v in np.unique(values[np.isfinite(values)])]
        out[col] = NumericRange(kind="numeric", min=span.min if span.n_finite else None,
                                max=span.max if span.n_finite else None, n_values=span.n_values, values=grid)
    return out


_TARGET_SCALING = re.compile(
    r"(scal|normali[sz]|standardi[sz]|transform|log)[a-z]*[_\-. ]?(targets?|labels?|y|outputs?)(?![a-z])|"
    r"(?<![a-z])(targets?|labels?|y|outputs?)[_\-. ]?(scal|normali[sz]|standardi[sz]|transform)", re.IGNORECASE)
_SCALE_FREE = re.compile(r"r2|r_2|rsquared|r_squared|explained_var|pearson|spearman|acc|auc|f1|top_?\d", re.IGNORECASE)
"""Held-out metrics that do not change with the target's units (compare trials on them when the targets differ)."""


def finished_rows(table: TrialTable) -> np.ndarray:
    """Trials that ran to an end of their own: completed, early-stopped or cut by a time budget.

    A tuner's pruner (Optuna ``PRUNED``, an ASHA stop) is excluded: its trials ran a
    fraction of the budget, so their objective is not comparable. Early stopping on
    patience ("early_stopped") and time limits are how a trial ends, by design, and
    their trials are judged by what they reached.
    """
    return np.isin(table.status.to_numpy(), ["completed", "unknown", "timeout"]) | said_early_stop(table.status, table.status_raw)


TOP_K = 10
"""How many of the best trials the summary ranks (``top_trials``), and the advice never throws away.

A fixed number, not a share: the question is whether advice would discard one of the handful of
configurations a user would try next, whatever the sweep's size (a share of a 10,000-trial sweep
would protect hundreds of trials and forbid every region)."""


def rank_trials(table: TrialTable, excluded: np.ndarray | None = None,
                k: int = TOP_K) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The best trial and the ``k`` best, ranked: finished trials (see :func:`finished_rows`) without a high-severity issue.

    ``excluded`` is a bool mask over the table's rows (:meth:`~core.table.TrialTable.flagged`
    of the issues that disqualify, see :func:`disqualified`; None: no trial): trials with a high-severity issue (NaN, hidden
    failure, divergence, no learning, a collapse, failure); low and medium issues (a short
    run, overfitting, a generalisation gap, still improving) do not disqualify a result.
    Judged by :func:`_ranking_metric` (what the tuner optimised, else the held-out
    accuracy, else the held-out loss). Objectives are
    compared only across comparable trials: when a hyperparameter changes the target's
    scale (``scale_targets``), the held-out loss is in different units per value, so a
    scale-free held-out metric (r2, accuracy...) is used instead, or else only trials
    sharing the most common scaling are compared; ``note`` says so. Ties keep the
    table's order.

    Returns
    -------
    best : dict or None
        ``trial_id``, ``metric``, ``goal``, ``value``, ``status``, ``hyperparameters``
        (and ``note``); None when no trial qualifies.
    top : list of dict
        The ``k`` best, best first: ``rank`` (1...), ``trial_id``, ``value``,
        ``status``, ``hyperparameters`` (the metric is the best trial's).
    """
    roles = table.roles
    column = _ranking_metric(roles)
    if column is None:
        return None, []
    eligible = finished_rows(table) if excluded is None else finished_rows(table) & ~excluded
    note = None
    scaling = [hp for hp in table.hyperparameters.columns
               if _TARGET_SCALING.search(hp) and table.hyperparameters[hp].nunique(dropna=False) > 1]
    if scaling and roles.metrics[column].kind != "accuracy" and not _SCALE_FREE.search(column):
        free = next((c for c, m in roles.metrics.items() if m.split in ("val", "test") and m.goal
                     and _SCALE_FREE.search(c)), None)
        if free is not None:
            note = (f"{column} is in the units of each trial's target ({', '.join(scaling)} differs between "
                    f"trials), so trials are compared on {free}")
            column = free
        else:
            values = table.hyperparameters[scaling].astype(str).agg("|".join, axis=1)
            common = values[eligible].mode()
            if not common.empty:
                eligible &= (values == common.iloc[0]).to_numpy()
                shared = ", ".join(f"{hp} = {v}" for hp, v in zip(scaling, common.iloc[0].split("|")))
                note = (f"{column} is in the units of each trial's target ({', '.join(scaling)} differs between "
                        f"trials), so only trials with {shared} are compared")
    ranked = _best_rows(np.where(eligible, table.metrics[column].to_numpy(dtype=float), np.nan), k,
                        lowest_first=roles.metrics[column].goal == "min")
    if not len(ranked):
        return None, []
    top = [{"rank": rank, "trial_id": str(table.ids.iloc[row]), "value": float(table.metrics[column].iloc[row]),
            "status": str(table.status.iloc[row]), "hyperparameters": _hyperparameters_of(table, row)}
           for rank, row in enumerate(map(int, ranked), start=1)]
    first = top[0]
    best = {"trial_id": first["trial_id"], "metric": column, "goal": roles.metrics[column].goal,
            "value": first["value"], "status": first["status"], "hyperparameters": first["hyperparameters"]}
    if note:
        best["note"] = note
    return best, top


def _best_rows(values: np.ndarray, k: int, lowest_first: bool) -> np.ndarray:
    """The rows of the ``k`` best finite ``values``, best first, ties in row order.

    The first ``k`` of a stable sort of every finite value, without sorting a million of
    them: a partition finds the ``k``-th best and only the values up to it are sorted.
    """
    rows = np.flatnonzero(np.isfinite(values))
    key = values[rows] if lowest_first else -values[rows]
    if len(rows) > k > 0:
        near = key <= np.partition(key, k - 1)[k - 1]
        rows, key = rows[near], key[near]
    return rows[np.argsort(key, kind="stable")[:k]]


def _ranking_metric(roles: ColumnRoles) -> str | None:
    """The metric trials are ranked on: the one a user picks a configuration by.

    The tuner's objective when it has a direction (what the sweep optimised); else the
    held-out accuracy, the score a classifier is chosen on (an overconfident network's
    held-out loss rises while its accuracy holds, so the lowest-loss runs are often not
    the most accurate ones); else the held-out loss; else another held-out score with a
    direction (r2...).
    """
    objective = next((c for c, m in roles.metrics.items() if m.kind == "objective" and m.goal), None)
    pair = roles.loss_pair()
    return (objective or roles.metric("accuracy", held_out=True) or (pair[1] if pair else None)
            or roles.metric("loss", held_out=True)
            or next((c for c, m in roles.metrics.items() if m.split in ("val", "test") and m.goal), None))


def _hyperparameters_of(table: TrialTable, row: int) -> dict[str, Any]:
    return {col: (None if pd.isna(v) else (v if isinstance(v, str) else float(v)))
            for col, v in table.hyperparameters.iloc[row].items()}
