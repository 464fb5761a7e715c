"""Optuna: a ``trials_dataframe()`` table, a SQLite storage read directly, other storages through optuna.

All three give the same columns, those of ``study.trials_dataframe()``: ``number``, the
objective (``value``, ``values_0``..., or ``value_<name>`` when the study has metric
names), ``datetime_start``, ``datetime_complete``, ``duration``, ``params_<p>``,
``user_attrs_<k>`` and ``state``; prefixes are then dropped where no name collides
(``params_lr`` -> ``lr``). The SQLite schema is read with :mod:`sqlite3` (optuna need
not be installed); intermediate values become curves (``trial_id, step, <objective>``),
with NaN and infinities kept.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InputError
from core.loading import RawTable
from core.roles import canonical, classify_metric
from core.sources._common import frame_of, mark_abandoned, readable_names, rename_note, space_entry, text
from core.sweep import Sweep
from core.values import parse_numeric

_DIRECTIONS = {"MINIMIZE": "min", "MAXIMIZE": "max", "1": "min", "2": "max"}
_VALUE_TYPES = {"INF_POS": "inf", "INF_NEG": "-inf", "NAN": "nan"}
_INT_DISTRIBUTIONS = {"IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution"}


# --- trials_dataframe() tables ---------------------------------------------------------------

def from_trials_dataframe(raw: RawTable, directions: list[str | None] | None = None) -> tuple[Sweep, dict[str, str]]:
    """A ``trials_dataframe()`` table (CSV, Parquet, or built from a storage) as a :class:`Sweep`.

    ``directions`` (``"min"``/``"max"`` per objective) come from a storage; a CSV does
    not say, so its objective has no goal unless ``--map value=metric:objective:max``, or
    unless its infinities say it (:func:`_direction_of_infinities`, with a note).
    """
    frame = raw.frame.copy()
    columns = [str(c) for c in frame.columns]
    value_cols = _value_columns(columns)
    abandoned = mark_abandoned(frame, "state", "datetime_start", raw.source, end="datetime_complete", runtime="duration",
                               results=value_cols)
    renames = readable_names(columns, ["value_", "values_", "params_", "user_attrs_"])
    renames = {old: new for old, new in renames.items()
               if not (old in value_cols and (new.isdigit() or old == "values"))}
    hints: dict[str, str] = {"number": "id", "state": "status"}
    if "duration" in columns:
        hints["duration"] = "runtime"
    inferred: list[str] = []
    for i, col in enumerate(value_cols):
        goal = (directions[i] if directions and i < len(directions) else None) or ""
        if directions is None and (read := _direction_of_infinities(frame[col])):
            goal, count, value = read
            trials = f"{count} trial{'' if count == 1 else 's'}"
            inferred.append(f"the export does not say whether `{col}` was minimised or maximised: read as "
                            f"{'minimised' if goal == 'min' else 'maximised'}, since {trials} returned {value}, the "
                            "worst value there is only in that direction (what an objective returns for a trial it "
                            f"gave up on); give --map {col}=metric:objective:{'max' if goal == 'min' else 'min'} if "
                            "the study went the other way")
        label = col.split("_", 1)[1] if "_" in col else ""
        known = bool(label) and not label.isdigit() and classify_metric(label) is not None
        hints[col] = (f"metric:{label}" if known else "metric:objective") + (f":{goal}" if goal else "")
    seed_taken = False
    for col in columns:
        if col.startswith("params_"):
            is_seed = "seed" in canonical(col).split("_") and not seed_taken
            hints[col] = "seed" if is_seed else "hyperparameter"
            seed_taken = seed_taken or is_seed
        elif col.startswith("datetime_") or (col.startswith("system_attrs_") and col != "system_attrs_fail_reason"):
            hints[col] = "ignore"
        elif col == "system_attrs_fail_reason":
            hints[col] = "error"
    hints = {renames.get(c, c): spec for c, spec in hints.items() if c in columns}
    notes = (list(raw.notes) + abandoned + rename_note(raw.source, renames, "Optuna params_/user_attrs_")
             + [f"{raw.source}: {note}" for note in inferred])
    table = RawTable(frame=frame.rename(columns=renames), source=raw.source, notes=notes)
    return Sweep(trials=table, role_hints=hints, format="optuna-csv"), renames


def _direction_of_infinities(cells: pd.Series) -> tuple[str, int, str] | None:
    """``("min", k, "+inf")`` when an objective's only infinities are +inf (``"max"`` for -inf), else None.

    Optuna stores what the objective returned; an objective that gives up on a trial (an
    exception caught, an infeasible configuration) returns the worst value there is, +inf
    when the study minimises and -inf when it maximises (a maximising study would chase a
    +inf). Infinities of both signs, or none, say nothing of the direction.
    """
    values = parse_numeric(cells)[0].to_numpy(dtype=float)
    high, low = int(np.sum(values == np.inf)), int(np.sum(values == -np.inf))
    if high and not low:
        return "min", high, "+inf"
    if low and not high:
        return "max", low, "-inf"
    return None


def _value_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if c in ("value", "values") or c.startswith(("value_", "values_"))]


# --- SQLite storages, read directly --------------------------------------------------------------

def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///relative.db`` or ``sqlite:////abs/x.db`` URL."""
    rest = url.split(":", 1)[1]
    if not rest.startswith("///"):
        raise InputError(f"{url}: expected sqlite:///path/to/file.db")
    path = rest[3:].split("?", 1)[0]
    if not path or path == ":memory:":
        raise InputError(f"{url}: an in-memory database holds no study")
    return Path(path)


