"""Sweep-level findings: facts about the sweep as a whole, not about one trial.

Each finder is a function ``(table, issues, best_trial, space) -> list of findings`` listed
in :data:`FINDERS` (``space``: the declared search space, read by the finders that need
it); a finding is a JSON-native dict with ``kind``, ``title`` (one line), ``detail``,
``trial_ids`` (at most ``max_ids``), ``n_trials`` (the full count) and kind-specific keys.
:func:`find_sweep_findings` numbers them ``F1``, ``F2``...

Kinds: ``error_kind`` (failed trials grouped by exception type and message shape),
``infeasible_fraction`` (share of trials that gave no usable result, with a Wilson
interval), ``by_design`` (early-stopped, pruned and time-budget trials, counted and
explained, never blamed), ``abandoned`` (trials left running by a worker that stopped: no
outcome, counted, never blamed), ``edge_of_range`` (the best trial sits at the edge of a
searched range: widen it) and ``seed_instability`` (one configuration, several seeds, outcomes that
disagree).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.detectors import NONFINITE_TEXT
from core.domains import at_natural_edge, edge_cut, log_scaled
from core.issue_types import NO_OUTCOME, NO_RESULT
from core.stats import wilson_interval
from core.status import EARLY_STOP
from core.table import TrialTable
from core.values import format_number, format_rate, text_matches

Finding = dict[str, Any]
Space = dict[str, dict[str, Any]] | None
"""The declared search space (the summary's ``search_space``), when the input has one."""

_EXCEPTION = re.compile(r"\b([A-Z][A-Za-z0-9_]*(?:Error|Exception|Exit|Interrupt|Warning|Fault))\b")
_SHAPES = (
    (re.compile(r"0x[0-9a-fA-F]+"), "0x…"),
    (re.compile(r"\d+(?:\.\d+)?\s*[KMGTP]i?B\b"), "N bytes"),
    (re.compile(r"(?:/[^\s/:'\"]+){2,}/?"), "<path>"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "'…'"),
    (re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"), "N"),
    (re.compile(r"(?<![A-Za-z_])[-+]?(?:nan|inf(?:inity)?)(?![A-Za-z_])", re.IGNORECASE), "N"),
)


def error_signature(text: str) -> str:
    """The kind of an error message: exception type plus the message with specifics masked.

    The last line naming an exception is used (the bottom of a traceback); numbers
    (``nan`` and ``inf`` too: "loss is nan" and "loss is inf" are one kind of error)
    become ``N``, quoted strings ``'…'``, paths ``<path>`` and addresses ``0x…``, so
    "CUDA out of memory. Tried to allocate 2.00 GiB" and "... 512.00 MiB" are one kind
    (sizes become ``N bytes``).
    """
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    if not lines:
        return ""
    line = next((ln for ln in reversed(lines) if _EXCEPTION.search(ln)), lines[-1])
    for pattern, mask in _SHAPES:
        line = pattern.sub(mask, line)
    line = " ".join(line.split())
    return line if len(line) <= 120 else line[:119] + "…"


def find_error_kinds(table: TrialTable, issues: pd.DataFrame, best: dict[str, Any] | None, space: Space = None,
                     max_ids: int = 20) -> list[Finding]:
    """Group the error messages of the sweep by :func:`error_signature`, largest first."""
    if table.errors is None:
        return []
    present = table.errors.notna()
    if not present.any():
        return []
    signatures = table.errors[present].map(error_signature)
    found = []
    for signature, rows in signatures.groupby(signatures, sort=False).groups.items():
        ids = table.ids[rows].tolist()
        exception = _EXCEPTION.search(signature)
        statuses = table.status[rows]
        explained = _where_it_happens(table, rows) if len(ids) >= _MIN_GROUP and len(found) < _MAX_GROUPS_TESTED else None
        found.append({
            "kind": "error_kind",
            "title": f"{len(ids)} trial{'s' if len(ids) != 1 else ''}: {signature}",
            "detail": "same exception type and message shape"
            + (" (a non-finite loss)" if table.errors[rows].str.contains(NONFINITE_TEXT).any() else "")
            + (f"; it happens at {explained['condition']} ({explained['k']} of {explained['n']} there, "
               f"{explained['k_rest']} of {explained['n_rest']} elsewhere)" if explained else ""),
            "signature": signature,
            "exception": exception.group(1) if exception else None,
            "n_trials": len(ids),
            "budget_cut": bool((statuses == "timeout").mean() > 0.5),
            "explained_by": explained,
            "trial_ids": ids[:max_ids],
        })
    return sorted(found, key=lambda f: -f["n_trials"])


_MIN_GROUP = 3  # an error group is tested against the hyperparameters from this many trials
_MAX_GROUPS_TESTED = 10


def _where_it_happens(table: TrialTable, rows: Any, alpha: float = 0.05) -> dict[str, Any] | None:
    """The hyperparameter region where one kind of error concentrates, tested like any issue type.

    The error group's trials are the flagged set of :func:`core.associations.associate_issues`
    (marginal regions and thresholds, Benjamini-Hochberg across this group's tests); the
    most significant over-represented region with q < ``alpha`` and every one of at
    least 3 trials is returned (the region's fields, :meth:`core.records.Region.fields`,
    and ``k``, ``n``, ``k_rest``, ``n_rest``, ``p``, ``q``), else None. "An activation that always raised
    KeyError" is then said, not left as a lead.
    """
    from core.associations import associate_issues  # a finding uses the association statistics

    positions = table.ids.index.get_indexer(rows)
    frame = pd.DataFrame({"trial_id": table.ids.to_numpy()[positions], "type": "error", "row": positions})
    tested = [a for a in associate_issues(table, frame, pairs=False)
              if a.k >= _MIN_GROUP and a.rate > a.rate_rest and a.q < alpha]
    if not tested:
        return None
    best = min(tested, key=lambda a: (a.q, a.log_p, -a.rate))
    return best.regions[0].fields() | {"k": best.k, "n": best.n, "k_rest": best.k_rest, "n_rest": best.n_rest,
                                       "p": best.p, "q": best.q}


def find_infeasible_fraction(table: TrialTable, issues: pd.DataFrame, best: dict[str, Any] | None, space: Space = None,
                             max_ids: int = 20) -> list[Finding]:
    """The share of trials that produced no usable result (see :data:`core.issue_types.NO_RESULT`).

    Counted among the trials with an outcome: one still running, waiting or abandoned
    (:data:`core.issue_types.NO_OUTCOME`) is neither usable nor not, so it is left out of both counts.
    """
    pending = issues.loc[issues["type"].isin(NO_OUTCOME), "trial_id"].unique()
    infeasible = issues[issues["type"].isin(NO_RESULT) & ~issues["trial_id"].isin(pending)]
    bad = infeasible["trial_id"].unique()
    n, k = len(table) - len(pending), len(bad)
    if k == 0 or n <= 0:
        return []
    lo, hi = wilson_interval(k, n)
    by_type = infeasible["type"].value_counts()
    return [{
        "kind": "infeasible_fraction",
        "title": f"{k} of {n} trials{' with an outcome' if len(pending) else ''} ({format_rate(k / n)}) gave no "
                 "usable result",
        "detail": ", ".join(f"{t}: {int(c)}" for t, c in by_type.items()),
        "k": int(k), "n": int(n), "rate": k / n, "ci": [lo, hi],
        "n_trials": int(k),
        "trial_ids": [str(t) for t in bad[:max_ids]],
    }]


def find_edge_of_range(table: TrialTable, issues: pd.DataFrame, best: dict[str, Any] | None, space: Space = None,
                       max_ids: int = 20) -> list[Finding]:
    """The best trial uses the smallest or largest value searched of a numeric hyperparameter.

    Only hyperparameters with at least 3 distinct values are judged; the optimum may
    lie beyond the searched range, which the next sweep tests before it widens it on that
    side (the top trials must crowd at that edge too: one best trial there says little,
    and the finding's text claims no more), and never past the parameter's natural bound
    (0 for rates, decay and dropout, 1 for counts and fractions; see :mod:`core.domains`). Where the input declares the
    range (``space``: the summary's ``search_space``), that range is what was searched:
    the best trial is at its edge only when it lies within ``_EDGE_SHARE`` of the
    declared span (on a log scale for a log range) from the declared bound, and the
    natural-bound check applies to that bound. A best ``dropout`` of 0.004 as the lowest
    value sampled from a declared [0, 0.5] is no reason to widen below 0: the sampler
    could already have gone lower.

    Each finding also gives ``edge_share``: the share of the trials that set ``hp`` whose
    value lies in the outer tenth of the range on that side (on a log scale for a log
    range, :func:`core.domains.log_scaled`), what the next sweep weighs the top trials
    there against (a range sampled unevenly can hold most of its trials near one edge).
    """
    if not best:
        return []
    found = []
    extents = table.extents()
    for hp, value in best["hyperparameters"].items():
        if hp not in extents or value is None or not np.isfinite(value):
            continue
        lo, hi, n_values, _, integral = extents[hp]
        if n_values < 3:
            continue
        side = "lowest" if value == lo else "highest" if value == hi else None
        declared = _declared_range((space or {}).get(hp), lo, hi)
        if declared is not None:
            lo, hi = declared
            entry = (space or {})[hp]
            if side is not None and not _near_bound(value, lo, hi, side, bool(entry.get("log")), entry.get("step")):
                side = None
        if side is None or at_natural_edge(hp, lo if side == "lowest" else hi, "low" if side == "lowest" else "high",
                                           lo, integral):
            continue  # dropout = 0 or a single layer is as far as that side goes
        log = bool((space or {})[hp].get("log")) if declared is not None else log_scaled(lo, hi)
        found.append({
            "kind": "edge_of_range",
            "title": f"The best trial has {hp} = {format_number(value)}, the {side} value searched",
            "detail": (f"{hp} was searched in [{format_number(lo)}, {format_number(hi)}]; one best trial at an edge "
                       "is no evidence that the optimum lies beyond it (the next sweep widens a range only where the "
                       "top trials crowd at its edge)"),
            "hyperparameter": hp, "value": float(value), "side": "low" if side == "lowest" else "high",
            "searched": [lo, hi],
            "edge_share": _edge_share(table.hyperparameters[hp], lo, hi, "low" if side == "lowest" else "high", log),
            "n_trials": 1,
            "trial_ids": [best["trial_id"]],
        })
    return found


_EDGE_SHARE = 0.02


def _edge_share(values: pd.Series, lo: float, hi: float, side: str, log: bool) -> float | None:
    """The share of the finite ``values`` in the outer tenth of ``[lo, hi]`` on ``side`` (:func:`core.domains.edge_cut`)."""
    x = values.to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    if not len(x) or hi <= lo:
        return None
    cut = edge_cut(lo, hi, side, log)
    return float(np.mean(x <= cut if side == "low" else x >= cut))


def _declared_range(entry: dict[str, Any] | None, lo: float, hi: float) -> tuple[float, float] | None:
    """The declared numeric ``[low, high]`` of a search-space entry, when it holds every observed value."""
    if not entry or entry.get("kind") not in ("int", "float"):
        return None
    low, high = entry.get("low"), entry.get("high")
    if low is None or high is None or not (low <= lo and hi <= high) or not high > low:
        return None
    return float(low), float(high)


def _near_bound(value: float, low: float, high: float, side: str, log: bool, step: float | None = None) -> bool:
    """``value`` lies within :data:`_EDGE_SHARE` of ``[low, high]`` (or one ``step``) from the bound of ``side``."""
    if log and low > 0 and value > 0:
        gap = np.log(value / low) if side == "lowest" else np.log(high / value)
        return bool(gap <= _EDGE_SHARE * np.log(high / low))
    gap = value - low if side == "lowest" else high - value
    return bool(gap <= max(_EDGE_SHARE * (high - low), step or 0.0))


def find_seed_instability(table: TrialTable, issues: pd.DataFrame, best: dict[str, Any] | None, space: Space = None,
                          max_ids: int = 20, max_findings: int = 20) -> list[Finding]:
    """One configuration run several times (seeds) with outcomes that disagree.

    Trials with identical hyperparameters form a configuration. It is unstable when at
    least one of its runs failed or went non-finite/diverged/dead (see
    ``NO_RESULT``) and at least one finished healthy, or when the spread of its
    main metric across runs (max - min) exceeds the interquartile range of that
    metric across the configurations' medians. The ``max_findings`` configurations
    whose seeds disagree most are reported (failures beside healthy runs first, the
    closer to half and half the stronger, then the metric's spread), each with its rank
    and the total number of unstable configurations.
    """
    if table.hyperparameters.shape[1] == 0:
        return []
    config = table.hyperparameters
    key = pd.util.hash_pandas_object(config, index=False).to_numpy()
    frame = pd.DataFrame({
        "key": key,
        "bad": table.flagged(issues[issues["type"].isin(NO_RESULT)]),
    })
    metric, values = _main_metric(table)
    frame["value"] = values.to_numpy(dtype=float)
    # a configuration run once has no seeds to disagree; its median (its value) still counts in the spread between them
    repeated = frame["key"].duplicated(keep=False).to_numpy()
    stats = frame[repeated].groupby("key", sort=False).agg(
        size=("bad", "size"), n_bad=("bad", "sum"), lo=("value", "min"), hi=("value", "max"),
        median=("value", "median"), n_values=("value", "count"))
    medians = np.concatenate([frame.loc[~repeated, "value"].dropna().to_numpy(), stats["median"].dropna().to_numpy()])
    spread_limit = np.inf
    if len(medians) >= 4:
        q1, q3 = np.quantile(medians, [0.25, 0.75])
        spread_limit = q3 - q1 if q3 > q1 else np.inf
    stats["spread"] = np.where(stats["n_values"] >= 2, stats["hi"] - stats["lo"], 0.0)
    mixed = (stats["n_bad"] > 0) & (stats["n_bad"] < stats["size"])
    unstable = stats[(stats["size"] >= 2) & (mixed | (stats["spread"] > spread_limit))]
    # Ranked by how much the seeds disagree: runs that failed beside healthy ones first (the closer to
    # half and half, the stronger), then the metric's spread across seeds; never in file order.
    minority = np.minimum(unstable["n_bad"], unstable["size"] - unstable["n_bad"]) / unstable["size"]
    unstable = unstable.assign(mixed=mixed[unstable.index], minority=minority.where(mixed[unstable.index], 0.0))
    unstable = unstable.sort_values(["mixed", "minority", "spread", "size"], ascending=False, kind="stable")
    total = len(unstable)
    found = []
    for rank, (key_value, row) in enumerate(unstable.head(max_findings).iterrows(), start=1):
        rows = np.flatnonzero(key == key_value)
        ids = table.ids.to_numpy()[rows].tolist()
        values = {hp: "(missing)" if pd.isna(v) else (format_number(v) if isinstance(v, float) else str(v))
                  for hp, v in config.iloc[rows[0]].items()}
        setting = ", ".join(f"{hp}={v}" for hp, v in values.items())
        if table.seeds is not None:
            setting += f" (seeds: {', '.join(table.seeds.iloc[rows].fillna('?').astype(str))})"
        why = (f"{int(row['n_bad'])} of {len(ids)} runs failed or went bad" if row["mixed"]
               else f"{metric} spans {format_number(row['spread'])} across runs, more than the spread between configurations")
        found.append({
            "kind": "seed_instability",
            "title": f"Same configuration, different outcomes ({len(ids)} runs; {rank} of {total} unstable "
                     f"configurations, by disagreement): {why}",
            "rank": rank,
            "n_unstable": total,
            "detail": setting,
            "configuration": values,
            "n_trials": len(ids),
            "trial_ids": ids[:max_ids],
        })
    return found


def find_by_design(table: TrialTable, issues: pd.DataFrame, best: dict[str, Any] | None, space: Space = None,
                   max_ids: int = 20) -> list[Finding]:
    """Trials stopped by design: early-stopped on patience, pruned by the tuner, cut by a time budget.

    They are counted and explained, never blamed: early stopping fires sooner where
    training converges fast (good learning rates, small patience) and a pruner stops
    the weak runs, so where they concentrate says how the tuner works, not what to
    avoid (see :attr:`core.issue_types.IssueType.by_design`). A time budget cut is judged by what
    the trial reached. Trials that stopped early *because* they failed (a no-result type:
    the loss went non-finite, diverged, nothing was learned) are not counted: they are
    hidden failures, named apart (``failed_ids``, ``n_failed``). Early stopping and a
    tuner's pruner are told apart by :func:`stop_reasons`, as the advice and the report's
    Overview tell them apart.
    """
    reasons = stop_reasons(issues["trial_id"], issues["type"], issues["detail"])
    ids = table.ids
    timeout = (table.status == "timeout").to_numpy()
    failed = table.flagged(issues[issues["type"].isin(NO_RESULT)])
    counts = {name: ids.isin(reasons[name]).to_numpy() for name in STOP_REASONS[:2]}
    counts["cut by a time budget"] = timeout & ~failed
    stopped = np.logical_or.reduce([mask for mask in counts.values()])
    broke = ids.isin(reasons["failed"]).to_numpy() | (timeout & failed)
    if not stopped.any():
        return []
    ids = table.ids.to_numpy()[stopped].tolist()
    broke_ids = table.ids.to_numpy()[broke].tolist()
    parts = ", ".join(f"{int(mask.sum())} {name}" for name, mask in counts.items() if mask.any())
    why = listed([STOP_WHY[name] for name, mask in counts.items() if mask.any()])
    best_note = ""
    if best and best["trial_id"] in set(ids):
        best_note = f"; the best trial ({best['trial_id']}) is one of them"
    apart = (f"; {len(broke_ids)} more stopped early after failing (a non-finite, diverged or dead run): they "
             "stopped because they failed, not by design, and are counted with their failures"
             if broke_ids else "")
    return [{
        "kind": "by_design",
        "title": f"{len(ids)} of {len(table)} trials stopped by design ({parts})",
        "detail": (f"{why}, so these trials are judged by what they reached and no pattern, avoid-advice or "
                   "next-sweep limit is built on them" + best_note + apart),
        "counts": {name: int(mask.sum()) for name, mask in counts.items()},
        "n_trials": len(ids),
        "trial_ids": ids[:max_ids],
        "n_failed": len(broke_ids),
        "failed_ids": broke_ids[:max_ids],
    }]


STOP_WHY = {
    "early-stopped": "early stopping fires sooner where training converges fast (good learning rates, small patience)",
    "pruned by the tuner": "a pruner stops weak runs",
    "cut by a time budget": "a time budget cuts long runs",
}
"""Why each by-design stop says nothing against its hyperparameters (the findings' and the advice's words)."""
STOP_REASONS = ("early-stopped", "pruned by the tuner", "failed")
"""Why a trial flagged ``pruned`` stopped (:func:`stop_reasons`); the first two are by design."""


def listed(parts: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join([", ".join(parts[:-1]), parts[-1]] if len(parts) > 2 else parts)


def stop_reasons(trial_ids: Sequence[str], types: Sequence[str], details: Sequence[str | None]) -> dict[str, list[str]]:
    """The trials flagged ``pruned``, by why they stopped; the issue rows come as three columns.

    The one place early stopping is told from a tuner's pruner: the by-design finding
    (:func:`find_by_design`), the advice and the report's Overview all read it. A
    ``pruned`` row's detail quotes where it came from (:mod:`core.detectors`): the status
    word (``status 'early_stopped'``, then perhaps the error's last line) and the sweep's
    own flags (``early_stopped=true (the sweep's own flag)``).

    ``early-stopped``: the status word or a flag's name says early stopping
    (:data:`core.status.EARLY_STOP`, the words :func:`core.status.status_counts` counts
    by); ``pruned by the tuner``: neither does (a pruner stopped the run). Both are by
    design. ``failed``: the trial is also flagged with a no-result type (non-finite
    metrics, a diverged loss, a failure, no learning): it stopped because it failed, a
    hidden failure and never a by-design stop. Ids keep the rows' order.
    """
    kinds = np.asarray(types, dtype=object)
    reasons: dict[str, list[str]] = {reason: [] for reason in STOP_REASONS}
    pruned = np.flatnonzero(kinds == "pruned")
    if not len(pruned):
        return reasons
    ids = np.asarray(trial_ids, dtype=object)
    broke = set(ids[pd.Series(kinds).isin(NO_RESULT).to_numpy()].tolist())
    said = np.asarray(details, dtype=object)[pruned].tolist()
    says = {detail: says_early_stop(detail) for detail in set(said)}  # a handful of distinct details
    early: dict[str, bool] = {}
    for trial, detail in zip(ids[pruned].tolist(), said):
        early[trial] = early.get(trial, False) or says[detail]
    for trial, by_patience in early.items():
        reasons["failed" if trial in broke else STOP_REASONS[0] if by_patience else STOP_REASONS[1]].append(trial)
    return reasons


def says_early_stop(detail: str | None) -> bool:
    """Whether a ``pruned`` row's detail says early stopping: its status word, or a flag's name, does.

    The error's last line a status row may quote after the word is not read ("Trial pruned:
    stopped at step 3" is a pruner's message).
    """
    return any(EARLY_STOP.search(word) for pair in _STOP_SOURCE.findall(detail or "") for word in pair if word)


_STOP_SOURCE = re.compile(r"(?:^|; )(?:status '([^']*)'|([^;']+)=true \(the sweep's own flag\))")
"""The parts of a ``pruned`` row's detail that say where it came from: the status word, a flag's column."""


def find_abandoned(table: TrialTable, issues: pd.DataFrame, best: dict[str, Any] | None, space: Space = None,
                   max_ids: int = 20) -> list[Finding]:
    """Trials left running by a worker that stopped (status ``abandoned``, see :func:`is_abandoned`).

    They have no outcome (status ``running``) and sit out of every comparison: the worker's
    process is gone (a crash of the machine or job, preemption, the out-of-memory killer, a
    closed notebook) and nothing recorded why, and what they hold is the configuration the
    sampler had proposed when it stopped. An infrastructure fact, counted; never a
    pattern, avoid-advice or next-sweep limit. The advice (:func:`abandoned_advice`) is
    about the job and the tracker.
    """
    mask = (table.status == "running").to_numpy() & is_abandoned(table.status_raw)
    if not mask.any():
        return []
    ids = table.ids.to_numpy()[mask].tolist()
    return [{
        "kind": "abandoned",
        "title": f"{len(ids)} of {len(table)} trials were left running by a worker that stopped",
        "detail": ("Each started long before the last finished trial ended, so it cannot still be running: its "
                   "worker stopped (a crash of the machine or job, preemption, the out-of-memory killer, a closed "
                   "notebook) and no outcome was recorded. They sit out of every comparison: their hyperparameters "
                   "are what the sampler had proposed when the worker stopped, so no pattern, avoid-advice or "
                   "next-sweep limit is built on them"),
        "n_trials": len(ids),
        "trial_ids": ids[:max_ids],
    }]


def is_abandoned(status_raw: pd.Series) -> np.ndarray:
    """Where the status word is ``abandoned`` (what the readers write for a run whose worker stopped)."""
    return text_matches(status_raw, _ABANDONED)


def is_abandoned_detail(issue: dict[str, Any]) -> bool:
    """Whether a ``running`` issue of the summary is an abandoned trial (its detail quotes the status word)."""
    return bool(_ABANDONED_DETAIL.match(issue.get("detail") or ""))


_ABANDONED = re.compile(r"^\s*abandoned\s*$", re.IGNORECASE)
_ABANDONED_DETAIL = re.compile(r"^status\W+abandoned\b", re.IGNORECASE)


def abandoned_advice(fmt: str, ids: str) -> str:
    """The recommendation of an ``abandoned`` finding; ``fmt`` is the input's format (``optuna-sqlite``...).

    Optuna's fix is named where the sweep is an Optuna study (names checked against optuna
    5.1: ``heartbeat_stale_trial_callback`` and ``RetryHeartbeatStaleTrialCallback`` since
    4.9, ``failed_trial_callback`` and ``RetryFailedTrialCallback`` before).
    """
    text = (f"{ids[0].upper()}{ids[1:]} never finished: read the logs of the job that ran them for why their "
            "worker stopped (the machine or the job went down, the cluster reclaimed it, the out-of-memory killer, a "
            "closed notebook); they recorded no outcome, so they say nothing about their hyperparameters. If the "
            "out-of-memory killer stopped them, their own memory needs (batch size, model size) may be the cause: the "
            "job's log or the kernel's (dmesg) says so.")
    if fmt.startswith("optuna"):
        text += (" Optuna marks such trials as failed, and can run them again, when its storage has a heartbeat: give "
                 "optuna.storages.RDBStorage a heartbeat_interval (in seconds) and, to retry them, a "
                 "heartbeat_stale_trial_callback such as RetryHeartbeatStaleTrialCallback (before Optuna 4.9: "
                 "failed_trial_callback with RetryFailedTrialCallback); the heartbeat works with study.optimize, "
                 "not with ask and tell.")
    return text


def _main_metric(table: TrialTable) -> tuple[str | None, pd.Series]:
    roles = table.roles
    pair = roles.loss_pair()
    column = (pair[1] if pair else None) or roles.metric("loss", held_out=True) or roles.metric("accuracy", held_out=True)
    if column is None:
        return None, pd.Series(np.nan, index=table.ids.index)
    values = table.metrics[column]
    return column, values.where(np.isfinite(values))


FINDERS: tuple[Callable[..., list[Finding]], ...] = (
    find_infeasible_fraction,
    find_by_design,
    find_abandoned,
    find_error_kinds,
    find_edge_of_range,
    find_seed_instability,
)


def find_sweep_findings(table: TrialTable, issues: pd.DataFrame, best: dict[str, Any] | None,
                        space: Space = None) -> list[Finding]:
    """Every sweep-level finding, numbered ``F1``... in the order of :data:`FINDERS`.

    ``space`` is the declared search space, if any (see :func:`find_edge_of_range`).
    """
    found = [f for finder in FINDERS for f in finder(table, issues, best, space)]
    return [{"id": f"F{i}", **f} for i, f in enumerate(found, start=1)]
