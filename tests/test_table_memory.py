"""The typed tables at a large sweep's scale: what they keep, what they let go, what is built once."""

from __future__ import annotations

import pyarrow as pa

import graph.inputs as inputs
from core.roles import ColumnRoles
from graph.nodes import sweep_facts
from tests.helpers import table_from_records


def test_the_text_cells_are_gone_when_arrow_is_asked_to_return_their_pages(tmp_path, monkeypatch):
    # Arrow's allocator returns freed pages to the system only when asked (release_unused);
    # asked while a name still held the old frame, it kept them until some later call, and
    # a million-trial run's peak depended on when that came (0.95 or 1.3 GB).
    rows = ["trial_id,status,learning_rate,optimizer,train_loss,val_loss,seed"]
    rows += [f"run_{i},completed,{1e-4 * (1 + i % 97):.6g},{('adam', 'sgd')[i % 2]},0.{i % 89 + 10},0.{i % 83 + 10},{i}"
             for i in range(20_000)]
    path = tmp_path / "sweep.csv"
    path.write_text("\n".join(rows) + "\n")
    held_at_release: list[int] = []

    class Pool:
        def release_unused(self) -> None:
            held_at_release.append(pa.total_allocated_bytes())

    before = pa.total_allocated_bytes()
    loaded = inputs.load_sweep({"results_path": str(path)})
    read = pa.total_allocated_bytes() - before
    roles = ColumnRoles.from_dict(loaded.facts(sweep_facts)["roles"])
    monkeypatch.setattr(inputs.pa, "default_memory_pool", lambda: Pool())
    table = loaded.trial_table(roles)
    assert read > 500_000 and len(table) == 20_000
    assert len(held_at_release) == 1 and held_at_release[0] - before < read / 2  # the seeds' text stays, compact
    assert len(loaded.sweep.trials.frame) == 0 and len(loaded.raw().frame) == 20_000  # read again when asked


def test_seeds_are_kept_as_compact_text_that_reads_as_before():
    table = table_from_records([{"trial_id": str(i), "val_loss": "0.5", "train_loss": "0.4", "lr": str(0.1 * i),
                                 "seed": seed} for i, seed in enumerate([" 7 ", "", "None", "13"])])
    assert table.seeds is not None and str(table.seeds.dtype) == "str"
    assert table.seeds.fillna("?").astype(str).tolist() == ["7", "?", "None", "13"]



def test_a_curves_file_alone_is_typed_once_unless_a_curve_column_is_mapped():
    from tests.conftest import DATA

    path = str(DATA / "curves" / "deepobs_curves_slice.csv")
    loaded = inputs.load_sweep({"results_path": path})
    assert loaded.sweep.format == "curves" and loaded.sweep.curve_table is not None
    assert loaded.curve_table() is loaded.sweep.curve_table  # the reader's, not built again
    column = next(c for c in loaded.curve_table().metrics.columns)
    mapped = inputs.load_sweep({"results_path": path, "mapping": {column: "ignore"}})
    assert mapped.sweep.curve_hints == {column: "ignore"}
    assert mapped.curve_table() is not mapped.sweep.curve_table and column not in mapped.curve_table().metrics.columns
