"""Watch a sweep while it runs: diagnose again every N finished trials, and stop sampling where trials die.

Three ways in, one :class:`Watch` behind them:

- **Optuna**: ``study.optimize(objective, callbacks=[PathologyWatch(every=20, out="watch/")])``.
  With ``avoid_sick_regions=True`` the study's sampler is wrapped so that a new trial
  whose parameters fall in a condemned region is pruned as soon as they are sampled,
  before any training, with the reason in its user attribute ``pathology_watch``.
- **Ray Tune**: ``tune.RunConfig(callbacks=[ray_tune_callback(every=20, out="watch/")])``.
- **Files**: ``python -m graph.run optuna.db --watch 60`` (:func:`watch_source`): read the
  source again when it changed, diagnose only when its trials did.

Each diagnosis is the deterministic one of :func:`core.diagnosis.diagnose` (no model,
no graph): a line per *new* high-severity pattern on stderr
(``[watch] NaN/inf metrics at lr ≥ 0.0631: 12/15 vs 0/40, q = 1.0e-06``), and the
report, JSON summary and the watch's own state (``watch.json``) rewritten through a
temporary file and a rename. Regions are condemned by :func:`core.regions.condemned_regions`
(high severity, never a by-design outcome, never the best trial's region) with q below
0.05 divided by the number of looks so far (each look is another chance for noise to
pass), and only once two consecutive looks find them. optuna and ray are imported only
by the parts that need them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from core.diagnosis import diagnose
from core.errors import InputError
from core.regions import Region, condemned_regions
from core.sweep import Sweep

WATCH_ATTR = "pathology_watch"
"""User attribute of an Optuna trial the watch pruned before training: why."""
REPORT_NAME, SUMMARY_NAME, STATE_NAME = "hparam_report.md", "hparam_summary.json", "watch.json"


class Watch:
    """Diagnoses a growing sweep and keeps what it has condemned.

    Parameters
    ----------
    out : str or path-like or None
        Directory for ``hparam_report.md``, ``hparam_summary.json`` and ``watch.json``
        (created); None writes nothing.
    alpha : float
        Largest Benjamini-Hochberg q of a condemned region's pattern.
    confirm : int
        Consecutive diagnoses that must find a region before it is condemned (2: one
        look at noise is not enough).
    stream : text stream or None
        Where the one-line messages go (default ``sys.stderr``); None prints nothing.
    """

    def __init__(self, out: str | os.PathLike[str] | None = "watch/", alpha: float = 0.05, confirm: int = 2,
                 stream: TextIO | None = sys.stderr) -> None:
        self.out = Path(out) if out is not None else None
        self.alpha, self.confirm = alpha, max(1, confirm)
        self.stream = stream
        self.condemned: dict[tuple[str, tuple[str, ...]], Region] = {}
        self.reported: set[tuple[str, tuple[str, ...]]] = set()
        self.streak: dict[tuple[str, tuple[str, ...]], int] = {}
        self.diagnoses = 0
        self.summary: dict[str, Any] | None = None
        self.avoided: list[dict[str, Any]] = []

    def update(self, sweep: Sweep, label: str = "", progress: str | None = None) -> list[Region]:
        """Diagnose ``sweep``, report new high-severity patterns, write the outputs; the newly condemned regions.

        ``progress`` (the watched path) adds a line with the trial count, its change since
        the last diagnosis and the counts of issues and patterns, said before the outputs
        are written: once the new summary is on disk, everything said about it has been said
        (an interrupt right after the write cannot lose the line).
        """
        n_before = self.summary["sweep"]["n_trials"] if self.summary else 0
        summary = diagnose(sweep, alpha=self.alpha)
        self.summary, self.diagnoses = summary, self.diagnoses + 1
        prefix = f"[watch] {label}: " if label else "[watch] "
        # Looking again and again at a growing sweep: q must beat alpha / looks so far (Bonferroni over the looks).
        found = {r.key: r for r in condemned_regions(summary, alpha=self.alpha / self.diagnoses)}
        self.streak = {key: self.streak.get(key, 0) + 1 for key in found}
        for pattern in _high_patterns(summary, self.alpha):
            key = (pattern["issue_type"], tuple(pattern["hyperparameters"]))
            if key not in self.reported:
                self.reported.add(key)
                self._say(prefix + _pattern_line(pattern))
        new = [r for key, r in found.items() if key not in self.condemned and self.streak[key] >= self.confirm]
        self.condemned.update({key: r for key, r in found.items() if key in self.condemned})  # refined by new trials
        for region in new:
            self.condemned[region.key] = region
            self._say(f"{prefix}condemned {region.condition} ({region.pattern_id}, {region.issue_type})")
        if progress is not None:
            n = summary["sweep"]["n_trials"]
            self._say(f"[watch] {progress}: {n} trials ({n - n_before:+d}), {summary['trials_affected']} with issues, "
                      f"{len(summary['patterns'])} pattern(s)")
        self._write(summary)
        return new

    def safely(self, sweep: Callable[[], Sweep], label: str) -> list[Region]:
        """:meth:`update` from inside a running sweep: a failure is one line, never the end of the sweep."""
        try:
            return self.update(sweep(), label)
        except InputError as exc:  # e.g. no metric reported yet
            self._say(f"[watch] {label}: not diagnosed yet ({exc})")
        except Exception as exc:  # noqa: BLE001 - the user's sweep is worth more than one diagnosis
            self._say(f"[watch] {label}: diagnosis failed ({type(exc).__name__}: {exc}); the sweep goes on")
        return []

    def region_of(self, params: dict[str, Any]) -> Region | None:
        """The first condemned region ``params`` falls in, or None."""
        return next((r for r in self.condemned.values() if r.contains(params)), None)

    def state(self) -> dict[str, Any]:
        """What the watch knows, JSON-native: diagnoses run, regions condemned, trials pruned before training."""
        return {"diagnoses": self.diagnoses, "alpha": self.alpha, "confirm": self.confirm,
                "condemned": [r.to_dict() for r in self.condemned.values()],
                "pruned_before_training": self.avoided}

    def _say(self, line: str) -> None:
        if self.stream is not None:
            print(line, file=self.stream, flush=True)

    def _write(self, summary: dict[str, Any]) -> None:
        if self.out is None:
            return
        from graph.report.markdown import render_report
        from graph.report.output_set import OutputSet

        self.out.mkdir(parents=True, exist_ok=True)
        with OutputSet(self.out, (REPORT_NAME, SUMMARY_NAME, STATE_NAME)) as staged:
            staged.write(REPORT_NAME, render_report(summary))
            staged.write(SUMMARY_NAME, json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
            staged.write(STATE_NAME, json.dumps(self.state(), indent=2, ensure_ascii=False) + "\n")
            staged.commit()


def _high_patterns(summary: dict[str, Any], alpha: float) -> list[dict[str, Any]]:
    severity = {k: v["severity"] for k, v in summary["issue_types"].items()}
    return [p for p in summary["patterns"] if severity.get(p["issue_type"]) == "high" and p["evidence"]["q"] < alpha]


def _pattern_line(pattern: dict[str, Any]) -> str:
    from core.issue_types import label_of
    from core.values import format_p

    e = pattern["evidence"]
    label = label_of(pattern["issue_type"])
    return f"{label} at {pattern['condition']}: {e['k']}/{e['n']} vs {e['k_rest']}/{e['n_rest']}, q = {format_p(e['q'])}"


# --- Optuna ------------------------------------------------------------------------------------

class PathologyWatch:
    """An Optuna callback that diagnoses the study every ``every`` finished trials.

    ``study.optimize(objective, callbacks=[PathologyWatch(every=20, out="watch/")])``.
    Finished means complete, failed or pruned by the study's own pruner; trials the
    watch pruned itself are left out of the diagnosis (they never trained). With
    ``avoid_sick_regions=True`` the first call wraps ``study.sampler`` in an
    :class:`AvoidingSampler`: a new trial whose sampled parameters fall in a condemned
    region is pruned before training, its reason in the user attribute
    ``pathology_watch`` (the parameters it drew are kept).
    """

    def __init__(self, every: int = 20, out: str | os.PathLike[str] | None = "watch/", avoid_sick_regions: bool = False,
                 alpha: float = 0.05, confirm: int = 2, stream: TextIO | None = sys.stderr) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        self.every, self.avoid_sick_regions = every, avoid_sick_regions
        self.watch = Watch(out, alpha=alpha, confirm=confirm, stream=stream)
        self._last = 0

    @property
    def condemned(self) -> list[Region]:
        """The regions condemned so far."""
        return list(self.watch.condemned.values())

    def __call__(self, study: Any, trial: Any) -> None:
        """Optuna's callback hook: called after each trial ends."""
        if self.avoid_sick_regions and not isinstance(study.sampler, _avoiding_sampler_class()):
            study.sampler = AvoidingSampler(study.sampler, self.watch)
        trained = _trained_trials(study)
        if len(trained) - self._last < self.every:
            return
        self._last = len(trained)
        from core.sources.optuna import from_study

        self.watch.safely(lambda: from_study(study, trained, f"optuna study {study.study_name!r}")[0],
                          label=f"trial {trial.number}")


