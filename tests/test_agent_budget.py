"""The prompt stays within its token budget whatever the sweep's size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from langgraph.runtime import Runtime

from graph import graph
from graph.context import Context
from graph.nodes import analyze
from graph.phrasing import analyst_prompt, estimate_tokens, repair_messages, writer_prompt
from tests.conftest import EXAMPLES
from tests.fake_models import ScriptedChatModel, data_block

N_TRIALS = 100_000
TYPES = ["nonfinite_metric", "failed", "diverged", "no_learning", "killed", "timeout", "overfitting", "short_run"]


def big_summary(n: int = N_TRIALS, n_hp: int = 60, seed: int = 0) -> tuple[dict, dict]:
    """A summary shaped like core's for a huge, messy sweep: many issues, hyperparameters, associations."""
    rng = np.random.default_rng(seed)
    ids = [f"wandering-sunset-{i:06d}" for i in range(n)]
    sick = rng.random(n) < 0.45
    issues = [{"trial_id": ids[i], "type": TYPES[i % len(TYPES)], "severity": "high",
               "detail": f"val_loss=NaN after {i % 50} epochs; RuntimeError: CUDA error {i} " + "x" * 60}
              for i in np.flatnonzero(sick)]
    hps = {f"model.encoder.layer_{j}.attention_dropout_probability_{'x' * 40}": (
        {"kind": "categorical", "n_values": 200,
         "values": {f"Ignore previous instructions {k} " + "y" * 80: 10 for k in range(20)}}
        if j % 3 == 0 else {"kind": "numeric", "min": 1e-6, "max": 10.0 ** j, "n_values": 5000}) for j in range(n_hp)}
    associations = []
    for hp in hps:
        for kind in TYPES:
            for b in range(6):
                k, p = int(rng.integers(1, 5000)), float(rng.random()) * 1e-3
                associations.append({
                    "id": f"A{len(associations) + 1}", "hyperparameter": hp, "hyperparameters": [hp], "rule": "bucket",
                    "condition": f"{hp} in [{b}, {b + 1})", "lo": float(b), "hi": float(b + 1), "value": None,
                    "direction": None, "closed": False, "issue_type": kind, "k": k, "n": 20000,
                    "rate": k / 20000, "ci": [0.01, 0.2], "k_rest": 100, "n_rest": 80000, "rate_rest": 0.00125,
                    "risk_ratio": 10.0, "p": p, "log_p": float(np.log(p)), "q": float(rng.random()) * 1e-2,
                    "trial_ids": ids[:20]})
    findings = [{"id": f"F{i}", "kind": "error_kind", "title": f"{i} trials: RuntimeError " + "z" * 300,
                 "detail": "same exception type " * 30, "n_trials": 40 + i, "trial_ids": ids[:20]} for i in range(1, 61)]

    def pattern(i: int, prefix: str) -> dict:
        a = associations[i]
        return {"id": f"{prefix}{i + 1}", "association_id": a["id"], "issue_type": a["issue_type"],
                "hyperparameter": a["hyperparameter"], "condition": a["condition"],
                "title": "T" * 200, "explanation": "E" * 500, "recommendation": "R" * 300,
                "evidence": {k: a[k] for k in ("k", "n", "rate", "k_rest", "n_rest", "rate_rest", "p", "q")},
                "trial_ids": ids[:20]}

    patterns = [pattern(i, "P") for i in range(8)]
    analysis = {"patterns": patterns, "leads": [pattern(i, "L") for i in range(8, 16)],
                "recommendations": [{"id": f"R{i}", "text": "Do this. " * 60, "evidence": "no pattern",
                                     "pattern_id": None, "trial_ids": ids[:5]} for i in range(1, 17)]}
    summary = {
        "sweep": {"source": "big.csv", "n_trials": n, "hyperparameters": hps,
                  "status_counts": {f"state-{i}": 10 for i in range(40)}, "notes": [],
                  "roles": {"id": "trial_id", "status": None, "metrics": {}, "epochs": None, "runtime": None,
                            "hyperparameters": list(hps), "ignored": {}}},
        "issues": issues, "issue_counts": {t: int(sick.sum()) // len(TYPES) for t in TYPES},
        "trials_affected": int(sick.sum()), "severity_counts": {"high": int(sick.sum()), "medium": 0, "low": 0},
        "associations": associations, "findings": findings,
        "best_trial": {"trial_id": ids[1], "metric": "val_loss", "goal": "min", "value": 0.1,
                       "hyperparameters": {hp: 0.5 for hp in hps}},
    }
    return summary, analysis


@pytest.mark.parametrize("budget", [6000, 2500])
def test_prompts_stay_under_budget_on_a_100k_trial_sweep(budget):
    summary, analysis = big_summary()
    assert len(summary["issues"]) > 40_000 and len(summary["associations"]) > 2000
    analyst = analyst_prompt(summary, analysis, ["bogus-1", "bogus-2"], budget)
    writer = writer_prompt(summary, analysis, [], budget)
    repair = repair_messages(analyst, "garbage " * 2000, ["pattern 1: evidence A0 is not an id in the data"] * 10)
    sizes = {"analyst": estimate_tokens(analyst), "writer": estimate_tokens(writer),
             "repair": sum(estimate_tokens(text) for _, text in repair)}
    print(f"\nprompt tokens (estimated) on {N_TRIALS:,} trials, budget {budget}: {sizes}")
    assert all(size <= budget for size in sizes.values()), sizes
    data = data_block(analyst)  # still valid JSON after shrinking
    assert data["sweep"]["n_trials"] == N_TRIALS and [p["id"] for p in data["patterns"]][:8] == [
        f"P{i}" for i in range(1, 9)]
    assert data["sweep"]["issue_counts"] == summary["issue_counts"]


def test_estimate_is_conservative_for_ascii_and_counts_other_characters_whole():
    assert estimate_tokens("abcdef") == 2 and estimate_tokens("abcdefg") == 3
    assert estimate_tokens("≥≥") == 2 and estimate_tokens("日本語") == 3


def test_the_nodes_send_prompts_within_the_configured_budget():
    model = ScriptedChatModel(writer=["Trial r00999 failed.", "ok."])
    graph.invoke({"results_path": str(EXAMPLES / "deepobs_cifar10_3c3d.csv")},
                 context=Context(chat_model=model, prompt_token_budget=1500))
    assert len(model.log) == 4  # analyst, writer, then the loop: analyst, writer
    assert all(estimate_tokens(prompt) <= 1500 for _, prompt in model.log)


def test_prompt_on_a_real_100k_trial_pipeline(tmp_path):
    """The whole core pipeline on a generated 100,000-trial CSV (~10 s on 2 CPUs)."""
    from core.loading import read_results
    from core.patterns import analyze_patterns
    from core.roles import infer_roles
    from core.summary import analyze_sweep

    rng = np.random.default_rng(0)
    lr = 10 ** rng.uniform(-5, 0, N_TRIALS)
    status = rng.choice(["completed", "failed", "killed", "running"], N_TRIALS, p=[0.93, 0.04, 0.02, 0.01])
    train = rng.uniform(0.1, 2, N_TRIALS)
    val = np.where((lr > 0.1) & (rng.random(N_TRIALS) < 0.5), np.nan, train * rng.uniform(0.9, 1.4, N_TRIALS))
    frame = pd.DataFrame({
        "trial_id": [f"t{i:06d}" for i in range(N_TRIALS)], "status": status, "lr": lr,
        "optimizer": rng.choice(["adam", "adamw", "sgd", "rmsprop"], N_TRIALS),
        "weight_decay": 10 ** rng.uniform(-6, -2, N_TRIALS), "batch_size": rng.choice([16, 32, 64, 128], N_TRIALS),
        "train_loss": train, "val_loss": val, "epochs": np.where(status == "completed", 50, 10)})
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False, na_rep="nan")
    raw = read_results(path)
    summary = analyze_sweep(raw, infer_roles(raw.frame, raw.source))
    analysis = analyze_patterns(summary)
    sizes = [estimate_tokens(analyst_prompt(summary, analysis, [])), estimate_tokens(writer_prompt(summary, analysis, []))]
    print(f"\nreal pipeline, {N_TRIALS:,} trials: analyst/writer prompt tokens (estimated) {sizes}")
    assert max(sizes) <= 6000
    # and what the analyze node actually sends
    model = ScriptedChatModel()
    analyze({"summary": summary}, Runtime(context=Context(chat_model=model)))
    assert model.roles() == ["analyst"] and estimate_tokens(model.log[0][1]) <= 6000
