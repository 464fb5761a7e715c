"""Ground truth of a sweep from its logged curves, by the plain rules of benchmarks/corpus/README.md.

These rules were written (and committed) before the tool was ever run on the corpus; they are the
yardstick, never tuned to the tool's output. Inputs:

- curves: long DataFrame, one row per (trial_id, epoch), columns `train_loss`, `val_loss` (the
  held-out loss) and, when the task has them, `train_acc`/`val_acc` (classification) or
  `train_r2`/`val_r2` (regression). Non-finite values are NaN/±inf floats.
- results: one row per trial with `trial_id`, `status` (completed | early_stopped | failed |
  timeout | pruned) and the searched hyperparameters.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy.stats import hypergeom

RULES_VERSION = 1
ACC_MARGIN = 0.02  # no_learning: held-out accuracy never above chance + this
R2_TRAIN_LOW = 0.1  # no_learning (regression): train r2 never above this
NO_LEARN_LOSS = 0.99  # no_learning (loss only): held-out loss never below this x the trivial loss
DIVERGE_FACTOR = 10.0  # diverged: a finite loss >= this x the trivial loss
OVERFIT_RISE = 1.10  # overfitting: final held-out loss >= this x its best ...
OVERFIT_ABS = 0.01  # ... and at least this much above it (loss units)
OVERFIT_AFTER = 3  # ... at least this many epochs after the best epoch
OVERFIT_TRAIN = 0.90  # ... while the final train loss <= this x the train loss at the best epoch
MIN_EPOCHS = 5  # overfitting / generalization_gap need at least this many logged epochs
GAP_RATIO = 1.5  # generalization_gap: final held-out loss >= this x final train loss (not overfitting)
VAL_ABOVE = 0.05  # val_above_train: final held-out accuracy >= final train accuracy + this

FAILURE_KINDS = ("nonfinite", "diverged", "no_learning", "failed", "overfitting")
BY_DESIGN = ("early_stopped", "pruned", "timeout")
FINISHED = ("completed", "early_stopped", "timeout")


def _finite(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def trial_labels(curve: pd.DataFrame, status: str, task: str, trivial_loss: float, chance: float | None,
                 dropout: float = 0.0) -> dict:
    """Labels of one trial from its curve (sorted by epoch). Returns {label: True, ...} plus facts."""
    out: dict = {}
    if status in ("failed", "timeout", "early_stopped", "pruned"):
        out[status] = True
    if curve.empty:
        return out
    tl = curve["train_loss"].to_numpy(float)
    vl = curve["val_loss"].to_numpy(float)
    losses = np.concatenate([tl, vl])
    nonfinite = bool((~np.isfinite(losses)).any())
    if nonfinite:
        out["nonfinite"] = True
    later = _finite(np.concatenate([tl[1:], vl[1:]]))  # a loss that starts high (bad init) is not a blow-up
    if later.size and math.isfinite(trivial_loss) and later.max() >= DIVERGE_FACTOR * trivial_loss:
        out["diverged"] = True
    if not nonfinite and "diverged" not in out:
        if task == "classification" and "val_acc" in curve and chance is not None:
            if np.nanmax(curve["val_acc"].to_numpy(float)) <= chance + ACC_MARGIN:
                out["no_learning"] = True
        elif task == "regression" and "val_r2" in curve:
            if np.nanmax(curve["val_r2"].to_numpy(float)) <= 0 and np.nanmax(curve["train_r2"].to_numpy(float)) <= R2_TRAIN_LOW:
                out["no_learning"] = True
        elif math.isfinite(trivial_loss) and np.nanmin(vl) >= NO_LEARN_LOSS * trivial_loss:
            out["no_learning"] = True
    if not nonfinite and "diverged" not in out and len(curve) >= MIN_EPOCHS:
        b = int(np.argmin(vl))
        rose = vl[-1] >= OVERFIT_RISE * vl[b] and vl[-1] - vl[b] >= OVERFIT_ABS and len(vl) - 1 - b >= OVERFIT_AFTER
        if rose and tl[-1] <= OVERFIT_TRAIN * tl[b]:
            out["overfitting"] = True
            out["best_epoch"] = int(curve["epoch"].iloc[b])
        elif tl[-1] > 0 and vl[-1] >= GAP_RATIO * tl[-1]:
            out["generalization_gap"] = True
    if not nonfinite and "train_acc" in curve and "val_acc" in curve:
        ta, va = float(curve["train_acc"].iloc[-1]), float(curve["val_acc"].iloc[-1])
        if va >= ta + VAL_ABOVE:
            out["val_above_train"] = True
            out["explained_by"] = "dropout" if dropout > 0 else "train-mode running means"
    return out


def sweep_labels(results: pd.DataFrame, curves: pd.DataFrame, task: str, trivial_loss, chance,
                 dropout_column: str | None = None) -> dict[str, dict]:
    """Labels for every trial. `trivial_loss` is a number or {trial_id: number}."""
    groups = {tid: g.sort_values("epoch") for tid, g in curves.groupby("trial_id", sort=False)}
    empty = curves.iloc[0:0]
    labels = {}
    for row in results.itertuples(index=False):
        tid = str(row.trial_id)
        triv = trivial_loss.get(tid, math.nan) if isinstance(trivial_loss, dict) else trivial_loss
        drop = float(getattr(row, dropout_column)) if dropout_column else 0.0
        labels[tid] = trial_labels(groups.get(tid, empty), str(row.status), task, triv, chance, drop)
    return labels


def best_trials(results: pd.DataFrame, labels: dict[str, dict], metric: str, goal: str, k: int = 10) -> list[str]:
    """The k best finished trials by the held-out metric, among those with no nonfinite/diverged label."""
    ok = results[results["status"].isin(FINISHED)].copy()
    ok = ok[[not ({"nonfinite", "diverged"} & set(labels[str(t)])) for t in ok["trial_id"]]]
    ok = ok[np.isfinite(ok[metric].astype(float))]
    ok = ok.sort_values(metric, ascending=(goal == "min"), kind="stable")
    return [str(t) for t in ok["trial_id"].head(k)]


# ---------------------------------------------------------------------------------------------
# True causes: which hyperparameter regions produce each failure kind (rate in region vs rest).

def _candidates(hp: pd.DataFrame) -> list[tuple[dict, np.ndarray]]:
    """Single conditions: each categorical value; numeric thresholds at observed values."""
    out = []
    for col in hp.columns:
        raw = hp[col]
        num = pd.to_numeric(raw, errors="coerce")
        if num.notna().all() and num.nunique() > 1:
            vals = num.to_numpy(float)
            uniq = np.unique(vals)
            if len(uniq) <= 12:
                cuts = uniq
                for v in uniq:
                    if len(uniq) <= 6:
                        out.append(({"hyperparameter": col, "op": "==", "value": float(v)}, vals == v))
            else:
                cuts = np.unique(np.quantile(vals, np.linspace(0.1, 0.9, 9), method="nearest"))
            for v in cuts:
                if (vals >= v).all() or (vals < v).all():
                    continue
                out.append(({"hyperparameter": col, "op": ">=", "value": float(v)}, vals >= v))
                out.append(({"hyperparameter": col, "op": "<", "value": float(v)}, vals < v))
        else:
            text = raw.astype(str)
            for v in sorted(text.unique()):
                if text.nunique() > 1:
                    out.append(({"hyperparameter": col, "op": "==", "value": v}, (text == v).to_numpy()))
    return out


def _score(mask: np.ndarray, y: np.ndarray) -> tuple[float, int, float, float]:
    tp = int((mask & y).sum())
    fp = int((mask & ~y).sum())
    fn = int((~mask & y).sum())
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    n, k_all, n_in = len(y), int(y.sum()), int(mask.sum())
    p = float(hypergeom.sf(tp - 1, n, k_all, n_in)) if tp else 1.0
    return f1, tp, (tp / n_in if n_in else 0.0), p


def _qualifies(score: tuple[float, int, float, float]) -> bool:
    f1, tp, rate, p = score
    return tp >= 3 and rate >= 0.5 and p <= 0.01


def find_causes(hp: pd.DataFrame, y: np.ndarray, max_causes: int = 2) -> list[dict]:
    """Regions (one condition, or two on different hyperparameters) that best explain `y`.

    Rule: among regions holding >= 3 labelled trials, with a rate >= 0.5 and a one-sided
    hypergeometric (Fisher) p <= 0.01, the one with the highest F1 between "in region" and "has
    the label"; a pair only when its F1 beats the best single condition by >= 0.1. Then once more
    on the trials outside it (a second mechanism), up to `max_causes`.
    """
    y = np.asarray(y, bool)
    singles = _candidates(hp)
    causes: list[dict] = []
    keep = np.ones(len(y), bool)
    for _ in range(max_causes):
        yy = y[keep]
        if yy.sum() < 3:
            break
        scored = [(_score(m[keep], yy), [c], m) for c, m in singles]
        best_s = max((s for s in scored if _qualifies(s[0])), key=lambda s: s[0][0], default=None)
        best_p = None
        for (c1, m1), (c2, m2) in itertools.combinations(singles, 2):
            if c1["hyperparameter"] != c2["hyperparameter"]:
                sc = _score((m1 & m2)[keep], yy)
                if _qualifies(sc) and (best_p is None or sc[0] > best_p[0][0]):
                    best_p = (sc, [c1, c2], m1 & m2)
        if best_p is not None and (best_s is None or best_p[0][0] >= best_s[0][0] + 0.1):
            best_s = best_p
        if best_s is None:
            break
        (f1, tp, rate, p), conds, mask = best_s
        rest = keep & ~mask
        k_rest = int((y & rest).sum())
        causes.append({"conditions": conds, "k": tp, "n": int(mask[keep].sum()), "rate": round(rate, 4),
                       "k_rest": k_rest, "n_rest": int(rest.sum()),
                       "rate_rest": round(k_rest / rest.sum(), 4) if rest.sum() else None,
                       "recall": round(tp / int(y.sum()), 4), "f1": round(f1, 4), "p": p})
        keep = keep & ~mask
    return causes


def _as_number(value) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).replace("\u2212", "-"))
    except ValueError:
        return None


def in_region(config: dict, conditions: list[dict]) -> bool:
    """Whether a configuration {hyperparameter: value} satisfies every condition (`==`, `>=`, `>`, `<=`, `<`).

    Numbers compare as numbers (equality and the closed ends up to rounding), text as text.
    """
    for c in conditions:
        v = config.get(c["hyperparameter"])
        if v is None:
            return False
        target, x = c["value"], _as_number(v)
        if c["op"] == "==":
            if isinstance(target, str) or x is None:
                if str(v) != str(target):
                    return False
            elif not math.isclose(x, target, rel_tol=1e-9, abs_tol=1e-12):
                return False
            continue
        if x is None or isinstance(target, str):
            return False
        ok = {">=": x >= target * (1 - 1e-12) if target > 0 else x >= target,
              "<=": x <= target * (1 + 1e-12) if target > 0 else x <= target,
              ">": x > target, "<": x < target}[c["op"]]
        if not ok:
            return False
    return True


def describe(conditions: list[dict]) -> str:
    return " and ".join(f"{c['hyperparameter']} {c['op']} {c['value']:g}" if not isinstance(c["value"], str)
                        else f"{c['hyperparameter']} {c['op']} {c['value']}" for c in conditions)


def sweep_truth(name: str, results: pd.DataFrame, curves: pd.DataFrame, task: str, hyperparameters: list[str],
                trivial_loss, chance, metric: str, goal: str, dropout_column: str | None = None) -> dict:
    """The whole truth of one sweep: labels per trial, counts, true causes, best trials."""
    labels = sweep_labels(results, curves, task, trivial_loss, chance, dropout_column)
    hp = results[hyperparameters].reset_index(drop=True)
    ids = [str(t) for t in results["trial_id"]]
    kinds = FAILURE_KINDS + ("generalization_gap", "val_above_train") + BY_DESIGN
    counts = {k: sum(bool(labels[t].get(k)) for t in ids) for k in kinds}
    causes = []
    for kind in FAILURE_KINDS:
        y = np.array([bool(labels[t].get(kind)) for t in ids])
        for c in find_causes(hp, y):
            causes.append({"kind": kind, "region": describe(c["conditions"]), **c})
    return {"sweep": name, "rules_version": RULES_VERSION, "task": task, "n_trials": len(ids),
            "objective": {"metric": metric, "goal": goal}, "hyperparameters": hyperparameters,
            "chance": chance, "trivial_loss": trivial_loss if not isinstance(trivial_loss, dict) else "per trial",
            "counts": counts, "short_run": [], "causes": causes,
            "best_trials": best_trials(results, labels, metric, goal),
            "labels": {t: {k: v for k, v in labels[t].items()} for t in ids}}