def _trained_trials(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    done = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
    return [t for t in study.get_trials(deepcopy=False, states=done) if WATCH_ATTR not in t.user_attrs]


def AvoidingSampler(base: Any, watch: Watch) -> Any:  # noqa: N802 - a class made on first use, so optuna loads lazily
    """An Optuna sampler that samples like ``base`` and prunes trials that land in ``watch``'s condemned regions.

    Checked as each parameter is sampled (relative and independent sampling alike),
    so the objective never runs the training of such a trial: the
    ``optuna.TrialPruned`` raised inside ``trial.suggest_*`` ends it.
    """
    return _avoiding_sampler_class()(base, watch)


_CLASS: list[type] = []


def _avoiding_sampler_class() -> type:
    if _CLASS:
        return _CLASS[0]
    import optuna
    from optuna.samplers import BaseSampler

    class _AvoidingSampler(BaseSampler):
        def __init__(self, base: BaseSampler, watch: Watch) -> None:
            self.base, self.watch = base, watch

        def infer_relative_search_space(self, study, trial):  # noqa: ANN001, ANN201, D102
            return self.base.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):  # noqa: ANN001, ANN201, D102
            sampled = self.base.sample_relative(study, trial, search_space)
            self._check(study, trial, {**trial.params, **sampled}, {k: search_space[k] for k in sampled})
            return sampled

        def sample_independent(self, study, trial, param_name, param_distribution):  # noqa: ANN001, ANN201, D102
            value = self.base.sample_independent(study, trial, param_name, param_distribution)
            self._check(study, trial, {**trial.params, param_name: value}, {param_name: param_distribution})
            return value

        def before_trial(self, study, trial):  # noqa: ANN001, ANN201, D102
            self.base.before_trial(study, trial)

        def after_trial(self, study, trial, state, values):  # noqa: ANN001, ANN201, D102
            self.base.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:  # noqa: D102
            self.base.reseed_rng()

        def _check(self, study, trial, params, new):  # noqa: ANN001, ANN202
            region = self.watch.region_of(params)
            if region is None:
                return
            reason = region.reason(params)
            # The sampler holds a FrozenTrial; record through the storage as optuna's own samplers do.
            storage, trial_id = study._storage, trial._trial_id
            for name, distribution in new.items():
                storage.set_trial_param(trial_id, name, distribution.to_internal_repr(params[name]), distribution)
            storage.set_trial_user_attr(trial_id, WATCH_ATTR, f"pruned before training: {reason}")
            self.watch.avoided.append({"trial": trial.number, "pattern_id": region.pattern_id,
                                       "condition": region.condition})
            raise optuna.TrialPruned(f"pruned before training by the pathology watch: {reason}")

    _CLASS.append(_AvoidingSampler)
    return _AvoidingSampler


