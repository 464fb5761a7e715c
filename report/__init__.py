"""The pydantic models of the summary's JSON Schema (:mod:`report.schema`); the rest of presentation is in :mod:`graph.report`."""