@contextmanager
def connect(path: Path, name: str) -> Iterator[sqlite3.Connection]:
    """Open an SQLite file read-only (never creating it); errors become one-line InputErrors."""
    if not path.is_file():
        raise InputError(f"{name}: SQLite file {path} not found")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InputError(f"{name}: cannot open as SQLite ({exc})") from None
    try:
        try:
            con.execute("select count(*) from sqlite_master").fetchone()
        except sqlite3.OperationalError:  # e.g. a WAL database in a read-only directory
            con.close()
            con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        yield con
    except sqlite3.Error as exc:
        raise InputError(f"{name}: cannot read as SQLite ({exc})") from None
    finally:
        con.close()


def sqlite_tables(path: Path, name: str) -> set[str]:
    """Names of the tables of an SQLite file."""
    with connect(path, name) as con:
        return {row[0] for row in con.execute("select name from sqlite_master where type = 'table'")}


def read_sqlite(name: str, study: str | None = None) -> tuple[Sweep, dict[str, str]]:
    """An Optuna SQLite storage (``sqlite:///x.db`` or the file) as a :class:`Sweep`, without optuna."""
    path = sqlite_path(name) if name.lower().startswith("sqlite:") else Path(name)
    with connect(path, name) as con:
        study_id, study_name, n_studies = _choose_study(con, name, study)
        directions = _directions(con, study_id)
        metric_names = _metric_names(con, study_id)
        trials = _sqlite_trials(con, study_id)
    return _sweep_from_trials(trials, name, study_name, n_studies, directions, metric_names, "optuna-sqlite")


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f"pragma table_info({table})")}


def _choose_study(con: sqlite3.Connection, name: str, study: str | None) -> tuple[int, str, int]:
    rows = con.execute("select study_id, study_name from studies order by study_id").fetchall()
    if not rows:
        raise InputError(f"{name}: the Optuna storage holds no study")
    if study is None:
        if len(rows) > 1:
            names = ", ".join(r[1] for r in rows[:10])
            raise InputError(f"{name}: the storage holds {len(rows)} studies ({names}); choose one with --study NAME")
        return rows[0][0], rows[0][1], 1
    for study_id, study_name in rows:
        if study_name == study:
            return study_id, study_name, len(rows)
    raise InputError(f"{name}: no study named {study!r}; studies: {', '.join(r[1] for r in rows[:10])}")


def _directions(con: sqlite3.Connection, study_id: int) -> list[str | None]:
    tables = {row[0] for row in con.execute("select name from sqlite_master where type = 'table'")}
    if "study_directions" in tables:
        rows = con.execute("select direction from study_directions where study_id = ? order by objective",
                           (study_id,)).fetchall()
    elif "direction" in _columns(con, "studies"):
        rows = con.execute("select direction from studies where study_id = ?", (study_id,)).fetchall()
    else:
        rows = []
    return [_DIRECTIONS.get(str(r[0]).rsplit(".", 1)[-1].upper()) for r in rows]


