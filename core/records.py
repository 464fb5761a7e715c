"""Typed records of a diagnosis: what ``hparam_summary.json`` holds, as dataclasses.

The summary is the public contract (a JSON-native dict, also what the graph state and
its checkpointer keep). These records are that dict with types: every key of the
summary is a field here, so code that needs a region's bounds reads
``association.regions[0].low`` instead of a string key or, worse, the rendered
condition text (``"lr ≥ 0.0631"`` is for people, :attr:`Region.condition`).

- :meth:`Record.to_dict` gives the summary's JSON-native dict (keys in the order the
  producers write them) and :meth:`Record.from_dict` reads one back; for every summary
  ``Diagnosis.from_dict(s).to_dict() == s``. Records a consumer needs can be built
  alone (``Association.from_dict(a)``): a million issues need not be typed to read the
  patterns.
- Strict records reject unknown keys; *open* ones (the model-facing parts: patterns,
  leads, recommendations, findings, analysis, writer, curves, evidence, pair parts)
  keep unknown keys in ``extra`` and write them back after the declared ones.
- The JSON Schema (:mod:`core.schema`) is generated from these classes.

Dataclasses are frozen where a record is a fact that does not change once computed
(regions, associations, issues); lists inside them are the JSON's lists.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from core.issue_types import ISSUE_TYPES, SEVERITIES
from core.values import format_number

SCHEMA_VERSION = "1.6"
Number = float | int
Severity = Literal[SEVERITIES]  # type: ignore[valid-type]
IssueTypeName = Literal[tuple(ISSUE_TYPES)]  # type: ignore[valid-type]
"""The issue types of :data:`core.issue_types.ISSUE_TYPES` (an enum in the schema)."""
Goal = Literal["min", "max"]
RegionRule = Literal["bucket", "value", "threshold"]


def _doc(text: str) -> Any:
    return Field(description=text)


# --------------------------------------------------------------------------------------
# to_dict / from_dict
# --------------------------------------------------------------------------------------


class Record:
    """Base of every record: JSON-native :meth:`to_dict` and its inverse :meth:`from_dict`.

    Class attributes: ``_omit_if_default`` names the keys left out of the dict when their
    value is the field's default (the producers write them only when there is something to say);
    ``_keys`` maps a field to its JSON key when the two differ (``from_`` -> ``from``).
    An open record has a field ``extra`` (the keys it does not declare).
    """

    _omit_if_default: ClassVar[frozenset[str]] = frozenset()
    _keys: ClassVar[dict[str, str]] = {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON-native dict of this record, as the summary holds it."""
        out: dict[str, Any] = {}
        omit = self._omit_if_default
        for name, key in _plan(type(self))[0]:
            value = getattr(self, name)
            if omit and name in omit and value == _default(type(self), name):
                continue
            out[key] = value if type(value) in _PLAIN else _dump(value)  # most fields: no call
        extra = getattr(self, "extra", None)
        if extra:
            out.update(_dump(extra))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """The record of a JSON-native dict (:meth:`to_dict`'s inverse); ValueError on a wrong shape."""
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        names, loaders, required, is_open = _plan(cls)[1:]
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            entry = names.get(key)
            if entry is None:
                if not is_open:
                    _undeclared(cls, key)
                    continue
                extra[key] = value
                continue
            load = loaders[entry]
            values[entry] = value if load is _identity else load(value)
        missing = [key for name, key in required if name not in values]
        if missing:
            raise ValueError(f"{cls.__name__}: missing key(s) {', '.join(map(repr, missing))}")
        if is_open:
            values["extra"] = extra
        return cls(**values)


_LEFT_OUT: ContextVar[list[str] | None] = ContextVar("undeclared_keys_left_out", default=None)


@contextlib.contextmanager
def undeclared_keys_left_out() -> Iterator[list[str]]:
    """While open, a strict record leaves out a key it does not declare, named in the list yielded, instead of raising.

    For a summary the run made itself (the write node): a key no record declares is a
    producer out of step with the records, and the report is still worth writing, with
    what was left out named. A summary read from a file is read strictly.
    """
    left: list[str] = []
    token = _LEFT_OUT.set(left)
    try:
        yield left
    finally:
        _LEFT_OUT.reset(token)


def _undeclared(cls: type, key: str) -> None:
    """A strict record met ``key``: ValueError, or the key named as left out (:func:`undeclared_keys_left_out`)."""
    left = _LEFT_OUT.get()
    if left is None:
        raise ValueError(f"{cls.__name__}: unknown key {key!r}")
    left.append(f"{cls.__name__} {key!r}")


