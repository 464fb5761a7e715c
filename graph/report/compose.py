"""The whole report of one diagnosis: markdown, pictures and the self-contained HTML page, and its files.

The write node calls :func:`compose`, so the graph's output (Studio, embedders) is the
report the CLI saves: ``report`` (markdown, linking its pictures as
``hparam_figures/*.png``), ``report_html`` (one page, the pictures inline) and
``pictures`` (the links: path, title, section). The picture bytes live once, inside
``report_html``; :func:`report_files` takes them out again for saving, so the state a
checkpointer stores holds no per-trial plot data and no second copy of the pictures.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.report.output_set import OutputSet

if TYPE_CHECKING:
    from core.records import Diagnosis

REPORT_NAME = "hparam_report.md"
SUMMARY_NAME = "hparam_summary.json"
HTML_NAME = "hparam_report.html"
FOLDER = "hparam_figures"
"""The folder beside the report that holds the pictures."""
PICTURE_GLOBS = ("heatmap.png", "isolation_*.png", "curves.png")
"""File names of the pictures; earlier pictures of these names that a run does not redraw are removed."""


def compose(diagnosis: Diagnosis, pictures: list[tuple[dict[str, str], bytes]] = ()) -> dict[str, Any]:
    """``{"report", "report_html", "pictures"}`` for a full diagnosis and the drawn pictures.

    ``pictures`` are :func:`graph.report.pictures.draw_pictures`'s ``(link, png)`` pairs.
    """
    from graph.report.html import render_html
    from graph.report.markdown import render_report

    links = [link for link, _ in pictures]
    markdown = render_report(diagnosis, images=links)
    page = render_html(markdown, {link["path"]: png for link, png in pictures},
                       title=f"Sweep report: {diagnosis.sweep.source}", summary=diagnosis)
    return {"report": markdown, "report_html": page, "pictures": links}


_EMBEDDED = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="[^"]*" data-file="([A-Za-z0-9_./-]+)"')


def report_files(output: dict[str, Any], summary_text: str, *, html: bool) -> dict[str, str | bytes]:
    """The files of the output set: file name (``hparam_figures/x.png`` for a picture) -> content.

    ``output`` holds :func:`compose`'s keys; ``summary_text`` is the JSON summary as
    written; ``html`` adds the page.
    """
    files: dict[str, str | bytes] = {REPORT_NAME: output["report"], SUMMARY_NAME: summary_text}
    if html:
        files[HTML_NAME] = output["report_html"]
    embedded = {path: data for data, path in _EMBEDDED.findall(output.get("report_html") or "")}
    for link in output.get("pictures") or []:
        files[link["path"]] = base64.b64decode(embedded[link["path"]])
    return files


def report_set(out_dir: Path) -> OutputSet:
    """The output set of a report in ``out_dir``: the markdown, the summary, the page and the pictures' folder."""
    return OutputSet(out_dir, (FOLDER, REPORT_NAME, SUMMARY_NAME, HTML_NAME), {FOLDER: PICTURE_GLOBS})