def _metric_names(con: sqlite3.Connection, study_id: int) -> list[str] | None:
    try:
        row = con.execute("select value_json from study_system_attributes where study_id = ? and key = ?",
                          (study_id, "study:metric_names")).fetchone()
    except sqlite3.OperationalError:
        return None
    names = json.loads(row[0]) if row else None
    return [str(n) for n in names] if isinstance(names, list) else None


def _sqlite_trials(con: sqlite3.Connection, study_id: int) -> list[dict[str, Any]]:
    """One dict per trial: number, state, datetimes, values, params, user_attrs, fail_reason, intermediate."""
    tables = {row[0] for row in con.execute("select name from sqlite_master where type = 'table'")}
    trial_cols = _columns(con, "trials")
    number = "number" if "number" in trial_cols else "trial_id"
    trials: dict[int, dict[str, Any]] = {}
    for trial_id, num, state, start, complete in con.execute(
        f"select trial_id, {number}, state, datetime_start, datetime_complete from trials "
        f"where study_id = ? order by {number}, trial_id", (study_id,)
    ):
        trials[trial_id] = {"number": num, "state": str(state).rsplit(".", 1)[-1], "datetime_start": start,
                            "datetime_complete": complete, "values": {}, "params": {}, "user_attrs": {},
                            "fail_reason": None, "intermediate": {}, "distributions": {}}
    in_study = "trial_id in (select trial_id from trials where study_id = ?)"
    if "trial_values" in tables:
        typed = "value_type" in _columns(con, "trial_values")
        query = f"select trial_id, objective, value, {'value_type' if typed else 'null'} from trial_values where {in_study}"
        for trial_id, objective, value, kind in con.execute(query, (study_id,)):
            trials[trial_id]["values"][objective] = _typed_value(value, kind)
    elif "value" in trial_cols:
        for trial_id, value in con.execute("select trial_id, value from trials where study_id = ?", (study_id,)):
            if value is not None:
                trials[trial_id]["values"][0] = float(value)
    for trial_id, param, value, distribution in con.execute(
        f"select trial_id, param_name, param_value, distribution_json from trial_params where {in_study}", (study_id,)
    ):
        trials[trial_id]["params"][param] = _param_value(value, distribution)
        trials[trial_id]["distributions"][param] = distribution
    if "trial_user_attributes" in tables:
        for trial_id, key, value_json in con.execute(
            f"select trial_id, key, value_json from trial_user_attributes where {in_study}", (study_id,)
        ):
            trials[trial_id]["user_attrs"][key] = _json_value(value_json)
    if "trial_system_attributes" in tables:
        for trial_id, value_json in con.execute(
            f"select trial_id, value_json from trial_system_attributes where key = 'fail_reason' and {in_study}",
            (study_id,),
        ):
            trials[trial_id]["fail_reason"] = _json_value(value_json)
    if "trial_intermediate_values" in tables:
        cols = _columns(con, "trial_intermediate_values")
        value_col = "intermediate_value" if "intermediate_value" in cols else "value"
        kind_col = "intermediate_value_type" if "intermediate_value_type" in cols else "null"
        for trial_id, step, value, kind in con.execute(
            f"select trial_id, step, {value_col}, {kind_col} from trial_intermediate_values where {in_study} "
            f"order by trial_id, step", (study_id,)
        ):
            # Before the value_type column (optuna < 3), a NaN intermediate value was stored as NULL.
            trials[trial_id]["intermediate"][step] = _typed_value(value, kind) if value is not None or kind else "nan"
    return list(trials.values())


def _typed_value(value: Any, kind: Any) -> Any:
    if kind and str(kind) in _VALUE_TYPES:
        return float(_VALUE_TYPES[str(kind)])
    return None if value is None else float(value)


def _param_value(value: Any, distribution: str | None) -> Any:
    try:
        spec = json.loads(distribution or "{}")
    except json.JSONDecodeError:
        spec = {}
    kind = spec.get("name")
    if kind == "CategoricalDistribution":
        choices = spec.get("attributes", {}).get("choices", [])
        index = int(value)
        return choices[index] if 0 <= index < len(choices) else value
    if kind in _INT_DISTRIBUTIONS:
        return int(value)
    return None if value is None else float(value)


