"""Text from articles, file names, questions and models is data: shown, never interpreted.

Markdown renderers (the upload report, the briefing export) turn ``<img src=…>`` into a
live image, ``*x*`` into emphasis and a bare ``https://…`` into a link. `md_escape` makes
any string display as exactly itself there while staying readable as plain text: HTML's
special characters become entities, and a backslash goes only where Markdown would act:
before emphasis, code, link and table characters anywhere, before a block marker at the
start of a line (``#``, ``>``, ``-``, ``1.``), and inside ``://`` and ``www.`` (autolinks).
A full stop, hyphen or apostrophe in the middle of a sentence is left alone.
"""

from __future__ import annotations

import html
import re

_ALWAYS = re.compile(r"([\\`*_\[\]|~$])")
_LINE_START = re.compile(r"^(\s*)(?:([#>+=-])|(\d+)([.)]))", re.M)
_AUTOLINK = re.compile(r":(?=//)|(?<=www)\.", re.I)
_MD_UNESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def md_escape(text: str) -> str:
    """``text`` as Markdown source that renders to exactly ``text`` (no tags, links, images or emphasis)."""
    out = _ALWAYS.sub(r"\\\1", html.escape(text, quote=False))
    out = _LINE_START.sub(
        lambda m: m.group(1) + (f"\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\{m.group(4)}"), out
    )
    return _AUTOLINK.sub(lambda m: "\\" + m.group(), out)


def md_unescape(text: str) -> str:
    """The inverse of `md_escape` (tests and handlers read the words a report shows)."""
    return html.unescape(_MD_UNESCAPE.sub(r"\1", text))
