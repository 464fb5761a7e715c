"""Optuna: a genuine SQLite storage read without optuna, trials_dataframe() tables, storages written by optuna."""

from __future__ import annotations

import sqlite3
import sys
import warnings

import pytest

from core.errors import InputError
from core.roles import infer_roles
from core.sources import read_sweep
from core.sources.optuna import read_sqlite, read_storage
from core.status import normalize_status
from core.summary import analyze_sweep
from tests.conftest import DATA

DLP_DB = DATA / "optuna" / "dlp_models.db"
DLP_CSV = DATA / "optuna_dlp_trials.csv"

NOTE = "still marked running started long before the last finished run ended"


def issues_of(sweep):
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    summary = analyze_sweep(sweep.trials, roles)
    return summary, {(i["trial_id"], i["type"]) for i in summary["issues"]}


def statuses(sweep, column="state"):
    return normalize_status(sweep.trials.frame[column]).value_counts().to_dict()


def test_genuine_storage_is_read_without_optuna(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # importing optuna would fail
    sweep = read_sweep(DLP_DB)
    frame = sweep.trials.frame
    assert sweep.format == "optuna-sqlite" and len(frame) == 73
    assert statuses(sweep) == {"completed": 60, "failed": 8, "running": 5}
    assert (frame["value"] == "inf").sum() == 16  # value_type INF_POS, kept as reported
    assert frame.loc[frame["state"] == "FAIL", "value"].isna().all()  # failed: no value at all
    running = frame[frame["state"] == "RUNNING"]
    assert running["datetime_complete"].isna().all() and running["duration"].isna().all()
    roles = infer_roles(frame, sweep.source, sweep.role_hints)
    assert (roles.id, roles.status, roles.runtime) == ("number", "state", "duration")
    assert roles.metrics["value"].kind == "objective" and roles.metrics["value"].goal == "min"  # MINIMIZE
    assert {"lr", "weight_decay", "dropout", "hidden_dims", "optimizer"} <= set(roles.hyperparameters)
    assert frame.loc[frame["number"] == "1", "hidden_dims"].item() == "50"  # IntDistribution, not 50.0
    assert "study 'link_pred_tuning'" in sweep.notes[0]
    assert sweep.curves is None  # this study reported no intermediate values


def test_storage_url_and_file_read_the_same(monkeypatch):
    by_file = read_sweep(DLP_DB).trials.frame
    by_url = read_sweep(f"sqlite:///{DLP_DB}").trials.frame
    assert by_file.equals(by_url)


def test_storage_and_its_trials_dataframe_csv_give_the_same_issues():
    """Round trip on real data: the DLP study as SQLite and as exported to a trials_dataframe CSV."""
    db_summary, db_issues = issues_of(read_sweep(DLP_DB))
    csv_sweep = read_sweep(DLP_CSV)
    assert csv_sweep.format == "optuna-csv"
    csv_summary, csv_issues = issues_of(csv_sweep)
    assert db_issues == csv_issues and len(db_issues) > 20
    assert db_summary["sweep"]["status_counts"] == csv_summary["sweep"]["status_counts"]
    assert db_summary["sweep"]["format"] == "optuna-sqlite" and csv_summary["sweep"]["format"] == "optuna-csv"


def test_trials_dataframe_csv_columns_lose_their_prefix_and_map_uses_either_name():
    sweep = read_sweep(DLP_CSV, mapping={"params_batch_size": "ignore", "value": "metric:objective:min"})
    assert "lr" in sweep.trials.frame.columns and "params_lr" not in sweep.trials.frame.columns
    assert sweep.role_hints["batch_size"] == "ignore" and sweep.role_hints["value"] == "metric:objective:min"
    assert sweep.role_hints["number"] == "id" and sweep.role_hints["state"] == "status"
    assert any("params_batch_size -> batch_size" in n for n in sweep.notes)


@pytest.mark.parametrize("text", ["", "not a database at all, just text\n" * 20])
def test_a_corrupt_or_empty_db_file_is_one_line(tmp_path, text):
    path = tmp_path / "study.db"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_sweep(path)
    assert str(path) in str(err.value) and "SQLite" in str(err.value) and "\n" not in str(err.value)


def test_a_truncated_sqlite_file_is_one_line(tmp_path):
    path = tmp_path / "cut.db"
    path.write_bytes(DLP_DB.read_bytes()[:8192])
    with pytest.raises(InputError) as err:
        read_sweep(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_an_sqlite_file_of_another_program_names_its_tables(tmp_path):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("create table customers (id integer)")
    con.commit()
    con.close()
    with pytest.raises(InputError, match=r"SQLite database with customers, neither an Optuna storage nor an MLflow"):
        read_sweep(path)


def test_missing_storage_file_is_not_created(tmp_path):
    path = tmp_path / "nope.db"
    with pytest.raises(InputError, match="not found"):
        read_sweep(f"sqlite:///{path}")
    assert not path.exists()


# --- storages written by optuna itself ------------------------------------------------------------

@pytest.fixture(scope="module")
def optuna_storage(tmp_path_factory):
    """A study written by optuna: every trial state, NaN/inf intermediate values, metric names, two studies."""
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    path = tmp_path_factory.mktemp("optuna") / "sweep.db"
    url = f"sqlite:///{path}"
    study = optuna.create_study(study_name="lr_sweep", storage=url, direction="minimize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning
        study.set_metric_names(["val_loss"])

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        trial.suggest_categorical("optimizer", ["adam", "sgd"])
        trial.suggest_int("layers", 1, 4)
        trial.set_user_attr("train_loss", 0.5)
        for step in range(3):
            value = float("nan") if lr > 0.3 and step == 2 else (float("inf") if trial.number == 3 and step == 1
                                                                     else 1.0 / (step + 1))
            trial.report(value, step)
        if trial.number == 2:
            raise optuna.TrialPruned()
        if trial.number == 4:
            raise RuntimeError("diverged")
        if trial.number == 5:
            return float("nan")  # optuna marks the trial FAIL and keeps no value
        return lr

    for lr in (1e-4, 1e-3, 1e-2, 0.05, 0.5, 0.9, 0.002):
        study.enqueue_trial({"lr": lr, "optimizer": "adam" if lr < 0.01 else "sgd", "layers": 2})
    study.optimize(objective, n_trials=7, catch=(RuntimeError,))
    study.ask()  # RUNNING: never told
    study.enqueue_trial({"lr": 0.1, "optimizer": "adam", "layers": 1})  # WAITING
    optuna.create_study(study_name="other", storage=url).optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    csv_path = path.with_name("trials.csv")
    study.trials_dataframe().to_csv(csv_path, index=False)
    return path, csv_path


def test_optuna_written_storage(optuna_storage):
    path, _ = optuna_storage
    with pytest.raises(InputError, match=r"holds 2 studies \(lr_sweep, other\); choose one with --study"):
        read_sweep(path)
    with pytest.raises(InputError, match="no study named 'missing'"):
        read_sweep(path, study="missing")
    sweep = read_sweep(path, study="lr_sweep")
    frame = sweep.trials.frame
    assert len(frame) == 9
    assert list(frame["state"]) == ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE", "FAIL", "FAIL", "COMPLETE",
                                    "RUNNING", "WAITING"]
    assert statuses(sweep) == {"completed": 4, "failed": 2, "pruned": 1, "running": 2}
    assert "val_loss" in frame.columns  # value_val_loss (the study's metric name), prefix dropped
    roles = infer_roles(frame, sweep.source, sweep.role_hints)
    assert roles.metrics["val_loss"].kind == "loss" and roles.metrics["val_loss"].goal == "min"
    assert roles.hyperparameters == ["layers", "lr", "optimizer"]
    assert frame["optimizer"].tolist()[:3] == ["adam", "adam", "sgd"]  # categorical index decoded
    assert frame["layers"].tolist()[0] == "2"
    assert frame["train_loss"].tolist()[0] == "0.5"  # user_attrs_train_loss
    curves = sweep.curves.frame
    assert list(curves.columns) == ["trial_id", "step", "val_loss"]
    assert curves[(curves["trial_id"] == "4") & (curves["step"] == "2")]["val_loss"].item() == "nan"
    assert curves[(curves["trial_id"] == "3") & (curves["step"] == "1")]["val_loss"].item() == "inf"
    assert len(curves) == 7 * 3


def test_optuna_written_storage_and_its_csv_give_the_same_issues(optuna_storage):
    path, csv_path = optuna_storage
    db = read_sweep(path, study="lr_sweep")
    table = read_sweep(csv_path)
    csv_columns = [c for c in table.trials.frame.columns if not c.startswith("system_attrs_")]  # fixed_params
    assert table.format == "optuna-csv" and csv_columns == list(db.trials.frame.columns)
    assert table.role_hints["system_attrs_fixed_params"] == "ignore"
    assert issues_of(db)[1] == issues_of(table)[1]
    assert {("2", "pruned"), ("4", "failed"), ("5", "failed"), ("7", "running"), ("8", "running")} <= issues_of(db)[1]


def test_reading_through_optuna_matches_reading_sqlite_directly(optuna_storage):
    path, _ = optuna_storage
    direct, _ = read_sqlite(str(path), "lr_sweep")
    via_optuna, _ = read_storage(f"sqlite:///{path}", "lr_sweep")
    columns = [c for c in direct.trials.frame.columns if not c.startswith(("datetime", "duration"))]
    assert direct.trials.frame[columns].equals(via_optuna.trials.frame[columns])
    assert direct.curves.frame.equals(via_optuna.curves.frame)
    assert via_optuna.format == "optuna-storage"


def test_old_schema_without_value_types_reads_null_intermediate_as_nan(tmp_path):
    """Optuna < 3 kept the value in ``trials`` and stored a NaN intermediate value as NULL."""
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript("""
        create table studies (study_id integer primary key, study_name text, direction text);
        create table trials (trial_id integer primary key, number integer, study_id integer, state text,
                             value float, datetime_start text, datetime_complete text);
        create table trial_params (param_id integer primary key, trial_id integer, param_name text,
                                   param_value float, distribution_json text);
        create table trial_intermediate_values (trial_intermediate_value_id integer primary key, trial_id integer,
                                                step integer, value float);
        insert into studies values (1, 'old', 'MAXIMIZE');
        insert into trials values (1, 0, 1, 'COMPLETE', 0.9, '2020-01-01 00:00:00', '2020-01-01 00:01:00');
        insert into trials values (2, 1, 1, 'FAIL', null, '2020-01-01 00:00:00', '2020-01-01 00:00:30');
        insert into trial_params values (1, 1, 'lr', 0.1, '{"name": "LogUniformDistribution", "attributes": {}}');
        insert into trial_params values (2, 2, 'lr', 1.0, '{"name": "LogUniformDistribution", "attributes": {}}');
        insert into trial_intermediate_values values (1, 2, 0, null);
    """)
    con.commit()
    con.close()
    sweep = read_sweep(path)
    assert sweep.trials.frame["value"].tolist() == ["0.9", None]
    assert sweep.role_hints["value"] == "metric:objective:max"
    assert sweep.trials.frame["duration"].tolist() == ["60.0", "30.0"]
    assert sweep.curves.frame["value"].tolist() == ["nan"]


LATE_DB = DATA / "optuna" / "late_divergence.db"
LATE_DIVERGING = {"3", "12", "13", "14", "16", "22", "24", "27", "36"}  # lr > 0.05 (make_optuna.py)


def analyze(sweep, **extra):
    roles = infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints)
    return analyze_sweep(sweep.trials, roles, curves=sweep.curves, curve_hints=sweep.curve_hints,
                         search_space=sweep.space, **extra)


def test_intermediate_values_carry_the_direction_and_every_curve_rule_runs_on_them():
    """A study written by optuna whose high-lr trials diverge late: all 9 found, from the curves alone."""
    sweep = read_sweep(LATE_DB)
    assert sweep.curve_hints == {"value": "metric:val_loss:min"}  # minimised, unnamed: the held-out objective
    summary = analyze(sweep)
    assert summary["curves"]["metrics"] == {"value": {"kind": "loss", "split": "val"}}
    diverged = {i["trial_id"] for i in summary["issues"] if i["type"] == "diverged"}
    assert diverged == LATE_DIVERGING
    assert all(i["epoch"] >= 16 for i in summary["issues"] if i["type"] == "diverged")  # late, from the curve
    without = analyze_sweep(sweep.trials, infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints),
                            curves=sweep.curves)
    assert not any(i["type"] == "diverged" for i in without["issues"])  # what was seen: a direction-less "value"