# --- Ray Tune ---------------------------------------------------------------------------------

def ray_tune_callback(every: int = 20, out: str | os.PathLike[str] | None = "watch/", alpha: float = 0.05,
                      confirm: int = 2, stream: TextIO | None = sys.stderr) -> Any:
    """A Ray Tune ``Callback`` that diagnoses the experiment every ``every`` finished (or errored) trials.

    ``tune.Tuner(..., run_config=tune.RunConfig(callbacks=[ray_tune_callback(every=20)]))``.
    Each trial's config, last result and status (and error) make one row, as the Ray
    Tune reader gives them from an experiment directory.
    """
    from ray.tune import Callback

    from core.sources.raytune import from_trial_infos

    watch = Watch(out, alpha=alpha, confirm=confirm, stream=stream)

    class RayTuneWatch(Callback):
        """Diagnoses the experiment's trials so far every ``every`` finished trials."""

        def __init__(self) -> None:
            self.watch, self.every, self._last = watch, every, 0

        def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:  # noqa: D102
            self._maybe(trials, trial, "TERMINATED")

        def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:  # noqa: D102
            self._maybe(trials, trial, "ERROR")

        def _maybe(self, trials: list[Any], ending: Any, status: str) -> None:
            """Diagnose the ended trials (the one ending now included: Ray sets its status after the callback)."""
            ended = {t.trial_id: (t, t.status) for t in trials if t.status in ("TERMINATED", "ERROR")}
            ended[ending.trial_id] = (ending, status)
            if len(ended) - self._last < self.every:
                return
            self._last = len(ended)
            infos = {str(t.trial_id): {"status": st, "config": dict(t.config or {}),
                                       "last_result": dict(t.last_result or {}),
                                       "error_msg": _ray_error(t),
                                       "stop": dict(getattr(t, "stopping_criterion", None) or {})}
                     for t, st in ended.values()}
            self.watch.safely(lambda: from_trial_infos(infos, "ray tune experiment"), label=f"{len(ended)} trials")

    return RayTuneWatch()