def _json_value(value_json: str | None) -> Any:
    if value_json is None:
        return None
    try:
        return json.loads(value_json)
    except json.JSONDecodeError:
        return value_json


# --- other storages, through optuna -------------------------------------------------------------

def read_storage(url: str, study: str | None = None) -> tuple[Sweep, dict[str, str]]:
    """Any storage URL optuna can open (PostgreSQL, MySQL, ...), through optuna itself."""
    try:
        import optuna
    except ImportError:
        raise InputError(f"{url}: reading this storage needs optuna (pip install optuna); "
                         "SQLite files (sqlite:///x.db) are read without it") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        names = optuna.study.get_all_study_names(storage=url)
    except Exception as exc:  # noqa: BLE001 - any driver or connection error is bad input here
        raise InputError(f"{url}: cannot open the Optuna storage ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not names:
        raise InputError(f"{url}: the Optuna storage holds no study")
    if study is None and len(names) > 1:
        raise InputError(f"{url}: the storage holds {len(names)} studies ({', '.join(names[:10])}); "
                         "choose one with --study NAME")
    if study is not None and study not in names:
        raise InputError(f"{url}: no study named {study!r}; studies: {', '.join(names[:10])}")
    loaded = optuna.load_study(study_name=study or names[0], storage=url)
    return from_study(loaded, loaded.get_trials(deepcopy=False), url, len(names))


def from_study(study: Any, trials: list[Any], name: str, n_studies: int = 1,
               format: str = "optuna-storage") -> tuple[Sweep, dict[str, str]]:
    """``trials`` (optuna ``FrozenTrial`` objects) of a live ``optuna.Study`` as a :class:`Sweep`."""
    from optuna.distributions import distribution_to_json

    directions = [_DIRECTIONS.get(d.name) for d in study.directions]
    rows = [{
        "number": t.number, "state": t.state.name, "datetime_start": t.datetime_start,
        "datetime_complete": t.datetime_complete, "values": dict(enumerate(t.values or [])),
        "params": dict(t.params), "user_attrs": dict(t.user_attrs),
        "fail_reason": t.system_attrs.get("fail_reason"), "intermediate": dict(t.intermediate_values),
        "distributions": {p: distribution_to_json(d) for p, d in t.distributions.items()},
    } for t in trials]
    return _sweep_from_trials(rows, name, study.study_name, n_studies, directions, study.metric_names, format)


# --- shared ------------------------------------------------------------------------------------

def _sweep_from_trials(trials: list[dict[str, Any]], name: str, study_name: str, n_studies: int,
                       directions: list[str | None], metric_names: list[str] | None,
                       format: str) -> tuple[Sweep, dict[str, str]]:
    if not trials:
        raise InputError(f"{name}: study {study_name!r} has no trials")
    n_objectives = max([len(directions)] + [len(t["values"]) for t in trials]) or 1
    value_cols = _value_names(n_objectives, metric_names)
    params = sorted({p for t in trials for p in t["params"]})
    attrs = sorted({k for t in trials for k in t["user_attrs"]})
    with_reason = any(t["fail_reason"] for t in trials)
    rows = []
    for t in trials:
        row: dict[str, str | None] = {"number": text(t["number"])}
        for i, col in enumerate(value_cols):
            row[col] = text(t["values"].get(i))
        row["datetime_start"] = _time_text(t["datetime_start"])
        row["datetime_complete"] = _time_text(t["datetime_complete"])
        row["duration"] = _duration(t["datetime_start"], t["datetime_complete"])
        row.update({f"params_{p}": text(t["params"].get(p)) for p in params})
        row.update({f"user_attrs_{k}": text(t["user_attrs"].get(k)) for k in attrs})
        if with_reason:
            row["system_attrs_fail_reason"] = text(t["fail_reason"])
        row["state"] = text(t["state"])
        rows.append(row)
    which = f"study {study_name!r}" + (f" (1 of {n_studies} in the storage)" if n_studies > 1 else "")
    raw = RawTable(frame=frame_of(rows), source=name, notes=[f"{name}: read {which}"])
    sweep, renames = from_trials_dataframe(raw, directions)
    sweep.format = format
    sweep.space = _space(trials, renames)
    curve_col = renames.get(value_cols[0], value_cols[0])
    curve_rows = [{"trial_id": text(t["number"]), "step": text(step), curve_col: text(value)}
                  for t in trials for step, value in sorted(t["intermediate"].items())]
    if curve_rows:
        sweep.curves = RawTable(frame=frame_of(curve_rows, ["trial_id", "step", curve_col]), source=name)
        sweep.curve_hints = {curve_col: _curve_spec(sweep.role_hints[curve_col])}
    return sweep, renames


def _curve_spec(objective_spec: str) -> str:
    """The role of the intermediate values: the objective as the study reports it while training.

    What a pruner compares step by step is a held-out measurement, so an objective the
    study minimises and whose name says nothing more is read as a held-out loss (every
    curve rule then runs on it: divergence, plateau, still improving, ...); a named
    objective (``val_loss``, ``accuracy``) keeps its own kind, with the study's direction.
    """
    _, _, rest = objective_spec.partition(":")
    like, _, goal = rest.partition(":")
    if like == "objective" and goal == "min":
        return "metric:val_loss:min"
    return objective_spec


def _space(trials: list[dict[str, Any]], renames: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The declared distribution of each parameter, by column name.

    A study whose space changed between trials (``suggest_float("lr", 1e-6, 1e-4)``,
    later ``1e-4, 1e-3``) declares the union of what its trials were drawn from: the
    widest bounds, every choice; log and step as the latest trial declares them.
    """
    space: dict[str, dict[str, Any]] = {}
    for distribution_json in dict.fromkeys((p, d) for t in trials for p, d in t["distributions"].items() if d):
        param, distribution = distribution_json
        entry = _distribution(distribution)
        if entry is None:
            continue
        name = renames.get(f"params_{param}", f"params_{param}")
        before = space.get(name)
        if before is not None and before["kind"] == entry["kind"]:
            if entry["choices"] is not None:
                entry["choices"] = before["choices"] + [c for c in entry["choices"] if c not in before["choices"]]
            else:
                if before["step"] != entry["step"]:  # one grid that holds both: the common divisor (ints), else none
                    steps = (before["step"], entry["step"], entry["low"] - before["low"])
                    ints = entry["kind"] == "int" and None not in steps[:2]
                    entry["step"] = math.gcd(*map(int, steps)) or 1 if ints else None
                entry["low"], entry["high"] = min(before["low"], entry["low"]), max(before["high"], entry["high"])
        space[name] = entry
    return dict(sorted(space.items()))


def _distribution(distribution: str) -> dict[str, Any] | None:
    """One ``distribution_json`` (current and pre-3.0 class names) as a search-space entry."""
    try:
        spec = json.loads(distribution)
    except (TypeError, json.JSONDecodeError):
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("attributes"), dict):
        return None
    kind, attrs = spec.get("name"), spec["attributes"]
    if kind == "CategoricalDistribution":
        return space_entry("categorical", "optuna", choices=list(attrs.get("choices") or []))
    log = bool(attrs.get("log")) or kind in {"LogUniformDistribution", "IntLogUniformDistribution"}
    step = attrs.get("step", attrs.get("q"))
    if kind in _INT_DISTRIBUTIONS:
        return space_entry("int", "optuna", attrs.get("low"), attrs.get("high"), log, None if log else step or 1)
    if kind in {"FloatDistribution", "UniformDistribution", "LogUniformDistribution", "DiscreteUniformDistribution"}:
        return space_entry("float", "optuna", attrs.get("low"), attrs.get("high"), log, step)
    return None


def _value_names(n: int, metric_names: list[str] | None) -> list[str]:
    """The objective columns trials_dataframe() writes."""
    if metric_names and len(metric_names) == n:
        return [f"value_{metric_names[0]}"] if n == 1 else [f"values_{m}" for m in metric_names]
    return ["value"] if n == 1 else [f"values_{i}" for i in range(n)]


def _time_text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat(sep=" ") if isinstance(value, datetime) else str(value)


def _duration(start: Any, complete: Any) -> str | None:
    if start is None or complete is None:
        return None
    try:
        begin = start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
        end = complete if isinstance(complete, datetime) else datetime.fromisoformat(str(complete))
    except ValueError:
        return None
    return text((end - begin).total_seconds())
