"""The web app as a user meets it: `python -m graph.serve` on a free port, driven by Debian's chromium.

One server (its own process group, stopped after the module) and one headless
chromium (`/usr/bin/chromium`, launched by Playwright's Python package; nothing is
downloaded) serve every test here. Screenshots go to each test's tmp_path.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.conftest import DATA, EXAMPLES, ROOT, SAMPLE

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
DEEPOBS = EXAMPLES / "deepobs_cifar10_3c3d.csv"
MAX_UPLOAD_MB = 1
MAX_UNZIPPED_MB = 5
RESULT_TIMEOUT_MS = 120_000
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an HTTP(S)_PROXY

pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),  # CI must run them: make test installs it
                                reason="needs Debian's chromium: apt-get install -y chromium")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """The server on a free 127.0.0.1 port; yields its base URL (ends with /)."""
    log = tmp_path_factory.mktemp("serve") / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "MODEL", "LLM_ENDPOINT_URL")}
    env |= {"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path_factory.mktemp("server-tmp"))}
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "graph.serve", "--port", "0", "--max-upload-mb", str(MAX_UPLOAD_MB),
             "--max-unzipped-mb", str(MAX_UNZIPPED_MB)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=out, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()  # the URL line, printed once the port is bound
        match = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert match, f"no URL printed: {line!r}; log: {log.read_text()[-2000:]}"
        url = match.group(0)
        deadline = time.monotonic() + 60
        while True:
            try:
                with _DIRECT.open(url + "healthz", timeout=5) as reply:
                    assert reply.read() == b"ok"
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        yield {"url": url, "tmp": Path(env["TMPDIR"]), "log": log}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server["url"].rstrip("/"))
    page = context.new_page()
    page.outside = []  # requests to anywhere but the server
    page.dialogs = []
    page.on("request", lambda r: None if r.url.startswith((server["url"], "data:")) else page.outside.append(r.url))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def _upload(page, server, path: Path, *, wait: bool = True):
    page.goto(server["url"])
    page.set_input_files("#results_file", str(path))
    page.click("#go")
    if wait:
        page.wait_for_selector("#overview", timeout=RESULT_TIMEOUT_MS)


def _download(page, selector: str, tmp_path: Path) -> bytes:
    with page.expect_download() as info:
        page.click(selector)
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    return target.read_bytes()


def _cli(path: Path) -> dict:
    """The command line's summary of the same file, read by the same name (run beside it, in this process)."""
    from graph.run import main

    out = io.StringIO()
    with contextlib.chdir(path.parent), contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main([path.name, "--offline", "--output-format", "json"]) == 0
    return json.loads(out.getvalue())


def _visible_rows(page, selector: str = "#issue-table tbody tr") -> int:
    return page.eval_on_selector_all(selector, "rows => rows.filter(r => !r.hidden).length")


