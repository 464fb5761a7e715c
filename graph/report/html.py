"""The report as one self-contained HTML file: the markdown rendered, pictures embedded.

For readers who do not read markdown. The markdown report (already escaped by
:mod:`graph.report.markdown`) is rendered with markdown-it-py with raw HTML off and links off; the
pictures it links are embedded as ``data:`` URIs, any other image is reduced to its
text. The page loads nothing: no stylesheet, font, script or image from elsewhere.

Given the summary, sections link to each other with in-page anchors only: a trial id
anywhere in the report leads to its row in a closing "Trials with issues" table, and an
evidence id (``P1``, ``L1``, ``F1``) to the pattern, lead or finding it names.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from markdown_it import MarkdownIt
from markdown_it.token import Token

if TYPE_CHECKING:
    from core.records import Diagnosis

_CSS = """
body { font: 15px/1.55 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328;
       max-width: 980px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.8em; border-bottom: 1px solid #d1d9e0; padding-bottom: .3em; }
h2 { font-size: 1.4em; border-bottom: 1px solid #d1d9e0; padding-bottom: .25em; margin-top: 1.8em; }
h3 { font-size: 1.15em; margin-top: 1.4em; }
code { font: 0.88em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eff1f3;
       padding: .1em .35em; border-radius: 4px; }
table { border-collapse: collapse; margin: 1em 0; display: block; overflow-x: auto; }
th, td { border: 1px solid #d1d9e0; padding: .35em .7em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
blockquote { margin: 1em 0; padding: .2em 1em; color: #59636e; border-left: .25em solid #d1d9e0; }
img { max-width: 100%; height: auto; display: block; margin: 1em 0; border: 1px solid #eef0f2; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
:target { background: #fff8c5; }
"""
_EVIDENCE_ID = re.compile(r"\b([PLF][1-9][0-9]*)\b")
_SECTION_ID = re.compile(r"^\*?\*?([PLF][1-9][0-9]*)\.")
_MAX_TRIAL_ROWS = 2000


def render_html(markdown: str, pictures: Mapping[str, bytes], *, title: str = "Hyperparameter sweep report",
                summary: Diagnosis | None = None) -> str:
    """The markdown report as a standalone HTML page.

    Parameters
    ----------
    markdown : str
        The report of :func:`graph.report.markdown.render_report`.
    pictures : mapping of str to bytes
        PNG bytes by the relative path the report links them with.
    title : str
        The page title (escaped).
    summary : Diagnosis, optional
        The report's diagnosis (its ``issues``: ``trial_id``, ``type``, ``detail``); with it
        the page ends with a table of the trials with issues (at most 2000) and
        links trial ids and evidence ids to their rows and sections.

    Returns
    -------
    str
        A complete HTML document with the pictures inline as ``data:image/png`` URIs.
    """
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").disable(["link", "autolink"])
    tokens = md.parse(markdown)
    rows = _trial_rows(summary) if summary else {}
    anchors = {trial: f"trial-{i}" for i, trial in enumerate(rows, 1)}
    sections = _section_ids(tokens)
    for token in tokens:
        if token.children:
            children = [_embed(child, pictures) for child in token.children]
            token.children = [out for child in children for out in _linked(child, anchors, sections)]
    body = md.renderer.render(tokens, md.options, {}) + _trials_table(rows, anchors, summary)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def _embed(token: Token, pictures: Mapping[str, bytes]) -> Token:
    """An image of ours becomes a data URI; anything else linked as an image becomes its alt text."""
    if token.type != "image":
        return token
    src = str(token.attrGet("src") or "")
    if src in pictures:
        token.attrSet("src", "data:image/png;base64," + base64.b64encode(pictures[src]).decode("ascii"))
        token.attrSet("data-file", src)  # the file the picture is saved as beside the markdown report
        return token
    text = Token("text", "", 0)
    text.content = token.content
    return text


def _section_ids(tokens: list[Token]) -> set[str]:
    """Give patterns, leads and findings (``### P1. ...``, ``- **F1.** ...``) an ``id``; the ids given."""
    found: set[str] = set()
    for i in range(1, len(tokens) - 1):
        opener, inline = tokens[i], tokens[i + 1]
        if opener.type in ("heading_open", "paragraph_open") and inline.type == "inline":
            match = _SECTION_ID.match(inline.content)
            if match and match[1] not in found:
                # a tight list's paragraph is not rendered: the id goes on its list item
                (tokens[i - 1] if opener.hidden and tokens[i - 1].type == "list_item_open" else opener).attrSet("id", match[1])
                found.add(match[1])
    return found


def _linked(token: Token, anchors: Mapping[str, str], sections: set[str]) -> list[Token]:
    """A trial id in code, or an evidence id in text, as an in-page link to its row or section."""
    if token.type == "code_inline" and token.content in anchors:
        return _link(f"#{anchors[token.content]}", [token])
    if token.type != "text" or not sections or "vidence" not in token.content:
        return [token]
    out: list[Token] = []
    last = 0
    for match in _EVIDENCE_ID.finditer(token.content):
        if match[1] not in sections:
            continue
        out.append(_text(token.content[last:match.start()]))
        out += _link(f"#{match[1]}", [_text(match[1])])
        last = match.end()
    return [*out, _text(token.content[last:])] if out else [token]


def _link(href: str, inner: list[Token]) -> list[Token]:
    opening = Token("link_open", "a", 1)
    opening.attrSet("href", href)
    return [opening, *inner, Token("link_close", "a", -1)]


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _trial_rows(summary: Diagnosis) -> dict[str, list[str]]:
    """Trial id -> its issues as ``type: detail``, in the summary's order, for the first 2000 trials."""
    rows: dict[str, list[str]] = {}
    issues = summary.issues
    for trial, kind, detail in zip(issues.trial_id, issues.type, issues.detail):  # the columns: no record per row
        trial = str(trial)
        if trial in rows or len(rows) < _MAX_TRIAL_ROWS:
            rows.setdefault(trial, []).append(f"{kind}: {detail}")
    return rows


def _trials_table(rows: Mapping[str, list[str]], anchors: Mapping[str, str], summary: Diagnosis | None) -> str:
    if not rows:
        return ""
    n_affected = summary.trials_affected if summary is not None else len(rows)
    shown = "" if n_affected <= len(rows) else f" (the first {len(rows)} of {n_affected}; all are in the JSON summary)"
    body = "".join(
        f'<tr id="{anchors[trial]}"><td><code>{html.escape(trial)}</code></td>'
        f"<td>{'<br>'.join(html.escape(item) for item in items)}</td></tr>\n"
        for trial, items in rows.items())
    return (f"<h2 id=\"trials\">Trials with issues</h2>\n<p>Every trial the report names, with its issues{shown}.</p>\n"
            f"<table>\n<thead><tr><th>Trial</th><th>Issues</th></tr></thead>\n<tbody>\n{body}</tbody>\n</table>\n")