@functools.cache
def _plan(cls: type) -> tuple[list[tuple[str, str]], dict[str, str], dict[str, Any], list[tuple[str, str]], bool]:
    """Per record class: (field, key) in order, key -> field, field -> loader, required (field, key), open."""
    hints = typing.get_type_hints(cls, include_extras=True)
    order, names, loaders, required = [], {}, {}, []
    is_open = False
    for f in dataclasses.fields(cls):
        if f.name == "extra":
            is_open = True
            continue
        key = cls._keys.get(f.name, f.name)
        order.append((f.name, key))
        names[key] = f.name
        loaders[f.name] = _loader(hints[f.name])
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append((f.name, key))
    return order, names, loaders, required, is_open


def _default(cls: type, name: str) -> Any:
    return cls.__dataclass_fields__[name].default


_PLAIN = frozenset({str, int, float, bool, type(None)})


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, IssueColumns):
        return value.rows()
    if isinstance(value, (list, tuple)):
        if all(type(v) in _PLAIN for v in value):  # trial ids, counts: no call per element
            return list(value)
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _identity(value: Any) -> Any:
    return value


def _loader(tp: Any) -> Any:
    """A function that turns JSON-native data into values of type ``tp`` (records built, the rest kept as is)."""
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _loader(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        records = [a for a in typing.get_args(tp) if isinstance(a, type) and issubclass(a, Record)]
        if not records:
            inner = [_loader(a) for a in typing.get_args(tp) if a is not type(None)]
            return inner[0] if len(inner) == 1 else _identity
        by_kind = {kind: r for r in records if len(records) > 1
                   for kind in typing.get_args(typing.get_type_hints(r)["kind"])}

        def load_union(value: Any) -> Any:
            if value is None:
                return None
            if by_kind:
                kind = value.get("kind") if isinstance(value, dict) else None
                if kind not in by_kind:
                    raise ValueError(f"unknown kind {kind!r} (expected one of {', '.join(by_kind)})")
                return by_kind[kind].from_dict(value)
            return records[0].from_dict(value)

        return load_union
    if origin is list:
        item = _loader(typing.get_args(tp)[0])
        return _identity if item is _identity else (lambda value: [item(v) for v in value])
    if origin is dict:
        item = _loader(typing.get_args(tp)[1])
        return _identity if item is _identity else (lambda value: {k: item(v) for k, v in value.items()})
    if isinstance(tp, type) and issubclass(tp, Record):
        return tp.from_dict
    return _identity


_STRICT = ConfigDict(extra="forbid")
_OPEN = ConfigDict(extra="allow")
Extra = SkipJsonSchema[dict[str, Any]]
"""The keys an open record does not declare (written back after the declared ones; not in the schema)."""


def _extra() -> Any:
    return field(default_factory=dict, repr=False, compare=False)


# --------------------------------------------------------------------------------------
# regions and associations
# --------------------------------------------------------------------------------------


SAME_VALUE_RTOL = 1e-9
"""Relative difference under which two numbers are one value of a hyperparameter: a grid's 0.0631 written
as 0.063095734448 by one run and 0.06309573444801936 by another reaches the same bound."""


@dataclass(frozen=True, kw_only=True)
class Region(Record):
    """A region of one hyperparameter: a bucket ``[low, high)``, a value, or a threshold.

    ``value`` is a categorical value (text); a numeric value has ``low == high`` and no
    ``value``. A threshold has ``low`` (``≥ low``, direction ``above``) or ``high``
    (``≤ high``, ``below``). ``closed`` says whether ``high`` itself is inside (False
    only for a bucket other than the last, ``[low, high)``). :attr:`condition` is the
    text people read; compare regions by their fields (:attr:`key`), never by it.
    """

    __pydantic_config__ = _STRICT
    hyperparameter: str
    rule: RegionRule
    low: Number | None = None
    high: Number | None = None
    value: str | None = None
    closed: bool = True

    @property
    def direction(self) -> str | None:
        """``above`` / ``below`` for a threshold, else None."""
        if self.rule != "threshold":
            return None
        return "above" if self.low is not None else "below"

    @property
    def key(self) -> tuple[Any, ...]:
        """What identifies the region: hyperparameter, rule, bounds, value."""
        return (self.hyperparameter, self.rule, self.low, self.high, self.value, self.closed)

    @property
    def condition(self) -> str:
        """The region as the report writes it: ``lr ≥ 0.0631``, ``opt = adam``, ``bs in [32, 128)``."""
        hp = self.hyperparameter
        if self.rule == "value":
            return f"{hp} = {self.value if self.value is not None else format_number(self.low)}"
        if self.rule == "threshold":
            return f"{hp} ≥ {format_number(self.low)}" if self.low is not None else f"{hp} ≤ {format_number(self.high)}"
        return f"{hp} in [{format_number(self.low)}, {format_number(self.high)}{']' if self.closed else ')'}"

    def contains(self, x: Any) -> bool:
        """True when a parameter value lies in the region (a missing value only in ``(missing)``).

        A numeric value holds what the report writes the same way (``0.06310001`` is in
        ``x = 0.0631``: a grid value as a tuner reports it), and a bound reached within
        :data:`SAME_VALUE_RTOL` counts as reached (an open upper bound stays out).
        """
        if self.rule == "value":  # as the report names it: a grid's 0.06310001 is in "x = 0.0631"
            if x is None:
                return self.value == "(missing)"
            return as_text(x) == (self.value if self.value is not None else format_number(self.low))
        x = _as_float(x)
        if x is None or math.isnan(x):
            return False
        if self.low is not None and x < self.low - SAME_VALUE_RTOL * abs(self.low):
            return False
        if self.high is not None and (x > self.high + SAME_VALUE_RTOL * abs(self.high) * self.closed
                                      or (x == self.high and not self.closed)):
            return False
        return True

    def fields(self) -> dict[str, Any]:
        """The region's keys in an association, a pair's part or a finding's ``explained_by``.

        ``hyperparameter, rule, condition, lo, hi, value, direction, closed``.
        """
        return {"hyperparameter": self.hyperparameter, "rule": self.rule, "condition": self.condition,
                "lo": self.low, "hi": self.high, "value": self.value, "direction": self.direction,
                "closed": self.closed}

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Region:
        """The region of an association, a part of a pair or a finding's ``explained_by`` (keys as :meth:`fields`).

        Only the region's keys are read (absent bounds or value are None; ``closed``
        is true unless said otherwise).
        """
        return cls(hyperparameter=data["hyperparameter"], rule=data["rule"], low=data.get("lo"), high=data.get("hi"),
                   value=data.get("value"), closed=data.get("closed", True))


@dataclass(frozen=True, kw_only=True)
class Part(Record):
    """One region of a pair alone, without the other: its fields and ``k`` of ``n`` trials there.

    For a no-result issue type (failed, NaN/inf, diverged, no learning), ``n_no_result`` of
    the ``n`` trials were ended by another no-result issue: they could not show this one
    (a run that crashed never got to learn nothing), so the part's rate is judged among
    the other ``n_trained`` (:attr:`n_trained`).
    """

    __pydantic_config__ = _STRICT
    _omit_if_default = frozenset({"n_no_result"})
    hyperparameter: str
    rule: RegionRule
    condition: Annotated[str, _doc("display text; compare the fields")]
    lo: Number | None
    hi: Number | None
    value: str | None
    direction: Literal["above", "below"] | None
    closed: bool
    k: int
    n: int
    n_no_result: Annotated[int, _doc("of n, the trials another no-result issue ended (they could not show this one)")] = 0

    @property
    def n_trained(self) -> int:
        """The part's trials that could show the issue: ``n`` less those another no-result issue ended."""
        return self.n - self.n_no_result

    @property
    def region(self) -> Region:
        """The part's region."""
        return Region.of(self.to_dict())


@dataclass(frozen=True, kw_only=True)
class Band(Record):
    """The trials between a wider threshold and the narrower one beyond the top trials, counted per setting.

    A threshold of an avoidable issue type that holds top-ranked trials (``lr ≥ 0.0026``)
    has a narrower cut beside it that leaves them out (``lr ≥ 0.19``); the band is what
    lies between the two (``lr in [0.0026, 0.19)``), the part of the wider region a
    next sweep still samples. ``cells`` holds, per value of each other hyperparameter
    with values (``optimizer = adam``), ``k`` of ``n`` trials with the issue in the band:
    whether that setting's own runs fail there, where the narrower cut does not reach.
    """

    __pydantic_config__ = _STRICT
    condition: Annotated[str, _doc("display text; compare the fields")]
    lo: Number
    hi: Number
    closed: Annotated[bool, _doc("hi itself is inside")]
    cells: list[Part]


@dataclass(frozen=True, kw_only=True)
class Association(Record):
    """Issue counts and tests of one region (bucket, value, threshold) or pair of regions, for one issue type.

    A pair's ``lo``/``hi``/``direction`` are those of its second region when that is a
    threshold (``optimizer = adam and lr ≥ 0.016``), else None; its regions are in ``parts``.
    """

    __pydantic_config__ = _STRICT
    _omit_if_default = frozenset({"parts", "outside", "band"})
    id: Annotated[str, Field(pattern=r"^A\d+$")]
    hyperparameter: Annotated[str, _doc("the first one for a pair")]
    hyperparameters: list[str]
    rule: Literal["bucket", "value", "threshold", "pair"]
    condition: Annotated[str, _doc("display text; compare the regions' fields")]
    lo: Number | None
    hi: Number | None
    value: str | None
    direction: Literal["above", "below"] | None
    closed: Annotated[bool | None, _doc("hi itself is inside (False for an inner bucket [lo, hi)); None for a pair")]
    issue_type: IssueTypeName
    k: int
    n: int
    rate: Number
    ci: list[Number] | None
    k_rest: int
    n_rest: int
    rate_rest: Number
    risk_ratio: Number | None
    p: Number
    log_p: Annotated[Number, _doc("natural log of p, finite where p underflows to 0; rank tests on it")]
    q: Number
    trial_ids: list[str]
    parts: Annotated[list[Part] | None, _doc("a pair: each region without the other")] = None
    outside: Annotated[list[str] | None, _doc(
        "a residual test: the associations whose regions' trials were left out (the standing patterns of this "
        "issue type); counts and q are among the other trials, q over the residual tests alone")] = None
    band: Annotated[Band | None, _doc(
        "a threshold beside the narrower cut that spares the top trials: per other setting, the trials between "
        "the two cuts")] = None

    @property
    def regions(self) -> tuple[Region, ...]:
        """The region (one hyperparameter) or the two regions of a pair."""
        if self.rule == "pair":
            return tuple(part.region for part in self.parts or [])
        return (Region(hyperparameter=self.hyperparameter, rule=self.rule, low=self.lo, high=self.hi,
                       value=self.value, closed=bool(self.closed)),)

    @staticmethod
    def regions_of(data: Mapping[str, Any]) -> tuple[Region, ...]:
        """The regions of an association as the summary holds it, reading only their keys (no whole record)."""
        if data["rule"] == "pair":
            return tuple(Region.of(part) for part in data.get("parts") or [])
        return (Region.of(data),)

    @property
    def log_p_or_p(self) -> float:
        """The log p (a summary written before ``log_p`` was recorded: the log of ``p``)."""
        if self.log_p is not None:
            return float(self.log_p)
        return math.log(self.p) if self.p > 0 else -math.inf


# --------------------------------------------------------------------------------------
# the sweep as read
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MetricRole(Record):
    """What a metric column measures."""

    __pydantic_config__ = _STRICT
    kind: Annotated[str, _doc("loss, accuracy or objective")]
    split: Annotated[str | None, _doc("train, val, test, or None")]
    goal: Goal | None = None


@dataclass(frozen=True, kw_only=True)
class Roles(Record):
    """The role of every column (``core.roles.ColumnRoles.to_dict``)."""

    __pydantic_config__ = _STRICT
    id: str
    status: str | None
    metrics: dict[str, MetricRole]
    epochs: str | None
    runtime: str | None
    hyperparameters: list[str]
    ignored: dict[str, str]
    error: str | None = None
    seed: str | None = None
    mapping: Annotated[dict[str, str], _doc("roles given explicitly (--map, the reader)")] = field(default_factory=dict)
    budget: Annotated[str | None, _doc("the per-trial planned budget (max_epochs...), also a hyperparameter when it "
                                       "is not the epochs used")] = None
    best_epoch: Annotated[str | None, _doc("the epoch of the held-out best")] = None
    outcomes: Annotated[dict[str, str], _doc("outcome flags the sweep wrote -> the issue type each states")] = field(
        default_factory=dict)
    context: Annotated[dict[str, str], _doc("columns shown but never analysed as causes (hardware, derived "
                                            "quantities, run labels) -> why")] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class NumericRange(Record):
    """A numeric hyperparameter as searched."""

    __pydantic_config__ = _STRICT
    _omit_if_default = frozenset({"values"})
    kind: Literal["numeric"]
    min: Number | None
    max: Number | None
    n_values: int
    values: Annotated[list[Number] | None, _doc("the grid searched, when few values were each tried several "
                                                "times")] = None


@dataclass(frozen=True, kw_only=True)
class CategoricalRange(Record):
    """A categorical hyperparameter as searched (values with their counts)."""

    __pydantic_config__ = _STRICT
    kind: Literal["categorical"]
    values: dict[str, int]
    n_values: int


Range = Annotated[NumericRange | CategoricalRange, Field(discriminator="kind")]


@dataclass(frozen=True, kw_only=True)
class SweepInfo(Record):
    """What was read."""

    __pydantic_config__ = _STRICT
    source: str
    format: str | None = None
    n_trials: int
    roles: Roles
    status_counts: dict[str, int]
    hyperparameters: dict[str, Range]
    notes: list[str]


@dataclass(frozen=True, kw_only=True)
class SpaceParam(Record):
    """One parameter of the search space the input declares (``core.sweep.Sweep.space``)."""

    __pydantic_config__ = _STRICT
    kind: Literal["float", "int", "categorical"]
    low: Number | None
    high: Number | None
    log: bool
    step: Number | None
    choices: list[Any] | None
    source: str


# --------------------------------------------------------------------------------------
# issues and sweep-level facts
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Issue(Record):
    """One issue of one trial (one per trial and type)."""

    __pydantic_config__ = _STRICT
    _omit_if_default = frozenset({"epoch"})
    trial_id: str
    type: IssueTypeName
    severity: Severity
    detail: str
    epoch: Annotated[Number | None, _doc("the step a curve-based issue refers to")] = None


ISSUE_FIELDS = ("trial_id", "type", "severity", "detail", "epoch")
"""The keys of an issue row, in the order the summary writes them."""
INTERNED_FIELDS = ("trial_id", "type", "severity", "detail")
"""The issue columns :meth:`IssueColumns.to_state` stores as distinct values and codes."""


@dataclass(frozen=True, kw_only=True)
class IssueColumns(Sequence[Issue]):
    """The issue rows of a summary column by column (row ``i`` is ``trial_id[i]``, ``type[i]``...).

    This is how the graph's state holds ``summary["issues"]``: a 1M-trial sweep has a
    quarter of a million rows whose trial ids, types, severities and details repeat,
    so :meth:`to_state` stores each column's distinct values once with one small code
    per row, and ``epoch`` only for the rows that have one (a few MB in a checkpoint
    instead of 22). ``hparam_summary.json`` keeps the rows (:meth:`rows`);
    :func:`with_issue_rows` turns a summary of either form into the rows.

    It is also :attr:`Diagnosis.issues`: a sequence of :class:`Issue` records, each
    built when it is read (``issues[i]``, a slice gives columns), so code that reads
    every row reads the columns instead and a million trials are never typed one by one.
    """

    trial_id: list[str]
    type: list[str]
    severity: list[str]
    detail: list[str]
    epoch: list[float | None]
    """The step a curve-based issue refers to, None for the others."""

    def __post_init__(self) -> None:
        n = len(self.trial_id)
        if any(len(getattr(self, name)) != n for name in ISSUE_FIELDS):
            raise ValueError("issues: columns of different lengths (" + ", ".join(
                f"{name} {len(getattr(self, name))}" for name in ISSUE_FIELDS) + ")")

    def __len__(self) -> int:
        return len(self.trial_id)

    @typing.overload
    def __getitem__(self, i: int) -> Issue: ...

    @typing.overload
    def __getitem__(self, i: slice) -> IssueColumns: ...

    def __getitem__(self, i: int | slice) -> Issue | IssueColumns:
        """Row ``i`` as an :class:`Issue`; a slice of rows as columns."""
        if isinstance(i, slice):
            return IssueColumns(**{name: getattr(self, name)[i] for name in ISSUE_FIELDS})
        return Issue(trial_id=self.trial_id[i], type=self.type[i], severity=self.severity[i], detail=self.detail[i],
                     epoch=self.epoch[i])

    @classmethod
    def of(cls, issues: list[dict[str, Any]] | Mapping[str, Any] | IssueColumns) -> IssueColumns:
        """The columns of a summary's issues in either form: rows (``hparam_summary.json``) or :meth:`to_state`'s."""
        if isinstance(issues, IssueColumns):
            return issues
        if isinstance(issues, Mapping):
            return cls.from_state(issues)
        if not isinstance(issues, list):
            raise ValueError(f"issues: expected a list or the columns of IssueColumns.to_state, got {type(issues).__name__}")
        required, allowed = set(INTERNED_FIELDS), set(ISSUE_FIELDS)
        for row in issues:
            if not isinstance(row, dict) or not required <= row.keys() <= allowed:
                Issue.from_dict(row)  # raises, naming the key
        return cls.of_rows(issues)

    def rows(self) -> list[dict[str, Any]]:
        """The rows as ``hparam_summary.json`` holds them: ``{trial_id, type, severity, detail}``, ``epoch`` when set."""
        plain = ({"trial_id": i, "type": t, "severity": s, "detail": d}
                 for i, t, s, d in zip(self.trial_id, self.type, self.severity, self.detail))
        return [row if e is None else row | {"epoch": e} for row, e in zip(plain, self.epoch)]

    @classmethod
    def of_rows(cls, rows: list[dict[str, Any]]) -> IssueColumns:
        """The columns of issue rows (:meth:`rows`' inverse)."""
        return cls(trial_id=[r["trial_id"] for r in rows], type=[r["type"] for r in rows],
                   severity=[r["severity"] for r in rows], detail=[r["detail"] for r in rows],
                   epoch=[r.get("epoch") for r in rows])

    def to_state(self) -> dict[str, Any]:
        """JSON-native and compact: ``{"rows": n, COLUMN: {"values": [...], "codes": [...]}, "epoch": {"rows", "values"}}``.

        ``values`` holds a column's distinct values in order of first appearance and
        ``codes`` each row's index into them.
        """
        out: dict[str, Any] = {"rows": len(self)}
        for name in INTERNED_FIELDS:
            column = getattr(self, name)
            values = list(dict.fromkeys(column))  # distinct, in order of first appearance
            code = {v: i for i, v in enumerate(values)}
            out[name] = {"codes": list(map(code.__getitem__, column)), "values": values}
        at = [i for i, e in enumerate(self.epoch) if e is not None]
        out["epoch"] = {"rows": at, "values": [self.epoch[i] for i in at]}
        return out

    @classmethod
    def from_state(cls, data: Mapping[str, Any]) -> IssueColumns:
        """The columns of :meth:`to_state`'s form; ValueError on another shape."""
        try:
            columns = {name: list(map(data[name]["values"].__getitem__, data[name]["codes"])) for name in INTERNED_FIELDS}
            epoch: list[float | None] = [None] * int(data["rows"])
            for i, e in zip(data["epoch"]["rows"], data["epoch"]["values"]):
                epoch[i] = e
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"issues: not the columns of IssueColumns.to_state ({type(exc).__name__}: {exc})") from None
        return cls(**columns, epoch=epoch)  # __post_init__ checks the columns' lengths


