"""Judgment scoreboard: the whole tool, run as a user runs it, scored against truths from logged curves.

    python benchmarks/judgment.py                 # every sweep, null sweeps included (a few minutes)
    python benchmarks/judgment.py --only digits_mlp --no-null
    python benchmarks/judgment.py --json judgment.json

For every sweep of the judgment corpus (benchmarks/corpus/, truth by the rules of its README) and
every real sweep of ../shared/realdata whose curves allow the same rules (DeepOBS baselines, the
nanoGPT W&B ablation; skipped when ../shared is absent), it runs
`python -m graph.run RESULTS --curves CURVES --offline --out TMP` in a subprocess, reads
`hparam_summary.json` and prints markdown tables:

- issues: per sweep and issue type, precision and recall against the truth labels (TP/FP/FN);
- advice: each pattern, recommendation and next-sweep change checked against the truth's causes
  (right cause; by-design outcome used as a cause = wrong; avoiding a region that holds one of the
  10 best trials = wrong; a region that is no true cause = wrong);
- next sweep: 2,000 configurations sampled from the plan with core.next_sweep.suggest_params, the
  share that falls in a true failure-cause region against the sweep's own share (target <= 1/4),
  and whether the 10 best trials' configurations lie inside the plan;
- by design: short_run flags where nothing was cut, patterns on pruned/early-stopped/timed-out
  runs, leakage claims where dropout or train-mode running means explain val > train;
- null sweeps: hyperparameters permuted across trials (5 seeds per corpus sweep): patterns found
  (should be 0).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "benchmarks" / "corpus"
REALDATA = ROOT.parent / "shared" / "realdata"
sys.path.insert(0, str(CORPUS))
sys.path.insert(0, str(ROOT))

import truth as T  # noqa: E402

N_SAMPLES = 2000
N_NULL = 5

# tool issue type -> truth label it is scored against
TYPE_TO_TRUTH = {
    "nonfinite_metric": "nonfinite", "status_mismatch": "hidden_failure", "diverged": "diverged",
    "no_learning": "no_learning", "overfitting": "overfitting", "generalization_gap": "generalization_gap",
    "failed": "failed", "timeout": "timeout", "pruned": "early_stopped", "short_run": "short_run",
    "suspicious_validation": "leakage",
}
SCORED_TYPES = list(TYPE_TO_TRUTH)
# tool issue type -> truth cause kinds a pattern on it may match (NaN and blow-ups are one family: instability)
CAUSE_KINDS = {
    "nonfinite_metric": ("nonfinite", "diverged"), "status_mismatch": ("nonfinite", "diverged"),
    "diverged": ("diverged", "nonfinite"), "no_learning": ("no_learning",), "failed": ("failed",),
    "overfitting": ("overfitting",),
}
BY_DESIGN_TYPES = ("pruned", "early_stopped")  # a pattern on these uses a by-design outcome as a cause
BUDGET_TYPES = ("timeout",)  # budget cuts: a pattern may explain them; avoiding their region is wrong
NO_TRUE_ISSUE_TYPES = ("short_run", "suspicious_validation")
AVOID_TYPES = ("nonfinite_metric", "status_mismatch", "diverged", "no_learning", "failed", "oscillation", "plateau",
               *BY_DESIGN_TYPES, *BUDGET_TYPES, *NO_TRUE_ISSUE_TYPES)
AVOID_ACTIONS = ("cap", "raise_low", "exclude", "cap_when", "raise_low_when", "exclude_when")
HARD_CAUSES = ("nonfinite", "diverged", "no_learning", "failed")
LEAK = re.compile(r"leak", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Sweeps and their truth


@dataclass
class Case:
    """One sweep to score: the files the tool reads, the truth, the configurations."""

    name: str
    results: Path
    curves: Path | None
    truth: dict
    configs: pd.DataFrame  # index trial_id (str), one column per searched hyperparameter
    args: list[str] = field(default_factory=list)
    corpus: bool = False


def truth_sets(truth: dict) -> dict[str, set[str]]:
    """Truth label -> trial ids, including the derived sets the tool's types are scored against."""
    sets: dict[str, set[str]] = {}
    for tid, labels in truth["labels"].items():
        for label, value in labels.items():
            if value is True:
                sets.setdefault(label, set()).add(tid)
    sets["early_stopped"] = sets.get("early_stopped", set()) | sets.get("pruned", set())
    finished = {t for t, lab in truth["labels"].items() if not ({"failed", "timeout"} & set(lab))}
    sets["hidden_failure"] = sets.get("nonfinite", set()) & finished
    sets.setdefault("short_run", set())
    sets.setdefault("leakage", set())
    return sets


def corpus_cases() -> list[Case]:
    cases = []
    for d in sorted(p for p in CORPUS.iterdir() if (p / "truth.json").exists()):
        t = json.loads((d / "truth.json").read_text())
        res = pd.read_csv(d / "results.csv", dtype={"trial_id": str}, keep_default_na=False, na_values=[""])
        cases.append(Case(d.name, d / "results.csv", d / "curves.csv", t,
                          res.set_index("trial_id")[t["hyperparameters"]], corpus=True))
    return cases


