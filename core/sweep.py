"""What every reader of a sweep produces: the one seam between input formats and analysis.

A reader (plain CSV, an Optuna storage, a W&B export, a Ray Tune directory, ...)
returns a :class:`Sweep`. Everything downstream (roles, detectors, statistics) sees
only this, so no format-specific logic lives past the reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.loading import RawTable

if TYPE_CHECKING:
    from core.curves import CurveTable


@dataclass
class Sweep:
    """A sweep as read from any source.

    Attributes
    ----------
    trials : RawTable
        One row per trial, every cell text (``str``) or ``None`` for missing; a
        reported NaN stays the text ``"nan"`` (see :mod:`core.values`).
    role_hints : dict of str to str
        Column -> role spec (see :func:`core.roles.parse_role_spec`) that the reader
        knows for certain (``number`` is Optuna's id, ``state`` its status, ...);
        ``--map`` entries are merged over these. Columns without a hint are inferred.
    curves : RawTable or None
        Per-epoch or per-step values in long format, text cells like ``trials``: a
        trial id column, a step column (``epoch``, ``step``, ``training_iteration``,
        ...) and one column per metric; one row per (trial, step).
    format : str
        Name of the reader that produced it (``"csv"``, ``"optuna-sqlite"``, ...),
        shown in the report.
    curve_hints : dict of str to str
        Column of ``curves`` -> role spec (see :func:`core.curves.build_curve_table`):
        what the reader knows about a curve (Optuna's intermediate values are the
        study's objective, minimised or maximised; a running best is ``ignore``), with
        the ``--map`` entries that name curve columns over them.
    space : dict of str to dict
        The declared search space, when the tool keeps it: hyperparameter column ->
        ``{"kind": "float"|"int"|"categorical", "low", "high", "log", "step",
        "choices", "source"}`` (``low``/``high``/``step`` None for a categorical,
        ``choices`` None for a range; ``source`` the tool). Empty when the input
        declares nothing; never inferred from the values tried.
    curve_table : CurveTable or None
        The typed ``curves``, when the reader built them (a curves file that comes alone:
        its trial table is derived from them), built with no ``curve_hints``; whoever
        types the curves uses it while the hints are still none (:meth:`built_curves`).
    """

    trials: RawTable
    role_hints: dict[str, str] = field(default_factory=dict)
    curves: RawTable | None = None
    format: str = "csv"
    curve_hints: dict[str, str] = field(default_factory=dict)
    space: dict[str, dict[str, Any]] = field(default_factory=dict)
    curve_table: CurveTable | None = field(default=None, repr=False, compare=False)

    @property
    def source(self) -> str:
        """Name of the input, as used in messages."""
        return self.trials.source

    def built_curves(self) -> CurveTable | None:
        """The reader's typed curves when they are what :func:`core.curves.build_curve_table` would give now (no hints)."""
        return self.curve_table if self.curve_table is not None and not self.curve_hints else None

    @property
    def notes(self) -> list[str]:
        """Things the user should know about how the input was read."""
        return self.trials.notes