def with_issue_rows(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary with its issues as rows, as ``hparam_summary.json`` holds it (either form accepted).

    Made anew at each call (0.07 s for the 240,000 rows of a million trials): a run makes
    them once, for the file; what only reads the issues reads :func:`issue_columns_of`.
    """
    issues = summary.get("issues")
    if not isinstance(issues, Mapping):
        return summary
    return summary | {"issues": IssueColumns.from_state(issues).rows()}


def issue_columns_of(summary: Mapping[str, Any]) -> IssueColumns:
    """A summary's issues column by column, whichever form it holds them in (none: no rows).

    What reads every issue of a summary (the analyst, the planner) reads these columns:
    no dict is made per row (the graph state holds the columns; the rows a million-trial
    sweep's file holds took 0.1 s to make, and were made for each reader).
    Rows need only ``trial_id`` and ``type`` (a hand-made summary may leave the rest out: None).
    """
    issues = summary.get("issues") or []
    if isinstance(issues, IssueColumns):
        return issues
    if isinstance(issues, Mapping):
        return IssueColumns.from_state(issues)
    return IssueColumns(trial_id=[r["trial_id"] for r in issues], type=[r["type"] for r in issues],
                        **{name: [r.get(name) for r in issues] for name in ("severity", "detail", "epoch")})


@dataclass(frozen=True, kw_only=True)
class IssueTypeInfo(Record):
    """One issue type of the vocabulary, as the summary states it."""

    __pydantic_config__ = _STRICT
    severity: Severity
    label: str


@dataclass(frozen=True, kw_only=True)
class BestTrial(Record):
    """The best finished trial (completed, early-stopped or cut by its time budget) without a high-severity issue."""

    __pydantic_config__ = _STRICT
    _omit_if_default = frozenset({"note"})
    trial_id: str
    metric: str
    goal: Goal | None
    value: Number
    status: str | None = None
    hyperparameters: dict[str, str | Number | None]
    note: Annotated[str | None, _doc("what the choice passed over: the objective compared when targets differ, the "
                                     "best trial's own low issues, a better trial left out for a high one")] = None


def top_configurations(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The configurations advice never throws away.

    Each of the summary's ``top_trials``' ``hyperparameters``, else the ``best_trial``'s
    (a summary before schema 1.3), else none.
    """
    top = [t["hyperparameters"] for t in summary.get("top_trials") or []]
    best = (summary.get("best_trial") or {}).get("hyperparameters")
    return top or ([best] if best else [])


@dataclass(frozen=True, kw_only=True)
class TopTrial(Record):
    """One of the best trials, ranked by the best trial's metric among trials ranked like it (``rank`` 1 is the best)."""

    __pydantic_config__ = _STRICT
    rank: Annotated[int, Field(ge=1)]
    trial_id: str
    value: Number
    status: str | None = None
    hyperparameters: dict[str, str | Number | None]


@dataclass(kw_only=True)
class Finding(Record):
    """A sweep-level finding; kind-specific keys (``side``, ``signature``, ``explained_by``...) are in ``extra``."""

    __pydantic_config__ = _OPEN
    id: Annotated[str, Field(pattern=r"^F\d+$")]
    kind: str
    title: str
    detail: str
    n_trials: int
    trial_ids: list[str]
    extra: Extra = _extra()


@dataclass(frozen=True, kw_only=True)
class Classes(Record):
    """Number of classes used by the chance-level rules, and how it was known."""

    __pydantic_config__ = _STRICT
    n: int | None
    how: str | None


@dataclass(kw_only=True)
class Curves(Record):
    """The per-step curves block, when the sweep had curves."""

    __pydantic_config__ = _OPEN
    source: str
    n_trials: int
    step_column: str
    trials: list[dict[str, Any]]
    extra: Extra = _extra()


# --------------------------------------------------------------------------------------
# analyst and writer (open: the model-facing parts evolve)
# --------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Evidence(Record):
    """The counts and tests behind a pattern."""

    __pydantic_config__ = _OPEN
    k: int
    n: int
    rate: Number | None = None
    ci: list[Number] | None = None
    k_rest: int
    n_rest: int
    rate_rest: Number | None = None
    risk_ratio: Number | None = None
    p: Number
    q: Number
    extra: Extra = _extra()


@dataclass(kw_only=True)
class Pattern(Record):
    """A pattern (``P1``...) or an inconclusive lead (``L1``...)."""

    __pydantic_config__ = _OPEN
    _omit_if_default = frozenset({"why", "explained_by"})
    id: str
    association_id: str | None = None
    issue_type: IssueTypeName
    hyperparameter: str | None = None
    hyperparameters: list[str] = field(default_factory=list)
    rule: Literal["bucket", "value", "threshold", "pair"] | None = None
    parts: Annotated[list[Part], _doc("a pair's regions, each without the other")] = field(default_factory=list)
    condition: Annotated[str, _doc("display text; the regions are in the association")]
    title: str
    explanation: str
    recommendation: str
    also_issue_types: Annotated[list[IssueTypeName], _doc("issue types of exactly the same trials there")] = field(
        default_factory=list)
    evidence: Evidence
    trial_ids: list[str]
    why: Annotated[str | None, _doc("a lead: why it is not a pattern")] = None
    explained_by: Annotated[str | None, _doc("the pair pattern that explains this marginal one")] = None
    extra: Extra = _extra()


@dataclass(kw_only=True)
class Recommendation(Record):
    """A recommendation with the facts it follows from."""

    __pydantic_config__ = _OPEN
    id: str
    text: str
    evidence: Any
    pattern_id: str | None = None
    trial_ids: list[str]
    extra: Extra = _extra()


@dataclass(kw_only=True)
class Analysis(Record):
    """Settings of the analysis."""

    __pydantic_config__ = _OPEN
    alpha: Number
    min_support: int
    extra: Extra = _extra()


@dataclass(kw_only=True)
class Writer(Record):
    """Who wrote the prose, and what was removed or sent back."""

    __pydantic_config__ = _OPEN
    author: str
    narrative: str | None = None
    notes: list[str]
    extra: Extra = _extra()


# --------------------------------------------------------------------------------------
# the next sweep (core.next_sweep)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SearchedNumeric(Record):
    """The range the sweep searched."""

    __pydantic_config__ = _STRICT
    low: Number | None
    high: Number | None


@dataclass(frozen=True, kw_only=True)
class SearchedCategorical(Record):
    """The values the sweep searched."""

    __pydantic_config__ = _STRICT
    values: list[str]
    n_values: int


@dataclass(kw_only=True)
class NextNumeric(Record):
    """Sample in [low, high] (log-uniformly when ``log``), never inside an ``exclude`` interval (closed)."""

    __pydantic_config__ = _STRICT
    _omit_if_default = frozenset({"values", "step", "declared"})
    kind: Literal["float", "int"]
    low: Number | None
    high: Number | None
    log: bool
    exclude: list[Annotated[list[Number], Field(min_length=2, max_length=2)]]
    changed: Annotated[bool, _doc("the range of the whole sweep changed (conditions aside)")]
    searched: SearchedNumeric
    declared: Annotated[bool, _doc("the range started from the search space the input declares")] = False
    step: Number | None = None
    values: Annotated[list[Number] | None, _doc("a grid: sample only these values (those in [low, high] and not "
                                                "excluded)")] = None


@dataclass(kw_only=True)
class NextCategorical(Record):
    """The values to keep searching, and those left out."""

    __pydantic_config__ = _STRICT
    _omit_if_default = frozenset({"declared"})
    kind: Literal["categorical"]
    values: list[str]
    exclude: list[str]
    declared: Annotated[bool, _doc("the values started from the search space the input declares")] = False
    changed: bool
    searched: SearchedCategorical


NextRange = Annotated[NextNumeric | NextCategorical, Field(discriminator="kind")]


@dataclass(frozen=True, kw_only=True)
class PlanRegion(Record):
    """A region of one hyperparameter a condition holds in: a ``value``, or ``low``/``high``."""

    __pydantic_config__ = _STRICT
    hyperparameter: str
    condition: Annotated[str, _doc("display text")]
    value: str | Number | None = None
    low: Number | None = None
    high: Number | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{hyperparameter, condition, value}`` for a value, else ``{hyperparameter, condition, low, high}``."""
        out = {"hyperparameter": self.hyperparameter, "condition": self.condition}
        return out | ({"value": self.value} if self.value is not None else {"low": self.low, "high": self.high})

    @classmethod
    def of(cls, region: Region) -> PlanRegion:
        """The plan's form of a region: a value (categorical, or numeric ``low == high``), else the bounds."""
        if region.value is not None:
            return cls(hyperparameter=region.hyperparameter, condition=region.condition, value=region.value)
        if region.rule == "value":
            return cls(hyperparameter=region.hyperparameter, condition=region.condition, value=region.low)
        return cls(hyperparameter=region.hyperparameter, condition=region.condition, low=region.low, high=region.high)


@dataclass(kw_only=True)
class PlanCondition(Record):
    """A range that holds only within a region of another hyperparameter."""

    __pydantic_config__ = _STRICT
    when: PlanRegion
    hyperparameter: str
    low: Number | None
    high: Number | None
    exclude: list[list[Number] | str]
    evidence: str


@dataclass(frozen=True, kw_only=True)
class Epochs(Record):
    """A raised epoch budget."""

    __pydantic_config__ = _STRICT
    _keys = {"from_": "from"}
    column: str | None
    from_: Annotated[Number, Field(alias="from")]
    to: Number
    when: str | None


@dataclass(frozen=True, kw_only=True)
class Settings(Record):
    """Budget changes."""

    __pydantic_config__ = _STRICT
    _omit_if_default = frozenset({"epochs"})
    epochs: Epochs | None = None


@dataclass(frozen=True, kw_only=True)
class StartFrom(Record):
    """The best healthy trial, to enqueue first."""

    __pydantic_config__ = _STRICT
    trial_id: str
    hyperparameters: dict[str, str | Number | None]


@dataclass(frozen=True, kw_only=True)
class Change(Record):
    """One change of the search space, with the fact it follows from."""

    __pydantic_config__ = _STRICT
    _keys = {"from_": "from"}
    hyperparameter: str | None
    action: Literal["cap", "raise_low", "exclude", "cap_when", "raise_low_when", "exclude_when", "widen",
                    "regularise", "add", "more_epochs"]
    from_: Annotated[Any, Field(alias="from")]
    to: Any
    when: str | None
    evidence: Annotated[str, _doc("P2, F1, A12, 'P4, A57', or issue_counts.TYPE")]
    reason: str
    trial_ids: list[str]


@dataclass(frozen=True, kw_only=True)
class Objective(Record):
    """The metric the next sweep should optimise."""

    __pydantic_config__ = _STRICT
    metric: str
    goal: Goal | None


@dataclass(kw_only=True)
class NextSweep(Record):
    """The next sweep to run (``core.next_sweep.plan_next_sweep``)."""

    __pydantic_config__ = _STRICT
    objective: Objective | None
    hyperparameters: dict[str, NextRange]
    conditions: list[PlanCondition]
    settings: Settings
    start_from: StartFrom | None
    changes: list[Change]


# --------------------------------------------------------------------------------------
# the diagnosis
# --------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Diagnosis(Record):
    """hparam_summary.json: every fact the report states.

    ``curves``, ``search_space`` and ``next_sweep`` are there only when the sweep had
    curves, declared a search space, or the plan was made (the CLI makes it; a graph
    run may not).
    """

    __pydantic_config__ = ConfigDict(extra="forbid", title="Hyperparameter Pathology Inspector summary")
    _omit_if_default = frozenset({"curves", "search_space", "next_sweep"})
    schema_version: str
    sweep: SweepInfo
    thresholds: dict[str, Number | None]
    issue_types: dict[IssueTypeName, IssueTypeInfo]
    issues: Sequence[Issue]  # an IssueColumns, whichever form the summary held: rows are typed as they are read
    issue_counts: dict[IssueTypeName, int]
    trials_affected: int
    severity_counts: dict[str, int]
    associations: list[Association]
    best_trial: BestTrial | None
    top_trials: Annotated[list[TopTrial], _doc("the best trials, best first (core.summary.TOP_K of them)")] = field(
        default_factory=list)
    findings: list[Finding]
    classes: Classes
    curves: Curves | None = None
    search_space: dict[str, SpaceParam] | None = None
    patterns: list[Pattern]
    leads: list[Pattern]
    recommendations: list[Recommendation]
    analysis: Analysis
    hypotheses: list[dict[str, Any]] = field(default_factory=list)
    writer: Writer
    next_sweep: NextSweep | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.issues, IssueColumns):  # built in code from a list of Issue records or rows
            self.issues = IssueColumns.of([i.to_dict() if isinstance(i, Issue) else i for i in self.issues])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        """The diagnosis of a summary: ``hparam_summary.json``, or the graph's ``summary`` (issues column by column)."""
        version = data.get("schema_version") if isinstance(data, dict) else None
        try:
            if isinstance(data, dict) and "issues" in data:
                data = data | {"issues": IssueColumns.of(data["issues"])}
            return super().from_dict(data)
        except ValueError as exc:
            if version is None or version == SCHEMA_VERSION:
                raise
            raise ValueError(f"{exc} (a summary of schema {version}; this version reads {SCHEMA_VERSION})") from None

    @classmethod
    def of(cls, summary: Diagnosis | dict[str, Any]) -> Diagnosis:
        """A diagnosis as it is, a summary (either form of its issues) as its diagnosis: what a renderer reads."""
        return summary if isinstance(summary, Diagnosis) else cls.from_dict(summary)


def _as_float(value: Any) -> float | None:
    """A parameter value as a number (numeric text too); None for a boolean or what is not a number."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_text(value: Any) -> str:
    """A parameter value as the associations name a value: numbers through ``format_number``, the rest as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    x = _as_float(value)
    if x is not None and math.isfinite(x) and not isinstance(value, str):
        return format_number(x)
    return str(value)
