"""Presentation of a computed summary beyond markdown: pictures, HTML, the JSON Schema of the summary.

Nothing here computes a fact: the summary (``core``) holds them, and the plots draw the
per-trial values of the typed tables beside it. Matplotlib is used through its object
API with the Agg canvas only (no pyplot state, no display).
"""
