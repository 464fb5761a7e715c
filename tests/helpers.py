"""Small builders shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.detectors import Thresholds, detect_issues
from core.loading import RawTable, read_results
from core.roles import infer_roles
from core.table import TrialTable, build_trial_table


def table_from_text(path: Path) -> TrialTable:
    raw = read_results(path)
    return build_trial_table(raw, infer_roles(raw.frame, raw.source))


def table_from_records(records: list[dict[str, object]]) -> TrialTable:
    frame = pd.DataFrame(records, dtype=object).astype(str)
    raw = RawTable(frame=frame, source="<test>")
    return build_trial_table(raw, infer_roles(frame, "<test>"))


def issues_of(table: TrialTable, thresholds: Thresholds | None = None) -> set[tuple[str, str]]:
    issues = detect_issues(table, thresholds)
    return set(zip(issues["trial_id"], issues["type"]))
