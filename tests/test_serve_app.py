"""The web app's routes in process (Starlette's test client): refusals, headers, and what a page may never do."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from graph.serve import code_spans, create_app
from graph.web_view import optuna_script
from tests.conftest import EXAMPLES, SAMPLE


@pytest.fixture
def client():
    with TestClient(create_app(allow_paths=False, max_upload_mb=1)) as client:
        yield client


def _wait(client: TestClient, url: str) -> str:
    for _ in range(600):
        page = client.get(url).text
        if 'data-state="done"' in page or 'data-state="error"' in page:
            return page
        time.sleep(0.1)
    raise AssertionError("the run did not end")


def test_pages_forbid_anything_from_elsewhere(client):
    index = client.get("/")
    assert index.status_code == 200
    csp = index.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "http" not in csp
    assert index.headers["x-content-type-options"] == "nosniff"
    assert "http://" not in index.text and "https://" not in index.text
    assert 'id="results_path"' not in index.text  # bound beyond loopback: no path field


def test_paths_are_refused_when_the_server_may_not_read_them(client):
    reply = client.post("/runs", data={"results_path": str(SAMPLE)})
    assert reply.status_code == 400 and "reads uploads only" in reply.json()["error"]
    reply = client.post("/runs", data={})
    assert reply.json()["error"] == "error: no sweep given: drop or pick a file, or type a path or storage URL"


def test_a_run_page_and_its_downloads(client):
    reply = client.post("/runs", files={"results_file": ("../../odd name<b>.csv", SAMPLE.read_bytes(), "text/csv")})
    url = reply.json()["url"]
    page = _wait(client, url)
    assert 'data-state="done"' in page and "odd_name_b_.csv" in page  # the upload's name, made safe
    download = client.get(url + "/files/hparam_summary.json")
    assert download.headers["content-disposition"] == 'attachment; filename="hparam_summary.json"'
    assert download.json()["sweep"]["source"] == "odd_name_b_.csv"
    view = client.get(url + "/files/hparam_report.html?view=1")
    assert view.headers["content-disposition"] == "inline" and "script-src" not in view.headers["content-security-policy"]
    assert client.get(url + "/files/../../etc/passwd").status_code == 404
    assert client.get(url + "/figures/nothing.png").status_code == 404
    assert client.get("/runs/nope").status_code == 404


def test_a_patterns_evidence_names_what_its_region_is_compared_with(client):
    """The page says 'rest of the sweep' (every trial sets the hyperparameter) as the report does (rest_label)."""
    sweep = (EXAMPLES / "deepobs_cifar10_3c3d.csv").read_bytes()
    page = _wait(client, client.post("/runs", files={"results_file": ("cifar.csv", sweep, "text/csv")}).json()["url"])
    assert 'class="compact evidence-table"' in page and page.count("<th>rest of the sweep</th>") == page.count(
        'class="compact evidence-table"')


def test_code_spans_are_the_only_markup_added():
    assert str(code_spans("keep `lr` below <b>1</b>")) == "keep <code>lr</code> below &lt;b&gt;1&lt;/b&gt;"
    assert str(code_spans("`<script>x</script>`")) == "<code>&lt;script&gt;x&lt;/script&gt;</code>"


def test_the_optuna_form_cannot_be_broken_out_of():
    name = "lr'''\"\"\"\nimport os; os.system('x')#"
    plan = {"objective": {"metric": name, "goal": "min"}, "hyperparameters": {
        name: {"kind": "float", "low": 0.1, "high": 1.0, "log": False, "exclude": []}},
        "conditions": [], "settings": {}, "start_from": None, "changes": []}
    script = optuna_script(plan)
    namespace: dict = {}
    exec(compile(script.split("\n\ndef objective")[0], "form", "exec"), namespace)  # noqa: S102 - only the imports and PLAN
    assert namespace["PLAN"] == plan


def test_the_live_view_reads_only_the_watchs_files_and_only_where_paths_are_allowed(client, tmp_path):
    assert client.get("/live", params={"dir": str(tmp_path)}).status_code == 403
    (tmp_path / "secret.txt").write_text("no")
    with TestClient(create_app(allow_paths=True)) as local:
        page = local.get("/live", params={"dir": str(tmp_path)})
        assert page.status_code == 200 and 'id="waiting"' in page.text
        for name in ("secret.txt", "..%2Fsecret.txt", "hparam_summary.json"):
            assert local.get(f"/live/files/{name}", params={"dir": str(tmp_path)}).status_code == 404
