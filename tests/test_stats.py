"""core.stats against scipy.stats, which a run no longer imports (a second of start-up)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from core.stats import bh_qvalues, binomial_sf, fisher_greater, wilson_interval

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


def _extreme_cases() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, total, good, draws): edges of the support, tails at the mode, skewed and huge distributions."""
    cases = [(-1, 10, 3, 4), (0, 10, 3, 4), (2, 10, 3, 4), (3, 10, 3, 4), (5, 10, 3, 4),  # below, in, past the support
             (0, 1, 1, 1), (-1, 1, 0, 1), (0, 5, 0, 3), (0, 5, 5, 3), (2, 5, 5, 3), (0, 7, 3, 0), (1, 7, 3, 7),
             (4, 1_000_000, 5, 500_000), (0, 1_000_000, 1, 999_999),  # few flagged in a huge sweep
             (499_999, 1_000_000, 500_000, 999_999), (250_000, 1_000_000, 500_000, 500_000)]  # last term; the mode
    for total, good, draws in ((1_000_000, 160_000, 500_000), (2_000_000, 1_000, 1_999_000), (100_000, 99_000, 60_000),
                               (1_000_000, 3, 17), (60, 30, 30)):  # every x around the mean, and the far tails
        mean, sd = draws * good / total, max(1.0, np.sqrt(draws * good / total))
        lo, hi = max(0, draws - (total - good)), min(good, draws)
        for x in {*np.round(mean + sd * np.array([-50, -6, -3, -1, -0.5, 0, 0.5, 1, 3, 6, 50])).astype(int), lo, hi - 1}:
            cases.append((int(np.clip(x, lo - 1, hi)), total, good, draws))
    return tuple(np.array(c, dtype=float) for c in zip(*cases))


def test_log_tail_agrees_with_scipy_on_extreme_cases():
    """Support edges, tails starting at the mode, Poisson-like and near-total draws.

    The p-value is scipy's ``sf`` to 1e-9 relative up to 100,000 trials and 1e-8 at two
    million (the log of the tail's first term is a difference of log-gammas of about
    3e7 there: a few 1e-9 of absolute error); where ``sf`` underflows, the log is
    scipy's ``logsf`` to 1e-9. (Near p = 1 scipy's ``logsf`` is the less exact one:
    P(X > 0) with one flagged trial of a million and 999,999 drawn is 0.999999 exactly,
    whose log ``logsf`` gives as -1.00048e-6.)
    """
    from core.stats import hypergeom_logsf

    x, total, good, draws = _extreme_cases()
    got = hypergeom_logsf(x, total, good, draws)
    sf, logsf = stats.hypergeom.sf(x, total, good, draws), stats.hypergeom.logsf(x, total, good, draws)
    assert np.array_equal(np.isneginf(got), np.isneginf(logsf)) and not np.isnan(got).any()
    listed = sf > 1e-290
    small = listed & (total <= 100_000)
    assert np.allclose(np.exp(got[small]), sf[small], rtol=1e-9, atol=0)
    assert np.allclose(np.exp(got[listed]), sf[listed], rtol=1e-8, atol=0)
    tiny = ~listed & np.isfinite(logsf)
    assert tiny.sum() >= 3 and np.allclose(got[tiny], logsf[tiny], rtol=1e-9)
    assert hypergeom_logsf(0, 1_000_000, 1, 999_999) == pytest.approx(np.log1p(-1e-6), rel=1e-12)


def test_log_tail_ranks_cuts_as_scipy_does():
    """A threshold search ranks ~60 cuts of one issue type on log p: the order is scipy logsf's, underflow or not."""
    from core.stats import log_fisher_greater

    for n_total, k_total, seed in ((1_000_000, 160_000, 0), (100_000, 2_000, 1), (5_000, 40, 2)):
        rng = np.random.default_rng(seed)
        n = np.sort(rng.choice(np.arange(1, n_total), 64, replace=False))
        k = np.minimum(n, np.round(k_total * (n / n_total) ** rng.uniform(0.3, 1.0, 64))).astype(int)
        k = np.clip(k, np.maximum(0, n - (n_total - k_total)), k_total)
        ours = log_fisher_greater(k, n, k_total, n_total)
        theirs = np.where(k > 0, stats.hypergeom.logsf(k - 1, n_total, k_total, n), 0.0)
        assert np.allclose(ours, theirs, rtol=1e-9, atol=1e-12)
        distinct = np.abs(np.subtract.outer(theirs, theirs)) > 1e-9 * np.maximum(1, np.abs(theirs))[:, None]
        assert np.array_equal(np.less.outer(ours, ours) & distinct, np.less.outer(theirs, theirs) & distinct)


def test_a_tail_longer_than_its_first_block_goes_on_in_wider_blocks(monkeypatch):
    """First blocks of one term (in practice one block suffices): every tail is summed over many rounds, the same."""
    import core.stats
    from core.stats import hypergeom_logsf

    x, total, good, draws = _extreme_cases()
    once = hypergeom_logsf(x, total, good, draws)
    monkeypatch.setattr(core.stats, "_FIRST_BLOCK_SDS", 0.0)
    monkeypatch.setattr(core.stats, "_FIRST_BLOCK_PAD", 1.0)
    rounds = hypergeom_logsf(x, total, good, draws)
    assert np.allclose(rounds, once, rtol=1e-12, atol=0) and np.array_equal(np.isneginf(rounds), np.isneginf(once))
    logsf = stats.hypergeom.logsf(x, total, good, draws)
    small = np.isfinite(logsf) & (total <= 100_000)
    assert small.sum() >= 20 and np.allclose(rounds[small], logsf[small], rtol=1e-9, atol=1e-12)


def test_an_empty_population_is_no_warning():
    from core.stats import hypergeom_logsf

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hypergeom_logsf(0, 0, 0, 0) == -np.inf and hypergeom_logsf(-1, 0, 0, 0) == 0.0


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


def test_binomial_tail_is_scipys_binom_sf():
    for k, n, p in [(2, 10, 0.1), (7, 10, 0.64), (10, 10, 0.9), (0, 10, 0.3), (3, 10, 0.0), (2, 10, 1.0), (11, 10, 0.5)]:
        assert binomial_sf(k, n, p) == pytest.approx(stats.binom.sf(k - 1, n, p), rel=1e-12, abs=1e-15)


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