def test_upload_gives_the_command_lines_diagnosis_interactive(page, server, tmp_path):
    _upload(page, server, DEEPOBS)
    page.screenshot(path=tmp_path / "diagnosis.png")
    page.screenshot(path=tmp_path / "diagnosis_full.png", full_page=True)

    summary = json.loads(_download(page, "#dl-json", tmp_path))
    assert summary == _cli(DEEPOBS)  # the same graph, the same facts
    assert _download(page, "#dl-md", tmp_path).decode().startswith("# Hyperparameter Sweep Pathology Report")
    assert b"data:image/png;base64," in _download(page, "#dl-html", tmp_path)

    # progress per node, kept after the run
    assert page.eval_on_selector_all("#progress li", "lis => lis.map(l => [l.dataset.node, l.className])") == [
        ["load", "done"], ["detect", "done"], ["analyze", "done"], ["write", "done"]]
    assert "135 trials" in page.inner_text("#progress li[data-node=load]")

    # counts as in the JSON
    assert int(page.inner_text("#affected")) == summary["trials_affected"] == 54
    assert int(page.inner_text("#n-trials")) == summary["sweep"]["n_trials"]
    shown = {el.get_attribute("data-count-type"): int(el.inner_text()) for el in page.query_selector_all("td[data-count-type]")}
    assert shown == summary["issue_counts"]
    assert _visible_rows(page) == len(summary["issues"])

    # filters and sorting
    page.select_option("#filter-type", "diverged")
    assert _visible_rows(page) == summary["issue_counts"]["diverged"]
    page.select_option("#filter-type", "")
    present = [sev for sev in ("high", "medium", "low", "info") if any(i["severity"] == sev for i in summary["issues"])]
    # the filter offers the severities the sweep has (all high here since its accuracy gaps at a small loss
    # ratio are no generalization gaps), and keeps exactly the rows of the one chosen
    assert page.eval_on_selector_all("#filter-severity option", "os => os.map(o => o.value)") == ["", *present]
    mildest = present[-1]
    page.select_option("#filter-severity", mildest)
    n_mildest = sum(i["severity"] == mildest for i in summary["issues"])
    assert _visible_rows(page) == n_mildest and page.inner_text("#issue-count").startswith(f"{n_mildest} of")
    page.select_option("#filter-severity", "")
    page.fill("#filter-text", "r00136")
    # r00136 blew up at lr 15.8: diverged only (a run that blew up is not also no_learning)
    assert _visible_rows(page) == sum(i["trial_id"] == "r00136" for i in summary["issues"]) == 1
    page.fill("#filter-text", "")
    page.click("#issue-table th[data-key=severity]")
    page.click("#issue-table th[data-key=severity]")  # descending: the mildest first
    assert page.inner_text("#issue-table tbody tr:first-child td:nth-child(3)") == mildest

    # a pattern's trial ids are the JSON's, linked to the trial rows
    p1 = summary["patterns"][0]
    pattern = page.locator("#pattern-P1")
    assert pattern.locator(".ids a.trial, .ids code.trial").all_inner_texts() == p1["trial_ids"]
    assert pattern.locator("img").count() == 1
    trial = p1["trial_ids"][3]
    pattern.locator("a.trial", has_text=trial).click()
    page.wait_for_function("() => location.hash.startsWith('#t')")
    row = page.locator("#trial-table tr:target")
    assert row.get_attribute("data-trial") == trial
    assert row.is_visible() and _in_viewport(page, "#trial-table tr:target")
    types = {i["type"] for i in summary["issues"] if i["trial_id"] == trial}
    assert set(row.locator("td").first.inner_text().split(", ")) == types

    # each recommendation links to its evidence
    page.locator("#rec-R1 a.evidence", has_text="P1").click()
    page.wait_for_function("() => location.hash === '#pattern-P1'")
    assert _in_viewport(page, "#pattern-P1")

    # the next sweep's forms: copied as shown, and each one works
    page.click("button[data-copy=wandb-form]")
    wandb = page.evaluate("navigator.clipboard.readText()")
    from core.next_sweep import to_wandb_sweep

    assert json.loads(wandb) == to_wandb_sweep(summary["next_sweep"])
    page.click("button[data-copy=optuna-form]")
    script = page.evaluate("navigator.clipboard.readText()")
    assert script == page.inner_text("#optuna-form")
    _run_optuna_script(script, summary["next_sweep"])

    page.screenshot(path=tmp_path / "trial_row.png")
    assert not page.outside and not page.dialogs


def _in_viewport(page, selector: str) -> bool:
    return page.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect();"
                                 " return r.bottom > 0 && r.top < window.innerHeight; }")


