"""The report as one self-contained HTML file: the markdown rendered, pictures embedded.

For readers who do not read markdown. The markdown report (already escaped by
:mod:`core.render`) is rendered with markdown-it-py with raw HTML off and links off; the
pictures it links are embedded as ``data:`` URIs, any other image is reduced to its
text. The page loads nothing: no stylesheet, font, script or image from elsewhere.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping

from markdown_it import MarkdownIt
from markdown_it.token import Token

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
"""


def render_html(markdown: str, pictures: Mapping[str, bytes], *, title: str = "Hyperparameter sweep report") -> str:
    """The markdown report as a standalone HTML page.

    Parameters
    ----------
    markdown : str
        The report of :func:`core.render.render_report`.
    pictures : mapping of str to bytes
        PNG bytes by the relative path the report links them with.
    title : str
        The page title (escaped).

    Returns
    -------
    str
        A complete HTML document with the pictures inline as ``data:image/png`` URIs.
    """
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table").disable(["link", "autolink"])
    tokens = md.parse(markdown)
    for token in tokens:
        if token.children:
            token.children = [_embed(child, pictures) for child in token.children]
    body = md.renderer.render(tokens, md.options, {})
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
        return token
    text = Token("text", "", 0)
    text.content = token.content
    return text
