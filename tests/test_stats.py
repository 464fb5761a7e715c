"""core.stats against scipy.stats, which a run no longer imports (a second of start-up)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from core.stats import bh_qvalues, fisher_greater, wilson_interval

ROOT = Path(__file__).resolve().parents[1]


def test_fisher_tail_agrees_with_scipy_hypergeom_sf_to_1e9():
    rng = np.random.default_rng(3)
    total = rng.integers(2, 300_000, 4000)
    good = (rng.random(4000) * (total + 1)).astype(int)
    draws = (rng.random(4000) * (total + 1)).astype(int)
    k = np.concatenate([rng.integers(0, 4, 2000), (rng.random(2000) * (np.minimum(good, draws)[2000:] + 2)).astype(int)])
    expected = np.where(k > 0, stats.hypergeom.sf(k - 1, total, good, draws), 1.0)
    got = fisher_greater(k, draws, good, total)
    assert np.allclose(got, expected, rtol=1e-9, atol=1e-300)
    assert fisher_greater(0, 10, 5, 100) == 1.0
    assert fisher_greater(5, 5, 5, 100) == pytest.approx(stats.hypergeom.sf(4, 100, 5, 5), rel=1e-12)
    assert fisher_greater(6, 10, 5, 100) == 0.0  # more flagged in the group than in the sweep


@pytest.mark.parametrize("seed", range(5))
def test_bh_is_scipys_false_discovery_control_to_the_last_bit(seed):
    rng = np.random.default_rng(seed)
    p = rng.random(200) ** 3
    p[rng.integers(0, 200, 40)] = p[rng.integers(0, 200, 40)]  # ties
    p[:5] = [0.0, 1.0, 1.0, 1e-300, 0.05]
    assert np.array_equal(bh_qvalues(p), stats.false_discovery_control(p, method="bh"))
    assert np.array_equal(bh_qvalues(p[:1]), p[:1]) and bh_qvalues(np.array([])).size == 0


def test_wilson_interval_uses_the_normal_quantile_scipy_gives():
    from core.stats import _z

    for confidence in (0.9, 0.95, 0.99):
        assert _z(confidence) == stats.norm.ppf(0.5 + confidence / 2)
    lo, hi = wilson_interval(3, 10)
    assert 0.10 < lo < 0.11 and 0.60 < hi < 0.61  # 3/10 at 95 %: (0.108, 0.603)


def test_an_offline_run_imports_neither_scipy_stats_nor_a_model_client(tmp_path):
    """The command line's start-up: scipy.stats, LangChain, LangGraph and httpx are not loaded offline."""
    rows = ["trial_id,lr,status,val_loss"] + [f"{i},{10 ** (-i % 5)},completed,{0.5 + i / 100}" for i in range(40)]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    code = ("import sys\nfrom graph.run import main\nrc = main([sys.argv[1], '--out', sys.argv[2], '--offline', '--quiet'])\n"
            "heavy = sorted(m for m in ('scipy.stats', 'langchain_core', 'langgraph', 'httpx') "
            "if m in sys.modules)\nprint(rc, heavy)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "r.csv"), str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "0 []", done.stdout + done.stderr