DEEPOBS_CLASSES = {"cifar10_3c3d": 10, "fmnist_2c2d": 10, "cifar100_allcnnc": 100, "svhn_wrn164": 10,
                   "mnist_vae": None, "fmnist_vae": None, "quadratic_deep": None}


def deepobs_cases(work: Path, realdata: Path = REALDATA) -> list[Case]:
    """DeepOBS baselines, one sweep per test problem (tolstoi_char_rnn left out: chance is not 1/C there)."""
    src = realdata / "deepobs_baselines"
    if not (src / "runs.csv").exists():
        return []
    runs = pd.read_csv(src / "runs.csv", dtype={"trial_id": str})
    curves = pd.read_csv(src / "curves.csv.gz", dtype={"trial_id": str})
    cases = []
    keep = ["trial_id", "optimizer", "learning_rate", "batch_size", "num_epochs", "random_seed",
            "final_train_loss", "final_test_loss", "final_train_accuracy", "final_test_accuracy"]
    for problem, n_classes in DEEPOBS_CLASSES.items():
        r = runs[runs["testproblem"] == problem][keep].dropna(axis=1, how="all").copy()
        c = curves[curves["trial_id"].isin(r["trial_id"])].dropna(axis=1, how="all")
        out = work / f"deepobs_{problem}"
        out.mkdir(parents=True, exist_ok=True)
        r.to_csv(out / "results.csv", index=False, na_rep="nan")  # a NaN DeepOBS logged stays a NaN, not a gap
        c.to_csv(out / "curves.csv", index=False, na_rep="nan")
        tc = c.rename(columns={"test_loss": "val_loss", "train_accuracy": "train_acc", "test_accuracy": "val_acc"})
        tr = r.assign(status="completed")
        if n_classes:
            trivial, chance, metric = math.log(n_classes), 1.0 / n_classes, "final_test_accuracy"
            task, goal = "classification", "max"
        else:  # loss only: the trivial loss is the loss before training (epoch 0)
            trivial = tc[tc["epoch"] == 0].groupby("trial_id")["val_loss"].first().to_dict()
            chance, metric, task, goal = None, "final_test_loss", "loss", "min"
        tc = tc[tc["epoch"] >= 1]  # the rules read training epochs 1..E; DeepOBS's epoch 0 is the untrained net
        t = T.sweep_truth(f"deepobs_{problem}", tr, tc, task, ["optimizer", "learning_rate"], trivial, chance,
                          metric=metric, goal=goal)
        t["statuses_known"] = False  # DeepOBS logs no status: every run ran its epochs
        cases.append(Case(f"deepobs_{problem}", out / "results.csv", out / "curves.csv", t,
                          r.set_index("trial_id")[["optimizer", "learning_rate"]]))
    return cases


NANOGPT_HPS = ["activation_type", "block_size", "dropout", "learning_rate", "linear_type", "n_embd", "n_head",
               "n_layer", "norm_placement", "norm_type", "pos_encoding", "residual_type", "weight_decay"]


def nanogpt_cases(realdata: Path = REALDATA) -> list[Case]:
    """The nanoGPT ablation (W&B export + per-run histories), matched to runs by the tool's own W&B reader."""
    src = realdata / "nanogpt_ablation_wandb"
    if not (src / "wandb_export.csv").exists():
        return []
    from core.sources import read_sweep

    sweep = read_sweep(src / "wandb_export.csv", curves=src / "history_data")
    frame = sweep.trials.frame
    id_col = next(c for c, spec in sweep.role_hints.items() if spec == "id")
    cur = sweep.curves.frame
    num = pd.DataFrame({"trial_id": cur["trial_id"].astype(str),
                        "epoch": pd.to_numeric(cur["iter"], errors="coerce"),
                        "train_loss": pd.to_numeric(cur["train/loss"], errors="coerce"),
                        "val_loss": pd.to_numeric(cur["val/loss"], errors="coerce")})
    logged = [cur[c].notna() & (cur[c].astype(str).str.strip() != "") for c in ("train/loss", "val/loss")]
    num = num[(logged[0] & logged[1]).to_numpy()].sort_values(["trial_id", "epoch"])
    status = frame["State"].astype(str).str.lower().map(
        {"finished": "completed", "crashed": "failed", "failed": "failed", "killed": "failed"}).fillna("completed")
    hps = [h for h in NANOGPT_HPS if h in frame.columns and frame[h].nunique() > 1]
    res = pd.DataFrame({"trial_id": frame[id_col].astype(str), "status": status.to_numpy(),
                        "val_loss": pd.to_numeric(frame["val/loss"], errors="coerce")})
    for h in hps:
        res[h] = frame[h].to_numpy()
    res = res[res["trial_id"].isin(set(num["trial_id"]))]
    start = num[num["epoch"] == 0].groupby("trial_id")["val_loss"].first().to_dict()  # the untrained model's loss
    num = num[num["epoch"] > 0]  # the rules read the evaluations made during training
    t = T.sweep_truth("nanogpt_wandb", res, num, "loss", hps, start, None, metric="val_loss", goal="min")
    return [Case("nanogpt_wandb", src / "wandb_export.csv", src / "history_data", t, res.set_index("trial_id")[hps])]


