"""Small things users hit at once: stdin, --version, --help, --quiet --fail-on, European and UTF-16 CSVs, langgraph.json."""

from __future__ import annotations

import codecs
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE

from core.loading import read_results
from graph.run import main

TABLE = "trial_id,lr,val_loss,status\n1,0.1,0.5,completed\n2,0.2,nan,completed\n3,0.3,0.4,failed\n"


def _cli(*args: str, stdin: bytes | None = None, argv0: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "MODEL")} | {"HF_HUB_OFFLINE": "1"}
    code = "import sys; from graph.run import main; sys.exit(main())"
    if argv0:
        code = f"import sys; sys.argv[0] = {argv0!r}; " + code
    return subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True, cwd=ROOT, env=env,
                          timeout=300)


def test_a_dash_reads_the_table_from_standard_input() -> None:
    done = _cli("-", "--output-format", "json", "--quiet", stdin=SAMPLE.read_bytes())
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["sweep"]["n_trials"] == 6 and summary["trials_affected"] == 4
    bad = _cli("-", "--quiet", stdin=b"")
    assert bad.returncode == 2 and bad.stderr.decode().count("\n") == 1 and b"empty" in bad.stderr


def test_version_and_help_name_the_command_with_examples_and_exit_codes() -> None:
    version = _cli("--version")
    assert version.returncode == 0 and version.stdout.decode().startswith("python -m graph.run 0.")
    helped = _cli("--help", argv0="/usr/local/bin/hparam-inspect")
    text = helped.stdout.decode()
    assert helped.returncode == 0 and text.startswith("usage: hparam-inspect ")
    assert "examples:\n  hparam-inspect results.csv" in text and "| hparam-inspect - --output-format json" in text
    assert "exit status:\n  0  done\n  1  --fail-on matched" in text and "  2  bad input" in text


def test_quiet_fail_on_still_says_why_it_exits_1(tmp_path: Path, capsys) -> None:
    assert main([str(SAMPLE), "--out", str(tmp_path), "--quiet", "--no-plots", "--fail-on", "failed"]) == 1
    assert capsys.readouterr().err == "fail-on: 1 trial(s) with failed\n"


def test_a_european_locale_csv_is_read_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(codecs.BOM_UTF8 + b"trial_id;lr;val_loss;optimizer\n1;0,001;0,5;adam\n2;1e-2;NaN;sgd\n"
                     b"3;0,1;1,25E+3;adam\n4;0,05;;sgd\n")
    raw = read_results(path)
    assert raw.frame["lr"].tolist() == ["0.001", "1e-2", "0.1", "0.05"]
    assert raw.frame["val_loss"].tolist() == ["0.5", "NaN", "1.25E+3", ""]
    assert raw.frame["optimizer"].tolist() == ["adam", "sgd", "adam", "sgd"]
    assert raw.notes == [f"{path}: a European-locale table (';' separator, decimal commas): lr, val_loss read as numbers"]
    # A thousands point, or a comma that is not a decimal one, is left as written.
    path.write_text("trial_id;val_loss;tag\n1;1.234,5;a,b\n2;0,5;c\n")
    raw = read_results(path)
    assert raw.frame["val_loss"].tolist() == ["1.234,5", "0,5"] and raw.notes == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_csv_with_a_byte_order_mark_is_read_with_a_note(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "unicode.txt"
    bom = codecs.BOM_UTF16_BE if encoding == "utf-16-be" else b""
    path.write_bytes(bom + TABLE.replace(",", "\t").replace("completed", "complété").encode(encoding))
    raw = read_results(path)
    assert raw.frame.columns.tolist() == ["trial_id", "lr", "val_loss", "status"]
    assert raw.frame["status"].tolist() == ["complété", "complété", "failed"]
    assert "UTF-16 text with a byte order mark" in raw.notes[0]


def test_langgraph_json_reads_the_users_dotenv() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["env"] == ".env" and (ROOT / ".env.example").exists()


def test_the_header_says_which_model_was_called_and_what_became_of_its_text() -> None:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from graph import graph
    from graph.context import Context

    invented = GenericFakeChatModel(messages=iter([AIMessage(content='{"patterns": []}'),
                                                   AIMessage(content="The mean loss was 98765.4 across the sweep.")]))
    out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(chat_model=invented))
    header = out["report"].splitlines()[2]
    assert header.endswith("written by the deterministic writer: `GenericFakeChatModel` was called, and all 1 "
                           "sentence(s) it wrote failed the checks against the analysis and were removed")
    assert out["summary"]["writer"]["model_called"] == "GenericFakeChatModel"

    class Broken(GenericFakeChatModel):
        def _generate(self, *args, **kwargs):
            raise ValueError("model refused")

    out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(chat_model=Broken(messages=iter([]))))
    assert "`Broken` was called, and none of its text was used (see the notes)" in out["report"].splitlines()[2]
    plain = graph.invoke({"results_path": str(SAMPLE)}, context=Context(offline=True))
    assert plain["report"].splitlines()[2].endswith("written by the deterministic writer (no model)")


