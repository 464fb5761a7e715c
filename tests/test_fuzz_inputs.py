"""Hypothesis: whatever the input, exit 0 with a schema-valid summary or exit 2 with one line, never a traceback.

The default example count is small so the suite stays quick; ``HPATH_FUZZ_EXAMPLES``
raises it, and benchmarks/fuzz_inputs.py runs thousands and prints the figures.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings

from tests.fuzz_cases import (
    SQLITE_DAMAGE,
    check,
    damaged_layouts,
    kerastuner_trials,
    outcome,
    results_tables,
    write_input,
)

EXAMPLES = int(os.environ.get("HPATH_FUZZ_EXAMPLES", "12"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _run(case: object) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        check(*outcome(write_input(base, case), base / "out"))


@FUZZ
@given(results_tables())
@example((b"trial_id\tlayers0\tval_loss\tstate\r\n70857\t1e308\t0\tPRUNED\r\n0\t-1e308\t-0\tRUNNING\r\n", ".csv"))
@example((b"trial_id,layers,val_loss,status\n1,1e308,0.5,completed\n2,2,0.4,completed\n3,3,0.3,completed\n4,1e308,0.2,completed\n",
          ".csv"))
@example((b"trial_id,lr,val_loss,train_loss,runtime,val_accuracy\n1,1e308,1e-320,1e-320,1e308,1e-320\n"
           b"2,-1e308,1e308,-1e308,-1e308,1e308\n3,1e-308,1e308,1e308,0,0\n4,1e308,1e308,1e308,1e308,1e308\n", ".csv"))
def test_any_results_table(case):
    # The examples, found by the benchmark or the issue: buckets of [-1e308, 1e308] once had inf/NaN edges; a
    # whole-number parameter of 1e308 at the best trial's edge was widened to infinity (OverflowError, exit 3);
    # extreme metrics printed numpy's overflow warnings on stderr.
    _run(case)


@settings(FUZZ, max_examples=max(3, EXAMPLES // 3))
@given(kerastuner_trials())
def test_any_keras_tuner_trial(case):
    _run(case)


@settings(FUZZ, max_examples=max(3, EXAMPLES // 3))
@given(SQLITE_DAMAGE)
def test_any_damaged_optuna_storage(case):
    _run(case)


@settings(FUZZ, max_examples=max(6, EXAMPLES // 2))
@given(damaged_layouts())
def test_any_damaged_mlflow_or_ray_tune_layout(case):
    _run(case)
