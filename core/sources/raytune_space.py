"""Ray Tune's declared search space, from the search generator's saved state, without running any of its code.

Ray keeps ``param_space`` only inside pickles: the default search algorithm
(``BasicVariantGenerator``) saves its state, with the unresolved spec, as
``basic-variant-state-<date>.json`` (a pickle despite the name). The pickle is read
by an unpickler that maps every class or function it names to an inert record
(:class:`_Inert`): nothing from the file is imported or called. The domains
(``tune.uniform``/``loguniform``/``quniform``/``randint``/``lograndint``/``choice``/
``grid_search``) are then read off those records by name.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from core.sources._common import space_entry

_MAX_BYTES = 50_000_000


class _Inert:
    """What the file asked to build: the class name, its arguments and its state, nothing run."""

    qualname = ""
    args: tuple[Any, ...] = ()
    state: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert(*args)

    def attrs(self) -> dict[str, Any]:
        """The object's attribute dict (the first dict of a (dict, slots) state)."""
        state = self.state
        if isinstance(state, tuple) and state and isinstance(state[0], dict):
            return state[0]
        return state if isinstance(state, dict) else {}


class _InertUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:
        return type(name, (_Inert,), {"qualname": name, "module": module})

    def persistent_load(self, pid: Any) -> Any:
        return None


def read_space(experiment: Path) -> dict[str, dict[str, Any]]:
    """Flattened config key (``a/b`` for nested) -> search-space entry; empty when no state declares one."""
    states = sorted(experiment.glob("basic-variant-state-*.json"))
    if not states:
        return {}
    try:
        data = states[-1].read_bytes()
    except OSError:
        return {}
    if not data.startswith(b"\x80") or len(data) > _MAX_BYTES:
        return {}
    try:
        loaded = _InertUnpickler(io.BytesIO(data)).load()
    except Exception:  # noqa: BLE001 - a state we cannot read declares nothing we can use
        return {}
    config = _find_config(loaded, set())
    return _flatten(config, "") if isinstance(config, dict) else {}


def _find_config(obj: Any, seen: set[int]) -> dict[str, Any] | None:
    """The ``config`` of the first ``unresolved_spec`` in the object graph."""
    if id(obj) in seen:
        return None
    seen.add(id(obj))
    if isinstance(obj, dict):
        spec = obj.get("unresolved_spec")
        if isinstance(spec, dict) and isinstance(spec.get("config"), dict):
            return spec["config"]
        children = list(obj.values())
    elif isinstance(obj, list | tuple | set):
        children = list(obj)
    elif isinstance(obj, _Inert):
        children = [obj.state, *obj.args]
    else:
        return None
    for child in children:
        found = _find_config(child, seen)
        if found is not None:
            return found
    return None


def _flatten(config: dict[str, Any], prefix: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, value in config.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, dict) and "grid_search" in value and isinstance(value["grid_search"], list):
            out[name] = space_entry("categorical", "raytune", choices=value["grid_search"])
        elif isinstance(value, dict):
            out.update(_flatten(value, name))
        elif isinstance(value, _Inert):
            entry = _domain(value)
            if entry is not None:
                out[name] = entry
    return out


def _domain(domain: _Inert) -> dict[str, Any] | None:
    attrs = domain.attrs()
    if domain.qualname == "Categorical":
        return space_entry("categorical", "raytune", choices=list(attrs.get("categories") or []))
    if domain.qualname not in ("Float", "Integer"):
        return None
    sampler = attrs.get("sampler")
    step = None
    if isinstance(sampler, _Inert) and sampler.qualname == "Quantized":
        step = sampler.attrs().get("q")
        sampler = sampler.attrs().get("sampler")
    name = sampler.qualname if isinstance(sampler, _Inert) else ""
    if name.endswith("_Normal"):
        return None  # unbounded: no range was declared
    log = name.endswith("_LogUniform")
    kind = "float" if domain.qualname == "Float" else "int"
    high = attrs.get("upper")
    if kind == "int" and isinstance(high, int | float):
        high = high - 1  # randint(lower, upper) excludes upper
    if kind == "int" and step is None and not log:
        step = 1
    return space_entry(kind, "raytune", attrs.get("lower"), high, log, step)
