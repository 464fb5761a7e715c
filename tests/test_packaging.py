"""What `pip install` installs: every package of the source tree, and no generic top-level name."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def test_every_package_of_the_tree_is_installed_and_no_generic_top_level_one():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("core", "graph", "prompts", "hparam_inspector")
             for p in (ROOT / top).rglob("__init__.py")}
    assert listed == found  # a package missing here is absent from a wheel: the installed command fails
    assert {name.split(".")[0] for name in listed} == {"core", "graph", "prompts", "hparam_inspector"}
