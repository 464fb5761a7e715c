"""Generated hostile inputs and the one property every run must hold (used by tests and benchmarks/fuzz_inputs.py).

Strategies build results tables the way real exports go wrong: CSV dialects (comma,
semicolon, tab, quoting), line endings (LF, CRLF, CR), encodings (UTF-8 with and
without BOM, Windows-1252, UTF-16), NaN/inf spelled many ways, huge and tiny numbers,
text in numeric columns, odd or hostile ids, and corrupt Keras Tuner / Optuna / MLflow
(``mlruns`` file store, ``mlflow.db``) / Ray Tune (experiment directory) layouts, each a
real small layout from tests/data damaged one file at a time.
:func:`outcome` runs the command line on one input in process and checks the property:
exit 0 with a summary valid against the JSON Schema, or exit 2 with one ``error:`` line;
never another exit status and never a traceback.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any, NamedTuple

from hypothesis import strategies as st

from tests.conftest import DATA, ROOT

NAN_SPELLINGS = ["nan", "NaN", "NAN", "-nan", "inf", "-inf", "+inf", "Infinity", "-Infinity", "INF", "1e999", "-1e999",
                 "#N/A", "N/A", "null", "None", "", " ", "?"]
IDS = st.one_of(st.integers(0, 10**6).map(str), st.text(min_size=1, max_size=12),
                st.sampled_from(["r\x1b]0;x\x07", "<img src=x>", "[a](javascript:x)", "a@b.co", "x" * 5000, "é-ß", "0",
                                 "1.0", "-1", "=cmd|' /C calc'!A0"]))
NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10**20, 10**20).map(str),
                    st.sampled_from(["1e308", "-1e308", "1e-320", "0", "-0", "1,5", "0x10", "1_000", "٣"]))
CELLS = st.one_of(NUMBERS, st.sampled_from(NAN_SPELLINGS), st.text(max_size=8))
STATUS = st.sampled_from(["COMPLETE", "FAIL", "PRUNED", "RUNNING", "finished", "crashed", "killed", "", "weird"])


@st.composite
def results_tables(draw: st.DrawFn) -> tuple[bytes, str]:
    """A results table as bytes, and its file suffix."""
    n_rows = draw(st.integers(1, 12))
    n_hp = draw(st.integers(0, 3))
    header = ["trial_id", *(draw(st.sampled_from(["lr", "batch_size", "dropout", "opt", "layers", "lr "]))
                            + str(i) for i in range(n_hp)), "val_loss"]
    if draw(st.booleans()):
        header.append("state")
    if draw(st.booleans()):
        header.append("train_loss")
    rows = []
    for _ in range(n_rows):
        row = [draw(IDS)]
        row += [draw(CELLS) for _ in range(n_hp)]
        row.append(draw(st.one_of(NUMBERS, st.sampled_from(NAN_SPELLINGS), st.text(max_size=4))))
        if "state" in header:
            row.append(draw(STATUS))
        if "train_loss" in header:
            row.append(draw(CELLS))
        rows.append(row)
    sep = draw(st.sampled_from([",", ";", "\t"]))
    quote = draw(st.booleans())
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))

    def field(cell: str) -> str:
        if quote or sep in cell or '"' in cell or "\n" in cell or "\r" in cell:
            return '"' + cell.replace('"', '""') + '"'
        return cell

    text = eol.join(sep.join(field(c) for c in row) for row in [header, *rows]) + draw(st.sampled_from([eol, ""]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    suffix = ".tsv" if sep == "\t" and draw(st.booleans()) else ".csv"
    if draw(st.integers(0, 9)) == 0:  # now and then a damaged file
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=8)) + data[cut:]
    return data, suffix


KT_VALUES: Any = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
                              lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                              max_leaves=8)


@st.composite
def kerastuner_trials(draw: st.DrawFn) -> dict[str, Any]:
    """A Keras Tuner trial.json with any field replaced by any JSON value."""
    trial: dict[str, Any] = {"trial_id": "00", "status": "COMPLETED",
                             "hyperparameters": {"values": {"lr": 0.01, "units": 32}},
                             "metrics": {"metrics": {"val_loss": {"direction": "min", "observations": [
                                 {"value": [0.5], "step": 0}, {"value": [0.4], "step": 1}]}}}}
    for key in draw(st.lists(st.sampled_from(["trial_id", "status", "hyperparameters", "metrics"]), max_size=2)):
        trial[key] = draw(KT_VALUES)
    return trial


HUGE = st.sampled_from([10**400, -(10**400), 1e308, -1e308, 5e-324, 2**63, -(2**63) - 1])
JSON_VALUES: Any = st.one_of(KT_VALUES, HUGE, st.sampled_from(["NaN", "-Infinity", "1e999", "", "\x00", "é" * 300]))


class Damaged(NamedTuple):
    """One file of a real small layout (``layout``: a key of :data:`LAYOUTS`) damaged one way.

    ``pick`` chooses the file (modulo the layout's files), ``how`` the damage: ``truncate``
    at ``at`` bytes, ``junk`` (``payload`` bytes inserted at ``at``), ``delete`` the file,
    ``empty`` it, ``value`` (a JSON file's key, or a JSON-lines file's line, given the
    JSON value ``payload``; a plain file's content replaced by its text).
    """

    layout: str
    pick: int
    how: str
    at: int
    payload: Any


LAYOUTS = {"mlruns": DATA / "mlflow" / "mlruns", "mlflow.db": DATA / "mlflow" / "mlflow.db",
           "raytune": DATA / "raytune" / "asha"}


@st.composite
def damaged_layouts(draw: st.DrawFn) -> Damaged:
    """A real MLflow file store, MLflow SQLite database or Ray Tune experiment with one file damaged."""
    layout = draw(st.sampled_from(sorted(LAYOUTS)))
    hows = ["truncate", "junk"] if layout == "mlflow.db" else ["truncate", "junk", "delete", "empty", "value"]
    how = draw(st.sampled_from(hows))
    payload = (draw(st.binary(min_size=1, max_size=64)) if how == "junk"
               else draw(JSON_VALUES) if how == "value" else None)
    return Damaged(layout, draw(st.integers(0, 10**6)), how, draw(st.integers(0, 10**6)), payload)


def _damage(base: Path, case: Damaged) -> Path:
    source = LAYOUTS[case.layout]
    target = base / source.name
    if source.is_dir():
        shutil.copytree(source, target)
        files = sorted(f for f in target.rglob("*") if f.is_file())
    else:
        shutil.copyfile(source, target)
        files = [target]
    victim = files[case.pick % len(files)]
    data = victim.read_bytes()
    at = case.at % (len(data) + 1)
    if case.how == "delete":
        victim.unlink()
    elif case.how == "truncate":
        victim.write_bytes(data[:at])
    elif case.how == "junk":
        victim.write_bytes(data[:at] + case.payload + data[at:])
    elif case.how == "empty":
        victim.write_bytes(b"")
    else:
        victim.write_text(_with_value(victim, data, case.at, case.payload), encoding="utf-8", errors="surrogatepass")
    return target


def _with_value(path: Path, data: bytes, at: int, value: Any) -> str:
    """``path``'s text with one JSON value put in: at a key of a JSON object, as one line of JSON lines, else as the text."""
    text = data.decode("utf-8", errors="replace")
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    if isinstance(whole, dict) and whole:
        whole[sorted(whole)[at % len(whole)]] = value
        return json.dumps(whole)
    lines = text.splitlines()
    if path.suffix == ".json" and lines:  # Ray Tune's result.json: one JSON object a line
        record = json.loads(lines[at % len(lines)]) if lines[at % len(lines)].strip().startswith("{") else {}
        if isinstance(record, dict) and record:
            record[sorted(record)[at % len(record)]] = value
            lines[at % len(lines)] = json.dumps(record)
            return "\n".join(lines) + "\n"
    return value if isinstance(value, str) else json.dumps(value)


def write_input(base: Path, case: Any) -> Path:
    """Write a generated case under ``base``; the path to give the command line."""
    if isinstance(case, Damaged):
        return _damage(base, case)
    if isinstance(case, tuple) and len(case) == 2:
        data, suffix = case
        path = base / f"results{suffix}"
        path.write_bytes(data)
        return path
    if isinstance(case, dict):  # a Keras Tuner trial: a copy of a real project with one trial replaced
        project = base / "kt"
        shutil.copytree(DATA / "kerastuner" / "tuning", project)
        first = sorted(project.rglob("trial.json"))[0]
        first.write_text(json.dumps(case))
        return project
    data = (DATA / "optuna" / "dlp_models.db").read_bytes()  # a damaged Optuna SQLite storage
    start, length, junk = case
    path = base / "study.db"
    path.write_bytes(data[: 100 + start] + junk + data[100 + start + length:])
    return path


def outcome(path: Path, out: Path) -> tuple[int, list[str], str]:
    """Run the CLI offline on ``path``; (exit status, stderr lines, summary JSON text or "")."""
    from graph.run import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(path), "--offline", "--out", str(out), "--no-plots", "--quiet"])
    summary = out / "hparam_summary.json"
    text = summary.read_text() if code == 0 and summary.exists() else ""
    return code, err.getvalue().splitlines(), text


def check(code: int, lines: list[str], summary_text: str) -> None:
    """The property: exit 0 with a valid summary, or exit 2 with exactly one ``error:`` line; never a traceback or warning."""
    assert code in (0, 2), (code, lines)
    assert not any("Traceback" in line or "Warning:" in line for line in lines), lines  # nor a numpy RuntimeWarning
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
        return
    validator().validate(json.loads(summary_text))


_VALIDATOR: list[Any] = []


def validator() -> Any:
    """The JSON Schema validator of the summary (built once)."""
    if not _VALIDATOR:
        import jsonschema

        schema = json.loads((ROOT / "schema" / "hparam_summary.schema.json").read_text())
        _VALIDATOR.append(jsonschema.Draft202012Validator(schema))
    return _VALIDATOR[0]


SQLITE_DAMAGE = st.tuples(st.integers(0, 50_000), st.integers(0, 4096), st.binary(max_size=64))
