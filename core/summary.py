"""The sweep summary: every fact the report may state, as JSON-native data.

The summary is the single source of truth for renderers and for the grounding check
of model-written text: a trial id, count or rate that is not in it must not appear in
a report. Its keys are documented in the README ("Summary JSON").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core.associations import associate_issues
from core.detectors import ISSUE_TYPES, SEVERITY, SICK_SEVERITIES, Thresholds, detect_issues, infer_classes
from core.findings import find_sweep_findings
from core.loading import RawTable
from core.patterns import ISSUE_LABELS
from core.roles import ColumnRoles
from core.table import TrialTable, build_trial_table

SCHEMA_VERSION = "1.1"
_SEVERITIES = SICK_SEVERITIES
_SEVERITY_RANK = {s: i for i, s in enumerate(_SEVERITIES)}


def analyze_sweep(raw: RawTable, roles: ColumnRoles, thresholds: Thresholds | None = None) -> dict[str, Any]:
    """Detect issues and associations in a raw table and summarise them.

    This is the whole computation behind a report (load and role inference aside):
    typed table, detectors, association statistics.
    """
    thresholds = thresholds or Thresholds()
    table = build_trial_table(raw, roles)
    issues = detect_issues(table, thresholds)
    associations = associate_issues(table, issues)
    return build_summary(raw, table, issues, associations, thresholds)


def build_summary(
    raw: RawTable,
    table: TrialTable,
    issues: pd.DataFrame,
    associations: list[dict[str, Any]],
    thresholds: Thresholds,
) -> dict[str, Any]:
    """Assemble the summary (without ``patterns``, which the analyst adds).

    Returns
    -------
    dict
        ``schema_version``; ``sweep`` (``source``, ``n_trials``, ``roles``,
        ``status_counts``, ``hyperparameters`` ranges/values, ``notes``);
        ``thresholds``; ``issue_types`` (vocabulary); ``issues`` (list of
        ``{trial_id, type, severity, detail}``); ``issue_counts``; ``trials_affected``;
        ``severity_counts``; ``associations``; ``best_trial``; ``findings``
        (sweep-level, ids ``F1``...); ``classes`` (number of classes used by the
        chance-level rules, and how it was known).
    """
    counts = issues["type"].value_counts()
    issue_counts = {t: int(counts[t]) for t in ISSUE_TYPES if t in counts}
    sick_issues = issues[issues["severity"].isin(_SEVERITIES)]
    rank = sick_issues["severity"].map(_SEVERITY_RANK)
    affected = rank.groupby(sick_issues["trial_id"], sort=False).min().map(dict(enumerate(_SEVERITIES)))
    best = _best_trial(table, set(sick_issues["trial_id"]) | set(issues.loc[issues["type"] == "pruned", "trial_id"]))
    classes, how = infer_classes(table, thresholds)
    return {
        "schema_version": SCHEMA_VERSION,
        "sweep": {
            "source": raw.source,
            "format": raw.format,
            "n_trials": len(table),
            "roles": table.roles.to_dict(),
            "status_counts": {k: int(v) for k, v in table.status.value_counts().items()},
            "hyperparameters": _ranges(table),
            "notes": list(raw.notes),
        },
        "thresholds": thresholds.to_dict(),
        "issue_types": {
            t: {"severity": SEVERITY[t], "label": ISSUE_LABELS[t]} for t in ISSUE_TYPES
        },
        "issues": [
            {"trial_id": str(r.trial_id), "type": r.type, "severity": r.severity, "detail": r.detail}
            for r in issues.itertuples(index=False)
        ],
        "issue_counts": issue_counts,
        "trials_affected": int(len(affected)),
        "severity_counts": {s: int((affected == s).sum()) for s in _SEVERITIES},
        "associations": associations,
        "best_trial": best,
        "findings": find_sweep_findings(table, issues, best),
        "classes": {"n": classes, "how": how or None},
    }


def _ranges(table: TrialTable) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in table.hyperparameters.columns:
        values = table.hyperparameters[col]
        if values.dtype == object:
            counts = values.fillna("(missing)").astype(str).value_counts()
            out[col] = {"kind": "categorical", "values": {str(k): int(v) for k, v in counts.head(20).items()},
                        "n_values": int(len(counts))}
        else:
            finite = values[np.isfinite(values)]
            out[col] = {
                "kind": "numeric",
                "min": float(finite.min()) if len(finite) else None,
                "max": float(finite.max()) if len(finite) else None,
                "n_values": int(finite.nunique()),
            }
    return out


def _best_trial(table: TrialTable, excluded: set[str]) -> dict[str, Any] | None:
    """The best trial that is not sick (nor pruned).

    Judged by the held-out loss (lowest), else the held-out accuracy (highest), else
    an objective whose direction is known (``goal``); None when there is none.
    """
    roles = table.roles
    pair = roles.loss_pair()
    column = (pair[1] if pair else None) or roles.metric("loss", held_out=True) or roles.metric("accuracy", held_out=True)
    if column is None:
        column = next((c for c, m in roles.metrics.items() if m.kind == "objective" and m.goal), None)
    if column is None:
        return None
    lower_is_better = roles.metrics[column].goal == "min"
    values = table.metrics[column].where(~table.ids.isin(excluded).to_numpy())
    values = values[np.isfinite(values)]
    if values.empty:
        return None
    row = int(values.idxmin() if lower_is_better else values.idxmax())
    return {
        "trial_id": str(table.ids.iloc[row]),
        "metric": column,
        "goal": roles.metrics[column].goal,
        "value": float(table.metrics[column].iloc[row]),
        "hyperparameters": {
            col: (None if pd.isna(v) else (v if isinstance(v, str) else float(v)))
            for col, v in table.hyperparameters.iloc[row].items()
        },
    }
