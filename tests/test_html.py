"""The self-contained HTML report (report/html.py)."""

from __future__ import annotations

import base64
import re

from graph.report.html import render_html
from tests.conftest import ROOT

PNG = b"\x89PNG\r\n\x1a\nfake"


def test_pictures_are_embedded_and_nothing_links_out():
    markdown = (
        "# Report\n\n| a | b |\n| --- | --- |\n| `x` | 1 |\n\n"
        "![Heatmap](hparam_figures/heatmap.png)\n\n"
        "![tracker](https://evil.example/p.png) [click](https://evil.example) <https://evil.example/x>\n\n"
        "<script>alert(1)</script> <img src=x onerror=alert(1)>\n"
    )
    page = render_html(markdown, {"hparam_figures/heatmap.png": PNG}, title="Sweep <results.csv>")
    assert page.startswith("<!DOCTYPE html>") and "<title>Sweep &lt;results.csv&gt;</title>" in page
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert sources == ["data:image/png;base64," + base64.b64encode(PNG).decode()]
    assert "<table>" in page and "<code>x</code>" in page
    assert "<a " not in page and "<script" not in page and "<img src=x" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "tracker" in page  # a foreign image is reduced to its text


def test_cli_html_report_embeds_every_picture(tmp_path):
    from graph.run import main

    deepobs = str(ROOT / "examples" / "deepobs_cifar10_3c3d.csv")
    assert main([deepobs, "--offline", "--out", str(tmp_path), "--output-format", "html", "--quiet"]) == 0
    page = (tmp_path / "hparam_report.html").read_text()
    report = (tmp_path / "hparam_report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    sources = re.findall(r'<img src="([^"]*)"', page)
    assert len(sources) == len(linked) == 2
    for src, path in zip(sources, linked):
        assert base64.b64decode(src.split(",", 1)[1]) == (tmp_path / path).read_bytes()
    for heading in ("Overview", "Issue Breakdown", "Hyperparameter Pathologies", "Recommendations", "Next experiment"):
        assert f"<h2>{heading}</h2>" in page
    assert not re.search(r"src=\"(?!data:)|href=\"(?!#)", page) and "http://" not in page and "https://" not in page
    assert re.search(r'href="#trial-\d+"', page) and re.search(r'href="#P\d+"', page)  # in-page links only
