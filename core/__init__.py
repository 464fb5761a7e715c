"""Sweep diagnosis without any model: loading, detectors, statistics, rendering.

Pure pandas/numpy (and scipy for exact tests). Nothing here imports ``graph`` or an
LLM library; the facts of every report (counts, ids, rates, thresholds) come from
this package.
"""
