"""MLflow tracking server: one experiment's runs read over its REST API (no mlflow install needed).

``python -m graph.run http://127.0.0.1:5000 --study EXPERIMENT``, or the experiment's
name alone with ``MLFLOW_TRACKING_URI`` set to the server, as MLflow users expect.
The runs come as the ``mlruns/`` store gives them (``run_id``, ``run_name``,
``status``, times, ``metrics.<k>`` latest values, ``params.<k>``, ``tags.<k>``), and
every metric's history becomes curves (``/api/2.0/mlflow/metrics/get-history``).
Endpoints used: ``experiments/search``, ``runs/search`` (active runs, paged) and
``metrics/get-history``; ``MLFLOW_TRACKING_TOKEN`` (bearer) or
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (basic) authenticate.
The server sends a NaN metric as ``NaN`` and stores infinity as the largest float,
read back as +/-inf (as for ``mlflow.db``).
"""

from __future__ import annotations

import base64
import json
import math
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from core.errors import InputError
from core.sources._common import text
from core.sources.mlflow import _choose_experiment, _curve_rows, _latest, _run_row, _table_and_curves
from core.sweep import Sweep

_API = "/api/2.0/mlflow/"
_TIMEOUT_S = 30.0
_PAGE = 1000


def is_server_url(name: str) -> bool:
    """True for an ``http(s)://`` URL (an MLflow tracking server)."""
    return name.lower().startswith(("http://", "https://"))


def experiment_from_env(name: str) -> str | None:
    """The tracking server of ``MLFLOW_TRACKING_URI`` when ``name`` is no file and reads as an experiment name."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not is_server_url(uri) or not name or "://" in name or Path(name).suffix or os.sep in name:
        return None
    return uri


def read_server(url: str, experiment: str | None = None, shown: str | None = None) -> tuple[Sweep, dict[str, str]]:
    """One experiment's active runs on the MLflow tracking server at ``url`` as a :class:`Sweep`.

    ``shown`` is the URL as messages may show it (without credentials).
    """
    server = _Server(url, shown or url)
    experiments = {e["experiment_id"]: {"name": e.get("name", "")}
                   for e in server.paged("experiments/search", {"max_results": _PAGE}, "experiments")
                   if e.get("lifecycle_stage", "active") == "active"}
    runs_by_exp = {}
    if experiment is None:  # only experiments that hold runs are candidates, as for the stores
        for exp_id in experiments:
            if server.post("runs/search", {"experiment_ids": [exp_id], "max_results": 1}).get("runs"):
                runs_by_exp[exp_id] = experiments[exp_id]
    chosen = _choose_experiment(server.shown, runs_by_exp if experiment is None else experiments, experiment,
                                lambda e, m: (m["name"], e))
    runs = server.paged("runs/search", {"experiment_ids": [chosen], "max_results": _PAGE,
                                        "run_view_type": "ACTIVE_ONLY", "order_by": ["attributes.start_time ASC"]},
                        "runs")
    if not runs:
        raise InputError(f"{server.shown}: the MLflow experiment {experiments[chosen]['name']!r} has no active runs")
    rows, curve_rows = [], []
    for run in runs:
        info, data = run.get("info", {}), run.get("data", {})
        run_id = info.get("run_id") or info.get("run_uuid")
        tags = {t["key"]: t.get("value", "") for t in data.get("tags", [])}
        row = _run_row(run_id, info.get("run_name") or tags.get("mlflow.runName"), info.get("status"),
                       info.get("start_time"), info.get("end_time"), info.get("experiment_id"))
        histories = {m["key"]: server.history(run_id, m["key"]) for m in data.get("metrics", [])}
        row.update({f"metrics.{k}": _latest(h) for k, h in sorted(histories.items()) if h})
        row.update({f"params.{p['key']}": p.get("value") for p in sorted(data.get("params", []), key=lambda p: p["key"])})
        row.update({f"tags.{k}": v for k, v in sorted(tags.items()) if k != "mlflow.runName"})
        rows.append(row)
        curve_rows += _curve_rows(row, histories)
    n_with_runs = len(runs_by_exp) if experiment is None else None
    notes = [f"{server.shown}: read experiment {experiments[chosen]['name']!r} from the MLflow tracking server"
             + (f" (1 of {n_with_runs} with runs)" if n_with_runs and n_with_runs > 1 else "")]
    return _table_and_curves(rows, curve_rows, server.shown, notes, "mlflow-server")


class _Server:
    """JSON calls to one tracking server; every failure is a one-line InputError naming the server."""

    def __init__(self, url: str, shown: str) -> None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        self.base = f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
        self.shown = shown
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        user = parts.username or os.environ.get("MLFLOW_TRACKING_USERNAME")
        password = parts.password or os.environ.get("MLFLOW_TRACKING_PASSWORD")
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif user and password:
            self.headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call(endpoint, json.dumps(body).encode("utf-8"), "POST")

    def get(self, endpoint: str, query: dict[str, Any]) -> dict[str, Any]:
        return self._call(f"{endpoint}?{urlencode(query)}", None, "GET")

    def paged(self, endpoint: str, body: dict[str, Any], key: str) -> list[dict[str, Any]]:
        items, token = [], None
        while True:
            reply = self.post(endpoint, body | ({"page_token": token} if token else {}))
            items += reply.get(key, [])
            token = reply.get("next_page_token")
            if not token:
                return items

    def history(self, run_id: str, key: str) -> list[tuple[int, int, str | None]]:
        """(step, timestamp, value text) of every logged value of one metric."""
        out, token = [], None
        while True:
            query = {"run_id": run_id, "metric_key": key, "max_results": 25000} | ({"page_token": token} if token else {})
            reply = self.get("metrics/get-history", query)
            out += [(int(m.get("step") or 0), int(m.get("timestamp") or 0), _value(m.get("value")))
                    for m in reply.get("metrics", [])]
            token = reply.get("next_page_token")
            if not token:
                return out

    def _call(self, endpoint: str, body: bytes | None, method: str) -> dict[str, Any]:
        request = urllib.request.Request(self.base + _API + endpoint, data=body, headers=self.headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310 - the user's server
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_message(exc)
            raise InputError(f"{self.shown}: the MLflow tracking server answered {exc.code} to "
                             f"{endpoint.split('?')[0]}{detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InputError(f"{self.shown}: cannot reach an MLflow tracking server ({reason})") from None
        try:
            reply = json.loads(payload or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError(f"{self.shown}: not an MLflow tracking server (its {endpoint.split('?')[0]} answer is "
                             "not JSON)") from None
        if not isinstance(reply, dict):
            raise InputError(f"{self.shown}: not an MLflow tracking server (unexpected answer)")
        return reply


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(exc.read() or b"{}").get("message", "")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, OSError):
        message = ""
    return f" ({str(message).splitlines()[0][:200]})" if message else ""


def _value(value: Any) -> str | None:
    """A metric value as a text cell: ``NaN``/``Infinity`` as the server spells them become ``nan``/``inf``."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        return {"nan": "nan", "infinity": "inf", "-infinity": "-inf", "inf": "inf", "-inf": "-inf"}.get(lowered, value)
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return text(value)
