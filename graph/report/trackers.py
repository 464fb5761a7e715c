"""Log the written report where the sweep lives: an MLflow experiment, or a W&B run.

``--log-to mlflow``: a run named ``hparam-inspector report`` in the experiment (the
input's own when it was read from an MLflow server or store, else ``--study`` or
``hparam-inspector``) on ``MLFLOW_TRACKING_URI`` (or the server the sweep was read
from), with the report, summary, HTML page and pictures as artifacts and the headline
counts as tags; needs ``mlflow-skinny`` (or ``mlflow``). ``--log-to wandb``: a run of
project ``WANDB_PROJECT`` (default ``hparam-inspector``) with the same files saved,
online or in W&B's offline mode (``WANDB_MODE=offline`` writes a local run directory
for ``wandb sync``); needs ``wandb``. Failures are one-line :class:`InputError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import InputError

if TYPE_CHECKING:
    from core.records import Diagnosis

TRACKERS = ("mlflow", "wandb")
RUN_NAME = "hparam-inspector report"


def log_report(tracker: str, files: list[Path], out_dir: Path, diagnosis: Diagnosis, *, server: str | None = None,
               experiment: str | None = None) -> str:
    """Send ``files`` (under ``out_dir``) to ``tracker``, tagged with the diagnosis' headline; where they went, in words."""
    from core.sources.mlflow import REPORT_TAG

    tags = {REPORT_TAG: str(diagnosis.sweep.source),  # MLflow readers leave runs with this tag out
            "hparam_inspector.n_trials": str(diagnosis.sweep.n_trials),
            "hparam_inspector.trials_affected": str(diagnosis.trials_affected),
            "hparam_inspector.patterns": str(len(diagnosis.patterns))}
    if tracker == "mlflow":
        return _mlflow(files, out_dir, tags, server, experiment or "hparam-inspector")
    if tracker == "wandb":
        return _wandb(files, out_dir, tags)
    raise InputError(f"--log-to {tracker!r}: unknown tracker; trackers: {', '.join(TRACKERS)}")


def _mlflow(files: list[Path], out_dir: Path, tags: dict[str, str], server: str | None, experiment: str) -> str:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise InputError("--log-to mlflow needs the MLflow client: pip install mlflow-skinny") from None
    uri = server or os.environ.get("MLFLOW_TRACKING_URI") or None
    try:
        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        run = client.create_run(experiment_id, run_name=RUN_NAME, tags=tags)
        for file in files:
            parent = file.relative_to(out_dir).parent.as_posix()
            client.log_artifact(run.info.run_id, str(file), artifact_path=None if parent == "." else parent)
        client.set_terminated(run.info.run_id)
    except Exception as exc:  # noqa: BLE001 - any client or server error: one line
        raise InputError(f"--log-to mlflow: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                         ) from None
    where = client.tracking_uri if uri else "the local MLflow store"
    return f"mlflow run {run.info.run_id} in experiment {experiment!r} at {_safe(where)}"


def _wandb(files: list[Path], out_dir: Path, tags: dict[str, str]) -> str:
    try:
        import wandb
    except ImportError:
        raise InputError("--log-to wandb needs the W&B client: pip install wandb") from None
    try:
        run = wandb.init(project=os.environ.get("WANDB_PROJECT") or "hparam-inspector", name=RUN_NAME,
                         job_type="hparam-inspector", config=tags, reinit="finish_previous")
        for file in files:
            run.save(str(file), base_path=str(out_dir), policy="now")
        where = f"wandb run {run.id} ({'offline, in ' + run.dir if run.settings.mode == 'offline' else run.url})"
        run.finish()
    except Exception as exc:  # noqa: BLE001 - any client error: one line
        raise InputError(f"--log-to wandb: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                         ) from None
    return where


def _safe(uri: str) -> str:
    from core.sources import without_credentials

    return without_credentials(str(uri))