def _run_optuna_script(script: str, plan: dict) -> None:
    """Five trials of the pasted script, the training replaced by a stub; every sample honours the plan."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seen = []

    def train_and_evaluate(**params):
        seen.append(params)
        return 1.0

    namespace = {"train_and_evaluate": train_and_evaluate}
    exec(compile(script.replace("n_trials=100", "n_trials=5"), "optuna_form", "exec"), namespace)  # noqa: S102
    assert namespace["study"].trials[0].params == pytest.approx(plan["start_from"]["hyperparameters"])
    lr = plan["hyperparameters"]["learning_rate"]
    assert seen and all(lr["low"] <= p["learning_rate"] < lr["high"] for p in seen)


def test_bad_file_gives_one_line_and_the_server_stays_up(page, server, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("trial_id,lr,val_loss\n1,0.1,0.5\n2,0.2,0.4\n1,0.3,0.3\n")
    _upload(page, server, bad, wait=False)
    page.wait_for_selector("#run #error", timeout=RESULT_TIMEOUT_MS)
    error = page.inner_text("#run #error")
    assert error.startswith("error: bad.csv: duplicate trial id '1'") and "\n" not in error
    assert "Traceback" not in page.content() and str(server["tmp"]) not in page.content()
    page.screenshot(path=tmp_path / "bad_file.png")

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    _upload(page, server, empty, wait=False)
    page.wait_for_selector("#upload #error:not([hidden])")
    assert page.inner_text("#upload #error") == "error: empty.csv: the file is empty"

    _upload(page, server, SAMPLE)  # still up, still right
    assert page.inner_text("#n-trials") == "6"


def test_two_uploads_at_once_give_two_correct_pages(browser, server, tmp_path):
    pages = []
    for path in (DEEPOBS, SAMPLE):
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.goto(server["url"])
        pages.append((page, path))
    first, second = pages
    first[0].set_input_files("#results_file", str(DEEPOBS))
    _drop(second[0], SAMPLE)  # the drop zone, as a user drags a file onto it
    assert second[0].inner_text("#picked") == SAMPLE.name
    first[0].click("#go")
    second[0].click("#go")
    for page, path in pages:
        page.wait_for_selector("#overview", timeout=RESULT_TIMEOUT_MS)
        (tmp_path / path.stem).mkdir()
        summary = json.loads(_download(page, "#dl-json", tmp_path / path.stem))
        assert summary == _cli(path)
        assert page.inner_text("#source") == path.name
        assert int(page.inner_text("#n-trials")) == summary["sweep"]["n_trials"]
        assert _visible_rows(page) == len(summary["issues"])
        page.screenshot(path=tmp_path / f"{path.stem}.png")
    assert first[0].url != second[0].url
    for page, _ in pages:
        page.context.close()


def _drop(page, path: Path) -> None:
    """Drag ``path`` onto the drop zone (a DataTransfer built in the page, as the browser builds one)."""
    page.evaluate(
        """([name, text]) => {
             const data = new DataTransfer();
             data.items.add(new File([text], name, {type: "text/csv"}));
             const zone = document.getElementById("drop");
             zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, bubbles: true, cancelable: true}));
             zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
           }""",
        [path.name, path.read_text()],
    )


def _hostile_sweep(path: Path) -> None:
    """Forty trials whose ids, column names and cells hold HTML and script; high learning rates give NaN."""
    rows = ["trial_id,<b>lr</b>,opt<script>window.__pwned=3</script>,val_loss,train_loss"]
    for i in range(40):
        lr = 10 ** (-5 + i / 8)
        sick = lr > 0.05
        tid = f'<img src=x onerror="window.__pwned={i}">{i}' if i % 2 else f"<script>window.__pwned={i}</script>{i}"
        tid = tid.replace('"', '""')
        loss = "nan" if sick else f"{0.5 + i / 100:.3f}"
        rows.append(f'"{tid}",{lr:.6g},"<i>adam</i>",{loss},{loss}')
    path.write_text("\n".join(rows) + "\n")


def test_html_and_script_in_the_input_are_shown_inert(page, server, tmp_path):
    hostile = tmp_path / "hostile.csv"
    _hostile_sweep(hostile)
    _upload(page, server, hostile)
    page.screenshot(path=tmp_path / "hostile.png", full_page=True)
    summary = json.loads(_download(page, "#dl-json", tmp_path))
    assert summary["patterns"], "the sweep was built to show a pattern"
    assert page.evaluate("window.__pwned") is None and not page.dialogs and not page.outside
    assert page.locator("#trial-table img, #trial-table script, #issue-table img, #patterns .ids img").count() == 0
    ids = page.locator("#pattern-P1 .ids a.trial").all_inner_texts()
    assert ids == summary["patterns"][0]["trial_ids"] and all("<" in t for t in ids)
    assert page.inner_text("#trial-table thead").count("<b>lr</b>") == 1
    page.locator("#pattern-P1 .ids a.trial").first.click()
    assert page.locator("#trial-table tr:target").get_attribute("data-trial") == ids[0]


def test_oversized_uploads_are_refused_with_a_clear_message(page, server, tmp_path):
    big = tmp_path / "big.csv"
    big.write_bytes(b"trial_id,val_loss\n" + b"1,0.5\n" * 300_000)  # 1.8 MB, over the 1 MB limit
    _upload(page, server, big, wait=False)
    page.wait_for_selector("#upload #error:not([hidden])")
    assert page.inner_text("#upload #error").startswith("upload too large (1.8 MB); the limit is 1 MB")

    # past the page's own check: the server refuses too, in one line, and stays up
    status, reply = _post(server["url"] + "runs", big)
    assert status == 413 and reply["error"].startswith("upload too large") and "\n" not in reply["error"]
    status, reply = _post(server["url"] + "runs", big, chunked=True)  # no Content-Length: counted as it arrives
    assert status == 413 and reply["error"].startswith("upload too large")
    with _DIRECT.open(server["url"] + "healthz", timeout=10) as ok:
        assert ok.status == 200


def _post(url: str, path: Path, *, chunked: bool = False) -> tuple[int, dict]:
    """A multipart upload without the page (as curl or a script would send it)."""
    boundary = "b0undary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="results_file"; filename="{path.name}"\r\n'
            f"Content-Type: text/csv\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    data: bytes | object = body
    if chunked:
        data = iter([body[i:i + 65536] for i in range(0, len(body), 65536)])  # urllib sends it chunked
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with _DIRECT.open(request, timeout=30) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _zip(path: Path, members: dict[str, bytes], *, symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize("kind", ["parent", "absolute", "symlink", "bomb"])
def test_hostile_zips_are_refused_and_write_nothing_outside(page, server, tmp_path, kind):
    csv = SAMPLE.read_bytes()
    archive = tmp_path / f"{kind}.zip"
    if kind == "parent":
        _zip(archive, {"exp/results.csv": csv, "../../escaped.csv": csv})
    elif kind == "absolute":
        _zip(archive, {"/tmp/escaped.csv": csv})
    elif kind == "symlink":
        _zip(archive, {"exp/results.csv": csv}, symlink="exp/link.csv")
    else:
        _zip(archive, {f"part{i}.csv": b"0" * 2_000_000 for i in range(4)})  # 8 MB from a few KB, over the 5 MB limit
        assert archive.stat().st_size < 100_000
    _upload(page, server, archive, wait=False)
    page.wait_for_selector("#upload #error:not([hidden])")
    error = page.inner_text("#upload #error")
    assert error.startswith(f"error: {kind}.zip: refused") and "\n" not in error
    page.screenshot(path=tmp_path / f"zip_{kind}.png")
    assert not list(server["tmp"].rglob("escaped.csv")) and not Path("/tmp/escaped.csv").exists()
    assert not list(server["tmp"].iterdir()), "the upload's temporary folder is removed"


def test_a_zipped_ray_tune_directory_is_read_like_the_directory(page, server, tmp_path):
    experiment = DATA / "raytune" / "lr_sweep"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(experiment.rglob("*")):
            if file.is_file():
                zf.write(file, Path("lr_sweep") / file.relative_to(experiment))
    archive = tmp_path / "lr_sweep.zip"
    archive.write_bytes(buffer.getvalue())
    _upload(page, server, archive)
    summary = json.loads(_download(page, "#dl-json", tmp_path))
    expected = _cli(experiment)
    assert summary["sweep"]["format"] == expected["sweep"]["format"] == "raytune"
    assert summary["issue_counts"] == expected["issue_counts"]
    assert summary["patterns"] == expected["patterns"]
    assert page.inner_text("#source").startswith("lr_sweep")
    assert not list(server["tmp"].iterdir())


def test_options_of_the_command_line_reach_the_run(page, server, tmp_path):
    results, curves = DATA / "deepobs_nonfinite_slice.csv", DATA / "curves" / "deepobs_curves_slice.csv"
    page.goto(server["url"])
    page.set_input_files("#results_file", str(results))
    page.click(".options summary")
    page.set_input_files("#curves_file", str(curves))
    page.fill("#mapping", "batch_size=ignore")
    page.click("#go")
    page.wait_for_selector("#overview", timeout=RESULT_TIMEOUT_MS)
    summary = json.loads(_download(page, "#dl-json", tmp_path))
    from graph.run import main

    out = io.StringIO()
    with contextlib.chdir(results.parent), contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert main([results.name, "--curves", str(curves.relative_to(results.parent)), "--map", "batch_size=ignore",
                     "--offline", "--output-format", "json"]) == 0
    expected = json.loads(out.getvalue())
    assert summary["sweep"]["roles"] == expected["sweep"]["roles"]
    assert summary["sweep"]["roles"]["mapping"] == {"batch_size": "ignore"}
    assert summary["curves"]["n_matched"] == expected["curves"]["n_matched"] > 0
    assert summary["issues"] == expected["issues"] and summary["patterns"] == expected["patterns"]
    assert page.locator("#overview img[src$='/curves.png']").count() == 1
    page.screenshot(path=tmp_path / "curves.png", full_page=True)


def test_a_path_typed_on_the_page_is_read_on_the_server(page, server):
    page.goto(server["url"])
    page.fill("#results_path", str(SAMPLE))
    page.click("#go")
    page.wait_for_selector("#overview", timeout=RESULT_TIMEOUT_MS)
    assert page.inner_text("#source") == str(SAMPLE)
    assert page.inner_text("#n-trials") == "6"


def test_progress_is_streamed_node_by_node(server):
    status, reply = _post(server["url"] + "runs", DEEPOBS)
    assert status == 200
    events = []
    with _DIRECT.open(server["url"] + reply["url"].lstrip("/") + "/events", timeout=RESULT_TIMEOUT_MS / 1000) as stream:
        kind = None
        for raw in stream:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if kind == "end":
                    break
    nodes = [data["node"] for kind, data in events if data.get("kind") == "node"]
    assert nodes == ["load", "detect", "analyze", "write"]
    assert events[-1] == ("end", {"state": "done"})
    steps = [data["text"] for _, data in events if data.get("kind") == "step"]
    assert steps[0].startswith("load:") and "write: rendering the report and drawing pictures" in steps


def test_the_live_view_follows_a_watched_sweep(page, server, tmp_path):
    from core.sources import read_sweep
    from hparam_inspector.watch import Watch

    part = tmp_path / "part.csv"
    part.write_text("\n".join(DEEPOBS.read_text().splitlines()[:61]) + "\n")  # the first 60 trials
    out = tmp_path / "watch"
    watch = Watch(out=out, stream=None)
    page.goto(server["url"])
    page.fill("#watch_dir", str(out))
    page.click("#watch-go")
    page.wait_for_selector("#waiting")  # nothing written yet

    for path, n in ((part, 60), (DEEPOBS, 135)):
        watch.update(read_sweep(str(path)))
        page.wait_for_function(f"() => (document.getElementById('n-trials') || {{}}).textContent === '{n}'",
                               timeout=RESULT_TIMEOUT_MS)  # the page reloaded by itself
        summary = json.loads((out / "hparam_summary.json").read_text())
        shown = {el.get_attribute("data-count-type"): int(el.inner_text())
                 for el in page.query_selector_all("td[data-count-type]")}
        assert shown == summary["issue_counts"] and _visible_rows(page) == len(summary["issues"])
        assert page.inner_text("#diagnoses") == str(watch.diagnoses)
    if summary["patterns"]:
        assert page.locator("#pattern-P1 .ids a.trial").all_inner_texts() == summary["patterns"][0]["trial_ids"]
    assert json.loads(_download(page, "#dl-watch", tmp_path)) == watch.state()
    page.screenshot(path=tmp_path / "live.png")
    assert not page.outside and not page.dialogs


def test_a_watched_summary_that_cannot_be_typed_is_one_line_on_the_live_page(server, tmp_path):
    """A summary of another version (an unknown key) in a watched folder: the page says so, it does not fail with 500."""
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "hparam_summary.json").write_text(json.dumps({"schema_version": "0.0", "not_a_field": 1}))
    with _DIRECT.open(server["url"] + "live?" + urllib.parse.urlencode({"dir": str(folder)}), timeout=60) as reply:
        assert reply.status == 200
        body = reply.read().decode()
    assert 'id="unreadable"' in body and "hparam_summary.json in this folder cannot be read" in body
    assert 'id="waiting"' not in body


def test_the_severity_filter_keeps_exactly_the_rows_of_the_chosen_severity(page, server, tmp_path):
    # the example sweep above is all high since the accuracy rule stepped back: this sweep has high and low issues
    summary = _cli(SAMPLE)
    counts = {sev: sum(i["severity"] == sev for i in summary["issues"]) for sev in ("high", "medium", "low", "info")}
    present = [sev for sev, n in counts.items() if n]
    assert len(present) >= 2, counts
    _upload(page, server, SAMPLE)
    assert page.eval_on_selector_all("#filter-severity option", "os => os.map(o => o.value)") == ["", *present]
    for sev in present:
        page.select_option("#filter-severity", sev)
        assert _visible_rows(page) == counts[sev] < len(summary["issues"])
    page.select_option("#filter-severity", "")
    assert _visible_rows(page) == len(summary["issues"])
    assert not page.outside and not page.dialogs