def test_a_mostly_text_loss_column_is_left_out_with_a_note_naming_it(tmp_path: Path, capsys) -> None:
    """A val_loss of error words: never a metric, never a hyperparameter, and the user is told which and why."""
    path = tmp_path / "r.csv"
    path.write_text("trial_id,lr,val_loss,val_accuracy\n1,0.1,oops,0.5\n2,0.2,CUDA error,0.6\n3,0.3,0.5,0.7\n"
                    "4,0.01,oops,0.8\n")
    assert main([str(path), "--offline", "--quiet", "--no-plots", "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "hparam_summary.json").read_text())
    roles = summary["sweep"]["roles"]
    assert "val_loss" not in roles["metrics"] and roles["hyperparameters"] == ["lr"]
    why = "named like a metric, but 3 of 4 cells are text ('oops', 'CUDA error')"
    assert roles["ignored"]["val_loss"].startswith(why)
    assert [n for n in summary["sweep"]["notes"] if "val_loss" in n] == [
        f"column 'val_loss' was not analysed: {roles['ignored']['val_loss']}"]
    assert "Note: column 'val_loss' was not analysed" in (tmp_path / "out" / "hparam_report.md").read_text()
    path.write_text("trial_id,lr,val_loss\n1,0.1,oops\n2,0.2,CUDA error\n3,0.3,0.5\n4,0.4,oops\n")  # the only metric
    capsys.readouterr()
    assert main([str(path), "--offline", "--quiet", "--no-plots", "--out", str(tmp_path / "out2")]) == 2
    assert capsys.readouterr().err == f"error: {path}: no metric column: 'val_loss' is {why}: neither a metric nor " \
                                      "a hyperparameter; fix the cells, or give its role with --map\n"


def test_the_console_script_ends_fast_yet_runs_every_exit_handler(tmp_path: Path) -> None:
    """cli() skips the interpreter's teardown (os._exit) but not the handlers libraries and callers registered.

    matplotlib registers the removal of its temporary config folder (made when MPLCONFIGDIR
    cannot be written) as one: a run must leave no ``matplotlib-*`` folder behind.
    """
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = ("import atexit, sys\n"
              "atexit.register(lambda: print('caller handler ran', flush=True))\n"
              "sys.argv[0] = 'graph.run'\n"
              "from graph import run\n"
              "run.cli()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HPATH_", "LLM_", "MODEL"))}
    env |= {"PYTHONPATH": str(ROOT), "TMPDIR": str(scratch), "MPLCONFIGDIR": "/proc/not-writable"}
    result = subprocess.run([sys.executable, "-c", script, str(SAMPLE), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "hparam_report.md").is_file()
    assert "caller handler ran" in result.stdout
    assert not list(scratch.glob("matplotlib-*")), list(scratch.iterdir())


def test_the_final_summary_is_typed_once_and_the_command_line_reads_that(tmp_path: Path, monkeypatch) -> None:
    """The write node types the final summary to render the report; the closing lines read the same record."""
    from core.records import Diagnosis
    from graph import nodes

    typed = []
    real = Diagnosis.from_dict.__func__
    monkeypatch.setattr(Diagnosis, "from_dict", classmethod(lambda cls, d: typed.append(1) or real(cls, d)))
    assert main([str(SAMPLE), "--out", str(tmp_path), "--no-plots", "--offline"]) == 0
    assert len(typed) == 1
    summary = json.loads((tmp_path / "hparam_summary.json").read_text())
    again = nodes.diagnosis_of(summary)  # any other dict is typed anew
    assert len(typed) == 2 and again.to_dict() == summary


def test_the_typed_summary_is_kept_for_the_callers_run_only(monkeypatch) -> None:
    """A run through LangGraph (a model set) leaves its typed summary to the caller's block, and nothing after it.

    A long-lived server or Studio opens no block: the last run's summary (MBs at a million
    trials) is not held by the process.
    """
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from core.records import Diagnosis, with_issue_rows
    from graph import graph, nodes
    from graph.context import Context

    typed = []
    real = Diagnosis.from_dict.__func__
    monkeypatch.setattr(Diagnosis, "from_dict", classmethod(lambda cls, d: typed.append(1) or real(cls, d)))
    model = GenericFakeChatModel(messages=iter([AIMessage(content='{"patterns": []}'), AIMessage(content="")]))
    with nodes.keeping_diagnosis():
        out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(chat_model=model))
        kept = nodes.diagnosis_of(out["summary"])
    assert len(typed) == 1 and kept.to_dict() == with_issue_rows(out["summary"])
    assert nodes.diagnosis_of(out["summary"]) is not kept and len(typed) == 2  # the block is over: typed anew
    out = graph.invoke({"results_path": str(SAMPLE)}, context=Context(offline=True))  # as a server runs it
    assert nodes._KEPT.get() is None