def test_a_named_or_maximised_objective_keeps_its_own_kind():
    from core.sources.optuna import _curve_spec

    assert _curve_spec("metric:val_loss:min") == "metric:val_loss:min"
    assert _curve_spec("metric:objective:max") == "metric:objective:max"
    assert _curve_spec("metric:objective") == "metric:objective"  # no direction known: nothing claimed


def test_map_reaches_the_curves():
    sweep = read_sweep(LATE_DB, mapping={"value": "metric:objective:max"})
    assert sweep.curve_hints == {"value": "metric:objective:max"}
    assert sweep.role_hints["value"] == "metric:objective:max"
    summary = analyze(sweep)
    assert not any(i["type"] == "diverged" for i in summary["issues"])  # a maximised score is no loss


def test_declared_search_space_is_read_from_distribution_json(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    sweep = read_sweep(LATE_DB)
    space = sweep.space
    assert space["lr"] == {"kind": "float", "low": 1e-4, "high": 1.0, "log": True, "step": None, "choices": None,
                           "source": "optuna"}
    assert space["weight_decay"]["log"] is True and space["weight_decay"]["low"] == 1e-6
    assert space["dropout"] == {"kind": "float", "low": 0.0, "high": 0.5, "log": False, "step": 0.1, "choices": None,
                                "source": "optuna"}
    assert space["n_layers"] == {"kind": "int", "low": 1, "high": 4, "log": False, "step": 1, "choices": None,
                                 "source": "optuna"}
    assert space["batch_size"]["choices"] == [32, 64, 128] and space["batch_size"]["kind"] == "categorical"
    assert space["optimizer"]["choices"] == ["adam", "sgd"]
    assert set(space) <= set(infer_roles(sweep.trials.frame, sweep.source, sweep.role_hints).hyperparameters)
    assert analyze(sweep)["search_space"] == space


def test_search_space_through_optuna_is_the_same():
    pytest.importorskip("optuna")
    assert read_storage(f"sqlite:///{LATE_DB}")[0].space == read_sweep(LATE_DB).space


def test_old_distribution_names_and_a_table_without_distributions():
    from core.sources.optuna import _distribution

    assert _distribution('{"name": "LogUniformDistribution", "attributes": {"low": 1e-05, "high": 0.1}}') == {
        "kind": "float", "low": 1e-05, "high": 0.1, "log": True, "step": None, "choices": None, "source": "optuna"}
    assert _distribution('{"name": "DiscreteUniformDistribution", "attributes": {"low": 0, "high": 1, "q": 0.25}}')[
        "step"] == 0.25
    assert _distribution('{"name": "IntLogUniformDistribution", "attributes": {"low": 8, "high": 512, "step": 1}}') == {
        "kind": "int", "low": 8, "high": 512, "log": True, "step": None, "choices": None, "source": "optuna"}
    assert _distribution("not json") is None and _distribution('{"name": "Nope", "attributes": {}}') is None
    assert read_sweep(DLP_CSV).space == {}  # a trials_dataframe() table declares nothing
    assert "search_space" not in analyze(read_sweep(DLP_CSV))
    assert read_sweep(DLP_DB).space["lr"]["log"] is True  # the genuine study declares a log range too


def test_a_trial_never_told_while_later_trials_finished_is_abandoned():
    sweep = read_sweep(LATE_DB)
    state = sweep.trials.frame.set_index("number")["state"]
    assert state["7"] == "ABANDONED" and state["39"] == "RUNNING"  # 39 started last: still running
    assert any(f"1 run(s) {NOTE} ("
               "4.779 s before it; the runs that went the whole way to a finite result took 0.1722 s (median), 0.398 s "
               "at most)"
               in n for n in sweep.notes)
    summary = analyze(sweep)
    # An abandoned trial has no outcome: it was read as killed (a cause patterns were built on) until the
    # real DLP study showed "killed runs at max_edges in [20, 34)" made of its first four trials, left RUNNING
    # when the process that ran them stopped. Now it is running (compared nowhere) and a finding counts it.
    assert "killed" not in summary["sweep"]["status_counts"] and summary["sweep"]["status_counts"]["running"] == 2
    assert [(i["trial_id"], i["detail"]) for i in summary["issues"] if i["type"] == "running"] == [
        ("7", "status 'ABANDONED'"), ("39", "status 'RUNNING'")]
    assert [(f["kind"], f["trial_ids"]) for f in summary["findings"] if f["kind"] == "abandoned"] == [
        ("abandoned", ["7"])]
    # The real DLP study: 39-42 started 11 days before the last trial ended (the finished took 57 min at most),
    # 72 started after it: only 72 may still be running.
    dlp = read_sweep(DLP_DB).trials.frame.set_index("number")["state"]
    assert sorted(dlp[dlp == "ABANDONED"].index, key=int) == ["39", "40", "41", "42"]
    assert list(dlp[dlp == "RUNNING"].index) == ["72"]


def test_a_space_that_changed_between_trials_declares_what_every_trial_was_drawn_from():
    """The genuine DLP study narrowed and moved lr and batch_size between runs of the script."""
    sweep = read_sweep(DLP_DB)
    space = sweep.space
    assert (space["lr"]["low"], space["lr"]["high"], space["lr"]["log"]) == (1e-6, 1e-3, True)
    assert (space["batch_size"]["low"], space["batch_size"]["high"], space["batch_size"]["step"]) == (100, 1500, 50)
    frame = sweep.trials.frame
    for name, entry in space.items():
        if entry["kind"] == "categorical":
            assert set(frame[name].dropna()) <= set(entry["choices"])
            continue
        values = frame[name].dropna().astype(float)
        assert values.between(entry["low"], entry["high"]).all(), name
        if entry["step"]:
            assert (((values - entry["low"]) / entry["step"]).round(9) % 1 == 0).all(), name