def _ray_error(trial: Any) -> str | None:
    path = getattr(trial, "error_file", None)
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").strip() if path else None
    except OSError:
        return None


# --- files ------------------------------------------------------------------------------------

def watch_source(path: str, interval: float, read: Callable[[str], Sweep], watch: Watch,
                 max_checks: int | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """Diagnose ``path`` now and again whenever its trials change; returns the number of diagnoses.

    Every ``interval`` seconds the files' sizes and modification times are compared
    with the last look (nothing is read while they stand still); when they moved the
    sweep is read, and diagnosed only if its trial table differs. Stops after
    ``max_checks`` looks (None: until interrupted). A source that cannot be read for
    a moment (a file being rewritten) is skipped with one line and tried again.
    """
    stamp, table, diagnoses, checks = None, None, 0, 0
    while max_checks is None or checks < max_checks:
        if checks:
            sleep(interval)
        checks += 1
        now = _stamp(path)
        if now == stamp:
            continue
        stamp = now
        try:
            sweep = read(path)
        except InputError as exc:
            if table is None:
                raise
            watch._say(f"[watch] {path}: not readable now ({exc}); trying again in {interval:g} s")
            continue
        digest = _digest(sweep)
        if digest == table:
            continue
        table = digest
        watch.update(sweep, progress=path)
        diagnoses += 1
    return diagnoses


def _stamp(path: str) -> tuple[tuple[str, int, int], ...]:
    """Sizes and modification times of a file, or of every file under a directory (``sqlite:///`` URLs too)."""
    if "://" in path and not path.lower().startswith("sqlite:///"):
        return (("", time.monotonic_ns(), 0),)  # a server: read it at every look, diagnose if its trials changed
    target = Path(path[len("sqlite:///"):] if path.lower().startswith("sqlite:///") else path)
    files: Iterable[Path] = target.rglob("*") if target.is_dir() else [target, Path(f"{target}-wal")]
    out = []
    for f in files:
        try:
            st = f.stat()
        except OSError:
            continue
        if not f.is_dir():
            out.append((str(f), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def _digest(sweep: Sweep) -> str:
    h = hashlib.sha256()
    for frame in (sweep.trials.frame, sweep.curves.frame if sweep.curves is not None else None):
        if frame is not None:
            h.update(frame.to_csv(index=False).encode("utf-8"))
    return h.hexdigest()
