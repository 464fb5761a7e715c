"""The published JSON Schema of ``hparam_summary.json``, generated from :mod:`core.records`.

The schema in ``schema/hparam_summary.schema.json`` is::

    python -m core.schema schema/hparam_summary.schema.json   # or no argument: print it

and ``tests/test_schema.py`` checks that the committed file is what the records give
and that real summaries validate against it. Strict parts (no unknown keys): the
top level, ``sweep``, ``issues``, ``associations``, ``best_trial`` and ``next_sweep``.
Open parts (unknown keys allowed, since the LLM analyst and writer and the
sweep-level finders add fields as they evolve): ``patterns``, ``leads``,
``recommendations``, ``analysis``, ``writer``, ``findings``, ``curves``, a pair's
``parts``... ``next_sweep`` is optional: the CLI adds it (see :mod:`core.next_sweep`);
a graph run may not.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import TypeAdapter

from core.records import Diagnosis


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the summary, generated from :class:`core.records.Diagnosis`."""
    schema = TypeAdapter(Diagnosis).json_schema(mode="validation", by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """The schema as the committed file holds it."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m core.schema [PATH]``: write the schema to PATH, or print it."""
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        with open(argv[0], "w", encoding="utf-8") as handle:
            handle.write(schema_text())
    else:
        sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
