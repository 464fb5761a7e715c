"""Integrations that run inside a user's sweep process (Optuna, Ray Tune), kept import-light.

``from hparam_inspector.watch import PathologyWatch``: nothing here imports the LangGraph
graph or a model; optuna and ray are imported only by the parts that use them.
"""