# ---------------------------------------------------------------------------------------------
# Running the tool


def run_tool(results: Path, curves: Path | None, out: Path, args: list[str] = ()) -> dict:
    """The CLI in a subprocess, offline, as a user runs it; returns hparam_summary.json."""
    cmd = [sys.executable, "-m", "graph.run", str(results), "--offline", "--out", str(out), "--no-plots", "--quiet",
           *args]
    if curves is not None:
        cmd += ["--curves", str(curves)]
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "MODEL")}
    env.update({"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    summary = out / "hparam_summary.json"
    if proc.returncode not in (0, 1) or not summary.exists():  # 1 is also --fail-on's exit, after writing everything
        raise RuntimeError(f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return json.loads(summary.read_text())


# ---------------------------------------------------------------------------------------------
# Scoring (pure functions, tested in tests/test_judgment.py)


def prf(flagged: set[str], true: set[str]) -> dict:
    """TP/FP/FN with precision (None without flags) and recall (None without true cases)."""
    tp, fp, fn = len(flagged & true), len(flagged - true), len(true - flagged)
    return {"flagged": len(flagged), "true": len(true), "tp": tp, "fp": fp, "fn": fn,
            "precision": tp / (tp + fp) if flagged else None, "recall": tp / (tp + fn) if true else None}


def issue_scores(summary: dict, truth: dict) -> dict[str, dict]:
    """Per tool issue type: precision/recall against the truth label it maps to."""
    flagged: dict[str, set[str]] = {}
    for issue in summary.get("issues") or []:
        flagged.setdefault(issue["type"], set()).add(str(issue["trial_id"]))
    sets = truth_sets(truth)
    has_status = truth.get("statuses_known", True)
    out = {}
    for typ in SCORED_TYPES:
        label = TYPE_TO_TRUTH[typ]
        if label == "leakage" and not truth.get("leakage_known", True):
            continue
        if label in ("failed", "timeout", "early_stopped", "hidden_failure") and not has_status:
            continue
        out[typ] = prf(flagged.get(typ, set()), sets.get(label, set()))
    return out


_OPS = {"≥": ">=", ">=": ">=", "≤": "<=", "<=": "<=", "<": "<", ">": ">", "=": "==", "==": "=="}
_PART = re.compile(r"^\s*(?P<hp>.+?)\s+(?P<op>≥|≤|>=|<=|==|=|<|>|in)\s+(?P<val>.+?)\s*$")
_INTERVAL = re.compile(r"^([\[(])\s*([^,]+),\s*([^\])]+)([\])])$")


def parse_condition(text: str) -> list[dict] | None:
    """'lr ≥ 0.3 and optimizer = sgd' -> conditions as in truth.in_region (None when unreadable).

    Intervals 'x in [a, b)' become two conditions (>= a, < b; ']' closes with <=).
    """
    conds: list[dict] = []
    for piece in re.split(r"\s+and\s+", text.strip()):
        m = _PART.match(piece)
        if not m:
            return None
        hp, op, val = m["hp"].strip("` "), m["op"], m["val"].strip("` ")
        if op == "in":
            iv = _INTERVAL.match(val)
            if not iv:
                return None
            lo, hi = _number(iv[2]), _number(iv[3])
            if lo is None or hi is None:
                return None
            conds.append({"hyperparameter": hp, "op": ">=" if iv[1] == "[" else ">", "value": lo})
            conds.append({"hyperparameter": hp, "op": "<=" if iv[4] == "]" else "<", "value": hi})
            continue
        num = _number(val)
        conds.append({"hyperparameter": hp, "op": _OPS[op], "value": num if num is not None else val})
    return conds


def _number(text: str) -> float | None:
    try:
        return float(str(text).replace("−", "-"))
    except ValueError:
        return None


def pattern_region(pattern: dict, associations: dict[str, dict]) -> list[dict] | None:
    """A pattern's region as conditions; thresholds taken exactly from its association when it has one."""
    conds = parse_condition(pattern.get("condition") or "")
    if conds is None:
        return None
    assoc = associations.get(pattern.get("association_id") or "")
    if assoc and assoc.get("direction") in ("above", "below") and len(conds) >= 1:
        cut = assoc.get("lo") if assoc["direction"] == "above" else assoc.get("hi")
        op = ">=" if assoc["direction"] == "above" else "<="
        for c in reversed(conds):
            if c["op"] == op and isinstance(c["value"], float) and cut is not None:
                c["value"] = float(cut)
                break
    return conds


def members(configs: pd.DataFrame, conds: list[dict]) -> set[str]:
    """Trial ids whose configuration satisfies the conditions."""
    return {str(t) for t, row in configs.iterrows() if T.in_region(row.to_dict(), conds)}


def judge_pattern(issue_type: str, conds: list[dict] | None, truth: dict, configs: pd.DataFrame) -> dict:
    """Verdict on one pattern (issue type + region): right / wrong (why) / unchecked."""
    if issue_type in BY_DESIGN_TYPES:
        return {"verdict": "wrong", "why": f"by-design outcome ({issue_type}) used as a cause"}
    if issue_type in NO_TRUE_ISSUE_TYPES and truth.get("leakage_known", True):
        return {"verdict": "wrong", "why": f"no trial of this sweep truly has {issue_type}"}
    if conds is None:
        return {"verdict": "unchecked", "why": "condition not readable"}
    if issue_type in BUDGET_TYPES:
        return {"verdict": "unchecked", "why": "budget cuts explained; wrong only if a next-sweep change avoids the region"}
    region = members(configs, conds)
    if issue_type in AVOID_TYPES:
        best = [t for t in truth["best_trials"] if t in region]
        if best:
            return {"verdict": "wrong", "why": f"avoiding it excludes best trial(s) {', '.join(best)}"}
    kinds = CAUSE_KINDS.get(issue_type)
    if kinds is None:
        return {"verdict": "unchecked", "why": f"no truth for {issue_type}"}
    sets = truth_sets(truth)
    labelled = set().union(*(sets.get(k, set()) for k in kinds))
    rest = set(configs.index.astype(str)) - region
    rate_in = len(region & labelled) / len(region) if region else 0.0
    rate_rest = len(rest & labelled) / len(rest) if rest else 0.0
    hps = {c["hyperparameter"] for c in conds}
    causes = [c for c in truth["causes"] if c["kind"] in kinds]
    shares = [c for c in causes if hps & {x["hyperparameter"] for x in c["conditions"]}]
    if shares and rate_in >= max(0.3, 2 * rate_rest):
        return {"verdict": "right", "why": f"matches true cause {shares[0]['kind']}: {shares[0]['region']}"}
    named = "; ".join(f"{c['kind']}: {c['region']}" for c in causes) or "none"
    return {"verdict": "wrong", "why": f"not a true cause (truth rate {rate_in:.2f} in region vs {rate_rest:.2f}; "
                                        f"true causes: {named})"}


def causes_found(patterns: list[dict], associations: dict, truth: dict, configs: pd.DataFrame) -> tuple[int, int]:
    """How many of the truth's hard-failure causes a pattern names (a right verdict pointing at it)."""
    hard = [c for c in truth["causes"] if c["kind"] in HARD_CAUSES + ("overfitting",)]
    found = 0
    for cause in hard:
        hps = {x["hyperparameter"] for x in cause["conditions"]}
        for p in patterns:
            conds = pattern_region(p, associations)
            if (conds and cause["kind"] in CAUSE_KINDS.get(p["issue_type"], ())
                    and hps & {c["hyperparameter"] for c in conds}
                    and judge_pattern(p["issue_type"], conds, truth, configs)["verdict"] == "right"):
                found += 1
                break
    return found, len(hard)


def _equal(value, choice) -> bool:
    a, b = _number(value) if not isinstance(value, (int, float)) else float(value), _number(choice)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return str(value) == str(choice)


def _in_when(config: dict, when: dict) -> bool:
    value = config.get(when["hyperparameter"])
    if value is None:
        return False
    if "value" in when and when["value"] is not None:
        return _equal(value, when["value"])
    x = _number(value) if not isinstance(value, (int, float)) else float(value)
    if x is None:
        return False
    lo, hi = when.get("low"), when.get("high")
    return (lo is None or x >= lo) and (hi is None or x <= hi)


def _numeric_ok(x: float, low, high, exclude) -> bool:
    tol = 1e-9
    if low is not None and x < low - tol * max(abs(low), 1e-12):
        return False
    if high is not None and x > high + tol * max(abs(high), 1e-12):
        return False
    return not any(lo <= x <= hi for lo, hi in exclude or [])


def plan_violations(config: dict, plan: dict) -> list[str]:
    """Hyperparameters on which a configuration falls outside the next-sweep plan ([] = inside)."""
    bad = []
    for name, hp in (plan.get("hyperparameters") or {}).items():
        value = config.get(name)
        if value is None:
            continue
        if hp["kind"] == "categorical":
            if not any(_equal(value, v) for v in hp.get("values") or []):
                bad.append(name)
            continue
        x = _number(value) if not isinstance(value, (int, float)) else float(value)
        if x is not None and not _numeric_ok(x, hp.get("low"), hp.get("high"), hp.get("exclude")):
            bad.append(name)
    for cond in plan.get("conditions") or []:
        name = cond["hyperparameter"]
        value = config.get(name)
        if value is None or not _in_when(config, cond["when"]):
            continue
        x = _number(value) if not isinstance(value, (int, float)) else float(value)
        if x is not None and not _numeric_ok(x, cond.get("low"), cond.get("high"), cond.get("exclude")):
            bad.append(name)
    return sorted(set(bad))


def sample_plan(plan: dict, n: int = N_SAMPLES, seed: int = 0) -> list[dict]:
    """n configurations drawn through core.next_sweep.suggest_params (Optuna's RandomSampler); None = pruned."""
    import optuna

    from core.next_sweep import suggest_params

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(suggest_params(trial, plan))
        study.tell(trial, 0.0)
    return out


def cause_share(configs: list[dict], truth: dict, kinds=HARD_CAUSES) -> float | None:
    """Share of configurations inside any true cause region of the given kinds."""
    regions = [c["conditions"] for c in truth["causes"] if c["kind"] in kinds]
    if not configs:
        return None
    return sum(any(T.in_region(cfg, r) for r in regions) for cfg in configs) / len(configs)


_UNIT = re.compile(r"dropout|drop_?rate|momentum|beta\d?|smoothing", re.IGNORECASE)
_COUNT = re.compile(r"(^|[_./])(n|num)_|batch|hidden|layers?$|units|width|depth|epochs|patience|heads?$|embd|block_size",
                    re.IGNORECASE)


def domain_violations(plan: dict) -> list[str]:
    """Plan bounds outside the parameter's natural domain: < 0 for any searched quantity here (rates,
    decay, sizes), > 1 for dropout/momentum-like ones, < 1 for counts."""
    bad = []
    bounds = [(name, hp) for name, hp in (plan.get("hyperparameters") or {}).items() if hp.get("kind") != "categorical"]
    bounds += [(c["hyperparameter"], c) for c in plan.get("conditions") or []]
    for name, hp in bounds:
        lo, hi = hp.get("low"), hp.get("high")
        if lo is not None and lo < 0:
            bad.append(f"{name} low {lo:g} < 0")
        if _UNIT.search(name) and hi is not None and hi > 1:
            bad.append(f"{name} high {hi:g} > 1")
        if _COUNT.search(name) and lo is not None and lo < 1:
            bad.append(f"{name} low {lo:g} < 1")
    return list(dict.fromkeys(bad))


def best_in_causes(truth: dict, configs: pd.DataFrame) -> dict[str, list[str]]:
    """{true cause region: the truth's best trials inside it}, for the hard causes the ratio counts.

    A plan that keeps every best trial must keep some samples inside such a region, so the ratio
    has a floor above 0 there: the table shows it beside the ratio.
    """
    out: dict[str, list[str]] = {}
    for cause in truth["causes"]:
        if cause["kind"] not in HARD_CAUSES:
            continue
        inside = [t for t in truth["best_trials"] if t in configs.index
                  and T.in_region(configs.loc[t].to_dict(), cause["conditions"])]
        if inside:
            out.setdefault(f"{cause['kind']}: {cause['region']}", []).extend(inside)
    return out


def judge_plan(plan: dict, truth: dict, configs: pd.DataFrame, n: int = N_SAMPLES) -> dict:
    """Sampling check and best-region check of a next-sweep plan."""
    rows = [dict(row) for _, row in configs.iterrows()]
    own = cause_share(rows, truth)
    best_out = {t: plan_violations(configs.loc[t].to_dict(), plan) for t in truth["best_trials"] if t in configs.index}
    best_out = {t: v for t, v in best_out.items() if v}
    out = {"sweep_share": own, "best_outside": best_out, "n_best": len(truth["best_trials"]),
           "best_in_causes": best_in_causes(truth, configs), "domain_violations": domain_violations(plan)}
    has_causes = any(c["kind"] in HARD_CAUSES for c in truth["causes"])
    if plan and plan.get("hyperparameters") and has_causes:
        try:
            samples = sample_plan(plan, n)
        except Exception as exc:  # a plan suggest_params cannot sample is a finding, not a crash of the scoreboard
            out["sample_error"] = f"{type(exc).__name__}: {exc}"
            return out
        kept = [s for s in samples if s is not None]
        share = cause_share(kept, truth)
        out.update({"n_samples": n, "n_kept": len(kept), "sample_share": share,
                    "ratio": share / own if share is not None and own else None})
    return out


def pushes_out(change: dict, config: dict, kind: str | None = None) -> bool | None:
    """Whether this one change leaves the configuration out (None: the change's shape is not one we read).

    ``to`` is the new ``[low, high]`` (``cap`` excludes the threshold ``high`` itself, ``raise_low``
    the ``low``), or for ``exclude``/``exclude_when`` the excluded interval or value(s); ``when``
    is the region it applies in. For an integer hyperparameter (``kind`` ``"int"`` in the plan)
    ``to`` is the closed range of the values kept (``batch_size`` capped below 512 on the grid
    16/32/128/512 is ``[16, 128]``), as the README's next-sweep section states.
    """
    action, to, hp = str(change.get("action") or ""), change.get("to"), change.get("hyperparameter")
    if change.get("when"):
        when = parse_condition(str(change["when"]))
        if when is None:
            return None
        if not T.in_region(config, when):
            return False
    value = config.get(hp)
    if value is None:
        return False
    if action.startswith("exclude"):
        values = to if isinstance(to, list) else [to]
        if len(values) == 2 and all(isinstance(v, (int, float)) for v in values):
            x = _number(value) if not isinstance(value, (int, float)) else float(value)
            return x is not None and values[0] <= x <= values[1]
        return any(_equal(value, v) for v in values)
    if isinstance(to, list) and len(to) == 2 and all(v is None or isinstance(v, (int, float)) for v in to):
        x = _number(value) if not isinstance(value, (int, float)) else float(value)
        if x is None:
            return None
        low, high = to
        if kind == "int":
            return (high is not None and x > high) or (low is not None and x < low)
        if action.startswith("cap") and high is not None:
            return x >= high * (1 - 1e-12) if high > 0 else x >= high
        if action.startswith("raise_low") and low is not None:
            return x <= low * (1 + 1e-12) if low > 0 else x <= low
        return not _numeric_ok(x, low, high, [])
    return None


def judge_changes(plan: dict, truth: dict, configs: pd.DataFrame, verdicts: dict[str, dict]) -> list[dict]:
    """Each next-sweep change: wrong when it rests on a wrong pattern or pushes a best trial out of the plan."""
    out = []
    best_out = {t: plan_violations(configs.loc[t].to_dict(), plan) for t in truth["best_trials"] if t in configs.index}
    for ch in plan.get("changes") or []:
        hp = ch.get("hyperparameter")
        evid = re.findall(r"\bP\d+\b", str(ch.get("evidence") or ""))
        wrong_p = [p for p in evid if verdicts.get(p, {}).get("verdict") == "wrong"]
        pushed = []
        for t, bad in best_out.items():
            own = pushes_out(ch, configs.loc[t].to_dict(), ((plan.get("hyperparameters") or {}).get(hp) or {}).get("kind"))
            if own or (own is None and hp in bad):  # unread shapes: blamed when the plan leaves t out on hp
                pushed.append(t)
        by_design = re.search(r"issue_counts\.(pruned|timeout|early_stopped)", str(ch.get("evidence") or ""))
        gap = [p for p in evid if verdicts.get(p, {}).get("issue_type") == "generalization_gap"]
        cut = [p for p in evid if verdicts.get(p, {}).get("issue_type") in BY_DESIGN_TYPES + BUDGET_TYPES]
        if by_design and (by_design[1] != "timeout" or ch.get("action") in AVOID_ACTIONS):
            v = {"verdict": "wrong", "why": f"rests on a by-design outcome ({by_design[1]})"}
        elif cut and ch.get("action") in AVOID_ACTIONS:
            v = {"verdict": "wrong", "why": f"avoids a region for by-design stops or budget cuts ({', '.join(cut)})"}
        elif gap and ch.get("action") in AVOID_ACTIONS:
            v = {"verdict": "wrong", "why": f"avoids a region for a mere generalization gap ({', '.join(gap)})"}
        elif pushed and ch.get("action") not in ("widen", "more_epochs", "add"):
            v = {"verdict": "wrong", "why": f"puts best trial(s) {', '.join(pushed)} outside the plan"}
        elif wrong_p:
            v = {"verdict": "wrong", "why": f"rests on wrong pattern(s) {', '.join(wrong_p)}"}
        elif any(verdicts.get(p, {}).get("verdict") == "right" for p in evid):
            v = {"verdict": "right", "why": "rests on a right pattern, keeps the best trials"}
        else:
            v = {"verdict": "unchecked", "why": "no pattern behind it" if not evid else "pattern unchecked"}
        out.append({"hyperparameter": hp, "action": ch.get("action"), "when": ch.get("when"), **v})
    return out


def leakage_claims(summary: dict, truth: dict) -> dict:
    """suspicious_validation flags and leakage wording, and how many sit where val > train is explained."""
    explained = {t for t, lab in truth["labels"].items() if lab.get("val_above_train")}
    flags = {str(i["trial_id"]) for i in summary.get("issues") or [] if i["type"] == "suspicious_validation"}
    texts = [x.get("text", "") for x in summary.get("recommendations") or []]
    texts += [p.get("recommendation", "") + " " + p.get("explanation", "") for p in summary.get("patterns") or []]
    texts += [f.get("detail", "") + " " + f.get("title", "") for f in summary.get("findings") or []]
    leak_issue = {str(i["trial_id"]) for i in summary.get("issues") or [] if LEAK.search(i.get("detail") or "")}
    return {"suspicious_flags": len(flags), "explained_flags": len(flags & explained),
            "leak_issue_texts": len(leak_issue), "leak_issue_texts_explained": len(leak_issue & explained),
            "leak_advice": sum(bool(LEAK.search(t)) for t in texts)}


def score_summary(summary: dict, case: Case) -> dict:
    """Everything the scoreboard says about one run of the tool on one sweep."""
    truth, configs = case.truth, case.configs
    associations = {a["id"]: a for a in summary.get("associations") or []}
    patterns = summary.get("patterns") or []
    verdicts = {}
    for p in patterns:
        verdicts[p["id"]] = {"issue_type": p["issue_type"], "condition": p.get("condition"),
                             "explained_by": p.get("explained_by"),
                             **judge_pattern(p["issue_type"], pattern_region(p, associations), truth, configs)}
    recs = []
    for r in summary.get("recommendations") or []:
        if r.get("pattern_id") in verdicts:
            v = {k: verdicts[r["pattern_id"]][k] for k in ("verdict", "why", "explained_by")}
        elif LEAK.search(r.get("text", "")) and truth.get("leakage_known", True):
            v = {"verdict": "wrong", "why": "leakage advice; no split of this sweep leaks"}
        else:
            v = {"verdict": "unchecked", "why": "rests on no pattern"}
        recs.append({"id": r.get("id"), "text": r.get("text", "")[:160], **v})
    plan = summary.get("next_sweep") or {}
    found, n_causes = causes_found(patterns, associations, truth, configs)
    return {
        "issues": issue_scores(summary, truth),
        "patterns": verdicts, "recommendations": recs,
        "changes": judge_changes(plan, truth, configs, verdicts),
        "plan": judge_plan(plan, truth, configs),
        "causes_found": [found, n_causes],
        "best_trial": (summary.get("best_trial") or {}).get("trial_id"),
        "short_run_flags": sum(1 for i in summary.get("issues") or [] if i["type"] == "short_run"),
        "patterns_on_by_design": sum(1 for p in patterns if p["issue_type"] in BY_DESIGN_TYPES),
        "patterns_on_timeouts": sum(1 for p in patterns if p["issue_type"] in BUDGET_TYPES),
        "leakage": leakage_claims(summary, truth),
    }


def permuted(results: Path, hyperparameters: list[str], seed: int, out: Path) -> Path:
    """A copy of results.csv with the hyperparameter block permuted across trials (rows kept together)."""
    frame = pd.read_csv(results, dtype=str, keep_default_na=False)
    cols = [h for h in hyperparameters if h != "max_epochs"]  # max_epochs is also the trial's own budget
    order = np.random.default_rng(seed).permutation(len(frame))
    frame[cols] = frame[cols].iloc[order].to_numpy()
    frame.to_csv(out, index=False)
    return out


def null_patterns(summary: dict, hyperparameters: list[str]) -> int:
    """Patterns that involve a permuted hyperparameter (any such pattern is a false discovery)."""
    permuted_hps = set(hyperparameters) - {"max_epochs"}
    return sum(1 for p in summary.get("patterns") or []
               if permuted_hps & set(p.get("hyperparameters") or [p.get("hyperparameter")]))


# ---------------------------------------------------------------------------------------------
# Tables


def _pr(s: dict | None) -> str:
    if not s:
        return "–"
    p = "–" if s["precision"] is None else f"{s['precision']:.2f}"
    r = "–" if s["recall"] is None else f"{s['recall']:.2f}"
    return f"{p} / {r} ({s['tp']}/{s['fp']}/{s['fn']})"


def _num(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _count(items, verdict) -> int:
    return sum(1 for x in items if x["verdict"] == verdict)


def _deferring(items) -> int:
    """Wrong verdicts on a pattern that itself says another pattern explains it (``explained_by``), or on its advice.

    Counted among the wrong ones all the same (the verdict rules predate the tool's deferring
    patterns); shown beside them so a reader can tell a claim from a pointer to another claim.
    """
    return sum(1 for x in items if x["verdict"] == "wrong" and x.get("explained_by"))


def _best_rank(trial_id: str | None, best: list[str]) -> str:
    if trial_id is None:
        return "none chosen"
    return f"yes ({trial_id}, rank {best.index(trial_id) + 1})" if trial_id in best else f"no ({trial_id})"


def tables(scores: dict[str, dict], nulls: dict[str, list[int]], scores_truth: dict[str, list[str]]) -> str:
    lines = ["### Issues: precision / recall (TP/FP/FN) against the truth", "",
             "| sweep | overfitting | no_learning | nonfinite_metric | diverged | generalization_gap | failed | "
             "short_run flags (truth 0) | suspicious_validation flags |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, s in scores.items():
        i = s["issues"]
        lines.append(f"| {name} | {_pr(i.get('overfitting'))} | {_pr(i.get('no_learning'))} | "
                     f"{_pr(i.get('nonfinite_metric'))} | {_pr(i.get('diverged'))} | {_pr(i.get('generalization_gap'))} | "
                     f"{_pr(i.get('failed'))} | {s['short_run_flags']} | {s['leakage']['suspicious_flags']} |")
    lines += ["", "### Advice checked against the true causes", "",
              "| sweep | patterns right / wrong (of them deferring to another pattern) / unchecked | "
              "recommendations right / wrong (of them following another pattern) / unchecked | "
              "next-sweep changes right / wrong / unchecked | true causes named by a pattern | "
              "patterns on pruned / early-stopped (on timeouts) | "
              "leakage claims (where a regulariser or running means explain val > train) |",
              "|---|---|---|---|---|---|---|"]
    for name, s in scores.items():
        pv = list(s["patterns"].values())
        lk = s["leakage"]
        lines.append(f"| {name} | {_count(pv, 'right')} / {_count(pv, 'wrong')} ({_deferring(pv)}) / {_count(pv, 'unchecked')} | "
                     f"{_count(s['recommendations'], 'right')} / {_count(s['recommendations'], 'wrong')} "
                     f"({_deferring(s['recommendations'])}) / "
                     f"{_count(s['recommendations'], 'unchecked')} | {_count(s['changes'], 'right')} / "
                     f"{_count(s['changes'], 'wrong')} / {_count(s['changes'], 'unchecked')} | "
                     f"{s['causes_found'][0]} of {s['causes_found'][1]} | {s['patterns_on_by_design']} "
                     f"({s['patterns_on_timeouts']}) | "
                     f"{lk['suspicious_flags'] + lk['leak_advice']} ({lk['explained_flags']}) |")
    lines += ["", "### Next sweep: 2,000 configurations sampled with suggest_params", "",
              "| sweep | kept (not pruned) | in a true failure-cause region: samples | sweep's own | ratio (target ≤ 0.25) | "
              "10 best trials inside the plan | of them inside a true cause region | bounds outside the natural domain | "
              "the tool's best trial among the 10 best |",
              "|---|---|---|---|---|---|---|---|---|"]
    for name, s in scores.items():
        p = s["plan"]
        inside = p["n_best"] - len(p["best_outside"])
        kept = f"suggest_params failed: {p['sample_error'][:90]}" if p.get("sample_error") else p.get("n_kept", "–")
        lines.append(f"| {name} | {kept} | {_num(p.get('sample_share'), 3)} | {_num(p.get('sweep_share'), 3)} | "
                     f"{_num(p.get('ratio'), 3)} | {inside} of {p['n_best']} | {_in_causes(p.get('best_in_causes') or {})} | "
                     f"{'; '.join(p['domain_violations']) or 'none'} | "
                     f"{_best_rank(s['best_trial'], scores_truth.get(name, []))} |")
    if nulls:
        lines += ["", f"### Null sweeps: hyperparameters permuted across trials ({N_NULL} seeds each; target 0)", "",
                  "| sweep | seeds with a pattern | patterns in all seeds |", "|---|---|---|"]
        for name, counts in nulls.items():
            lines.append(f"| {name} | {sum(c > 0 for c in counts)} of {len(counts)} | {sum(counts)} |")
    return "\n".join(lines)


def _in_causes(regions: dict[str, list[str]]) -> str:
    """'6 (no_learning: lr < 0.000151)' or 'none': how many best trials lie in a true cause region, and where."""
    ids = {t for v in regions.values() for t in v}
    return f"{len(ids)} ({'; '.join(regions)})" if ids else "none"


def details(scores: dict[str, dict]) -> str:
    lines = ["", "### Details", ""]
    for name, s in scores.items():
        lines.append(f"**{name}**")
        lines.append("")
        lines.append("| issue type | truth | flagged | TP | FP | FN | precision | recall |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for typ, v in s["issues"].items():
            lines.append(f"| {typ} | {v['true']} | {v['flagged']} | {v['tp']} | {v['fp']} | {v['fn']} | "
                         f"{_num(v['precision'])} | {_num(v['recall'])} |")
        lines.append("")
        for pid, v in s["patterns"].items():
            lines.append(f"- {pid} {v['issue_type']} at {v['condition']}: **{v['verdict']}** ({v['why']})")
        for ch in s["changes"]:
            when = f" when {ch['when']}" if ch.get("when") else ""
            lines.append(f"- next sweep {ch['action']} {ch['hyperparameter']}{when}: **{ch['verdict']}** ({ch['why']})")
        if s["plan"]["best_outside"]:
            lines.append(f"- best trials outside the plan: {s['plan']['best_outside']}")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", help="sweep name (repeatable)")
    ap.add_argument("--no-null", action="store_true", help="skip the null sweeps")
    ap.add_argument("--no-realdata", action="store_true", help="skip ../shared/realdata")
    ap.add_argument("--realdata", type=Path, default=REALDATA, help="where the shared real sweeps are (default: %(default)s)")
    ap.add_argument("--jobs", type=int, default=4, help="tool runs at once")
    ap.add_argument("--json", type=Path, help="also write machine-readable results here")
    ap.add_argument("--details", action="store_true", help="print each verdict and the full issue tables")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="judgment-") as tmp:
        work = Path(tmp)
        cases = corpus_cases()
        if not args.no_realdata:
            if args.realdata.exists():
                cases += deepobs_cases(work / "data", args.realdata) + nanogpt_cases(args.realdata)
            else:
                print(f"note: {args.realdata} is absent; real sweeps skipped", file=sys.stderr)
        if args.only:
            cases = [c for c in cases if c.name in args.only]
        jobs = [(c, c.results, f"{c.name}") for c in cases]
        if not args.no_null:
            for c in cases:
                if c.corpus:
                    for seed in range(N_NULL):
                        path = permuted(c.results, c.truth["hyperparameters"], seed, work / f"{c.name}_null{seed}.csv")
                        jobs.append((c, path, f"{c.name}#null{seed}"))

        def one(job):
            case, results, key = job
            try:
                summary = run_tool(results, case.curves, work / key.replace("#", "_"), case.args)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:  # the tool failing is a result too
                print(f"tool failed on {key}: {exc}", file=sys.stderr, flush=True)
                return key, None
            print(f"ran {key}", file=sys.stderr, flush=True)
            return key, summary

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            summaries = dict(pool.map(one, jobs))
        failed = [k for k, v in summaries.items() if v is None]
        scores = {c.name: score_summary(summaries[c.name], c) for c in cases if summaries[c.name] is not None}
        nulls = {c.name: [null_patterns(summaries[f"{c.name}#null{s}"], c.truth["hyperparameters"])
                          for s in range(N_NULL) if summaries[f"{c.name}#null{s}"] is not None]
                 for c in cases if c.corpus and not args.no_null}
    print(tables(scores, nulls, {c.name: c.truth["best_trials"] for c in cases}))
    if failed:
        print(f"\n**The tool failed on {len(failed)} run(s)**: {', '.join(failed)} (stderr above)")
    if args.details:
        print(details(scores))
    if args.json:
        args.json.write_text(json.dumps({"scores": scores, "null": nulls}, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
