"""Pydantic models of ``hparam_summary.json``, and its published JSON Schema.

The schema in ``schema/hparam_summary.schema.json`` is generated from these models::

    python -m report.schema schema/hparam_summary.schema.json   # or no argument: print it

and ``tests/test_schema.py`` checks that the committed file is what the models give
and that real summaries validate against it.

Strict parts (no unknown keys): the top level, ``sweep``, ``issues``,
``associations``, ``best_trial`` and ``next_sweep``. Permissive parts (unknown keys
allowed, since the LLM analyst and writer and the sweep-level finders add fields as
they evolve): ``patterns``, ``leads``, ``recommendations``, ``hypotheses``,
``analysis``, ``writer``, ``findings``, ``curves``, ``thresholds``. ``next_sweep`` is
optional: the CLI adds it (see :mod:`core.next_sweep`); a graph run may not.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Number = float | int


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --------------------------------------------------------------------------------------
# sweep
# --------------------------------------------------------------------------------------


class MetricRole(_Strict):
    """What a metric column measures."""

    kind: str = Field(description="loss, accuracy or objective")
    split: str | None = Field(description="train, val, test, or None")
    goal: Literal["min", "max"] | None = None


class Roles(_Strict):
    """The role of every column (``core.roles.ColumnRoles.to_dict``)."""

    id: str
    status: str | None
    metrics: dict[str, MetricRole]
    epochs: str | None
    runtime: str | None
    hyperparameters: list[str]
    ignored: dict[str, str]
    error: str | None = None
    seed: str | None = None
    mapping: dict[str, str] = Field(default_factory=dict, description="roles given explicitly (--map, the reader)")
    budget: str | None = Field(default=None, description="the per-trial planned budget (max_epochs...), also a "
                                                         "hyperparameter when it is not the epochs used")
    best_epoch: str | None = Field(default=None, description="the epoch of the held-out best")
    outcomes: dict[str, str] = Field(default_factory=dict,
                                     description="outcome flags the sweep wrote -> the issue type each states")
    context: dict[str, str] = Field(default_factory=dict,
                                    description="columns shown but never analysed as causes (hardware, derived "
                                                "quantities, run labels) -> why")


class NumericRange(_Strict):
    """A numeric hyperparameter as searched."""

    kind: Literal["numeric"]
    min: Number | None
    max: Number | None
    n_values: int
    values: list[Number] | None = Field(default=None, description="the grid searched, when few values were "
                                                                  "each tried several times")


class CategoricalRange(_Strict):
    """A categorical hyperparameter as searched (the 20 most frequent values, with counts)."""

    kind: Literal["categorical"]
    values: dict[str, int]
    n_values: int


class Sweep(_Strict):
    """What was read."""

    source: str
    format: str | None = None
    n_trials: int
    roles: Roles
    status_counts: dict[str, int]
    hyperparameters: dict[str, Annotated[NumericRange | CategoricalRange, Field(discriminator="kind")]]
    notes: list[str]


# --------------------------------------------------------------------------------------
# issues and statistics
# --------------------------------------------------------------------------------------


class Issue(_Strict):
    """One issue of one trial (one per trial and type)."""

    trial_id: str
    type: str
    severity: Literal["high", "medium", "low", "info"]
    detail: str
    epoch: Number | None = Field(None, description="the step a curve-based issue refers to")


class IssueType(_Strict):
    """An issue type of the vocabulary."""

    severity: Literal["high", "medium", "low", "info"]
    label: str


class Part(_Open):
    """One condition of a pair alone (without the other)."""

    condition: str
    k: int
    n: int


class Association(_Strict):
    """Issue counts and tests of one region (bucket, value, threshold or pair) for one issue type."""

    id: str = Field(pattern=r"^A\d+$")
    hyperparameter: str
    hyperparameters: list[str]
    rule: Literal["bucket", "value", "threshold", "pair"]
    condition: str
    lo: Number | None
    hi: Number | None
    value: str | None
    direction: Literal["above", "below"] | None
    issue_type: str
    k: int
    n: int
    rate: Number
    ci: list[Number] | None
    k_rest: int
    n_rest: int
    rate_rest: Number
    risk_ratio: Number | None
    p: Number
    log_p: Number = Field(description="natural log of p, finite where p underflows to 0; rank tests on it")
    q: Number
    trial_ids: list[str]
    parts: list[Part] | None = None


class BestTrial(_Strict):
    """The best finished trial (completed, early-stopped or cut by its time budget) without a high-severity issue."""

    trial_id: str
    metric: str
    goal: Literal["min", "max"] | None
    value: Number
    status: str | None = None
    hyperparameters: dict[str, str | Number | None]
    note: str | None = Field(default=None, description="why the objective compared differs, when targets differ")


class Finding(_Open):
    """A sweep-level finding (kind-specific keys allowed)."""

    id: str = Field(pattern=r"^F\d+$")
    kind: str
    title: str
    detail: str
    n_trials: int
    trial_ids: list[str]


class Classes(_Strict):
    """Number of classes used by the chance-level rules, and how it was known."""

    n: int | None
    how: str | None


# --------------------------------------------------------------------------------------
# analyst and writer (permissive: the model-facing parts evolve)
# --------------------------------------------------------------------------------------


class Evidence(_Open):
    """The counts and tests behind a pattern."""

    k: int
    n: int
    k_rest: int
    n_rest: int
    p: Number
    q: Number


class Pattern(_Open):
    """A pattern (``P1``...) or an inconclusive lead (``L1``...)."""

    id: str
    association_id: str | None = None
    issue_type: str
    hyperparameter: str | None = None
    condition: str
    title: str
    explanation: str
    recommendation: str
    evidence: Evidence
    trial_ids: list[str]


class Recommendation(_Open):
    """A recommendation with the facts it follows from."""

    id: str
    text: str
    evidence: Any
    pattern_id: str | None = None
    trial_ids: list[str]


class Analysis(_Open):
    """Settings of the analysis."""

    alpha: Number
    min_support: int


class Writer(_Open):
    """Who wrote the prose, and what was removed or sent back."""

    author: str
    narrative: str | None = None
    notes: list[str]


class Curves(_Open):
    """The per-step curves block, when the sweep had curves."""

    source: str
    n_trials: int
    step_column: str
    trials: list[dict[str, Any]]


class SpaceParam(_Strict):
    """One parameter of the search space the input declares (``core.sweep.Sweep.space``)."""

    kind: Literal["float", "int", "categorical"]
    low: Number | None
    high: Number | None
    log: bool
    step: Number | None
    choices: list[Any] | None
    source: str


# --------------------------------------------------------------------------------------
# next sweep (core.next_sweep)
# --------------------------------------------------------------------------------------


class SearchedNumeric(_Strict):
    """The range the sweep searched."""

    low: Number | None
    high: Number | None


class SearchedCategorical(_Strict):
    """The values the sweep searched (at most 20 listed)."""

    values: list[str]
    n_values: int


class NextNumeric(_Strict):
    """Sample in [low, high] (log-uniformly when ``log``), never inside an ``exclude`` interval (closed)."""

    kind: Literal["float", "int"]
    low: Number | None
    high: Number | None
    log: bool
    exclude: list[Annotated[list[Number], Field(min_length=2, max_length=2)]]
    values: list[Number] | None = Field(default=None, description="a grid: sample only these values (those in "
                                                                  "[low, high] and not excluded)")
    step: Number | None = None
    declared: bool = Field(default=False, description="the range started from the search space the input declares")
    changed: bool = Field(description="the range of the whole sweep changed (conditions aside)")
    searched: SearchedNumeric


class NextCategorical(_Strict):
    """The values to keep searching, and those left out."""

    kind: Literal["categorical"]
    values: list[str]
    exclude: list[str]
    declared: bool = Field(default=False, description="the values started from the search space the input declares")
    changed: bool
    searched: SearchedCategorical


class Region(_Strict):
    """A region of one hyperparameter: a value, or a range."""

    hyperparameter: str
    condition: str
    value: str | Number | None = None
    low: Number | None = None
    high: Number | None = None


class Condition(_Strict):
    """A range that holds only within a region of another hyperparameter."""

    when: Region
    hyperparameter: str
    low: Number | None
    high: Number | None
    exclude: list[list[Number] | str]
    evidence: str


class Epochs(_Strict):
    """A raised epoch budget."""

    column: str | None
    from_: Number = Field(alias="from")
    to: Number
    when: str | None


class Settings(_Strict):
    """Budget changes."""

    epochs: Epochs | None = None


class StartFrom(_Strict):
    """The best healthy trial, to enqueue first."""

    trial_id: str
    hyperparameters: dict[str, str | Number | None]


class Change(_Strict):
    """One change of the search space, with the fact it follows from."""

    hyperparameter: str | None
    action: Literal["cap", "raise_low", "exclude", "cap_when", "raise_low_when", "exclude_when", "widen",
                    "regularise", "add", "more_epochs"]
    from_: Any = Field(alias="from")
    to: Any
    when: str | None
    evidence: str = Field(description="P2, F1, A12, 'P4, A57', or issue_counts.TYPE")
    reason: str
    trial_ids: list[str]


class Objective(_Strict):
    """The metric the next sweep should optimise."""

    metric: str
    goal: Literal["min", "max"] | None


class NextSweep(_Strict):
    """The next sweep to run (``core.next_sweep.plan_next_sweep``)."""

    objective: Objective | None
    hyperparameters: dict[str, Annotated[NextNumeric | NextCategorical, Field(discriminator="kind")]]
    conditions: list[Condition]
    settings: Settings
    start_from: StartFrom | None
    changes: list[Change]


# --------------------------------------------------------------------------------------
# the summary
# --------------------------------------------------------------------------------------


class Summary(_Strict):
    """hparam_summary.json: every fact the report states."""

    model_config = ConfigDict(extra="forbid", title="Hyperparameter Pathology Inspector summary")

    schema_version: str
    sweep: Sweep
    thresholds: dict[str, Number | None]
    issue_types: dict[str, IssueType]
    issues: list[Issue]
    issue_counts: dict[str, int]
    trials_affected: int
    severity_counts: dict[str, int]
    associations: list[Association]
    best_trial: BestTrial | None
    findings: list[Finding]
    classes: Classes
    curves: Curves | None = None
    search_space: dict[str, SpaceParam] | None = None
    patterns: list[Pattern]
    leads: list[Pattern]
    recommendations: list[Recommendation]
    analysis: Analysis
    hypotheses: list[dict[str, Any]] = Field(default_factory=list)
    writer: Writer
    next_sweep: NextSweep | None = None


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the summary, generated from :class:`Summary`."""
    schema = Summary.model_json_schema(mode="validation", by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m report.schema [PATH]``: write the schema to PATH, or print it."""
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        with open(argv[0], "w", encoding="utf-8") as handle:
            handle.write(schema_text())
    else:
        sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
