"""The README's sample output is a real run's: the command's lines and a pattern of the report it writes.

After a change that moves the figures, ``HPATH_UPDATE_README=1 pytest tests/test_readme_sample.py``
rewrites the block between the README's ``sample`` markers from a fresh run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import EXAMPLES, ROOT

BEGIN = "<!-- sample: a real run's output, kept current by tests/test_readme_sample.py -->\n"
END = "<!-- /sample -->\n"
COMMAND = "python -m graph.run examples/deepobs_cifar10_3c3d.csv"


def _sample(tmp_path: Path) -> str:
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "deepobs_cifar10_3c3d.csv", tmp_path / "examples")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "MODEL", "LLM_ENDPOINT_URL")}
    env |= {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, *COMMAND.split()[1:]], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "hparam_report.md").read_text()
    heading = next(line for line in report.splitlines() if re.match(r"### P\d+\. NaN/inf metrics at ", line))
    explanation = report.split(heading + "\n\n", 1)[1].split("\n", 1)[0]
    quoted = "\n".join(f"> {line}" for line in [heading, explanation])
    return (f"```text\n$ {COMMAND}\n{done.stderr}```\n\n…and `hparam_report.md` says, among other things:\n\n"
            f"{quoted}\n")


def test_the_readme_sample_is_a_real_run(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    fresh = _sample(tmp_path)
    if os.environ.get("HPATH_UPDATE_README") and readme[start:end] != fresh:
        (ROOT / "README.md").write_text(readme[:start] + fresh + readme[end:], encoding="utf-8")
        return
    assert readme[start:end] == fresh, "README sample is stale; rerun with HPATH_UPDATE_README=1"
