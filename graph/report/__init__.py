"""Presentation of a computed summary: the markdown report, its pictures and the HTML page, and saving them.

Nothing here computes a fact: the summary (``core``) holds them. Modules:
:mod:`~graph.report.markdown` (the markdown report, and the escaping of untrusted text),
:mod:`~graph.report.plot_data` (what the pictures show) and :mod:`~graph.report.pictures`
(drawing them: matplotlib, Agg only), :mod:`~graph.report.worker` (the command line's
drawing process), :mod:`~graph.report.html` (one self-contained page),
:mod:`~graph.report.output_set` (the output files written as one unit) and
:mod:`~graph.report.trackers` (``--log-to`` MLflow / W&B).
"""
