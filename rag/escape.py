"""Text from articles, file names, questions and models is data: shown, never interpreted.

Markdown renderers (the chat, the briefing export) turn ``<img src=…>`` into a live image
and ``*x*`` into emphasis. `md_escape` makes any string display as exactly itself there:
HTML's three special characters become entities, and every Markdown punctuation mark is
backslash-escaped (CommonMark allows it before any ASCII punctuation).
"""

from __future__ import annotations

import html
import re

_MD_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$:=\"'])")
_MD_UNESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~$:=\"'])")


def md_escape(text: str) -> str:
    """``text`` as Markdown source that renders to exactly ``text`` (no tags, links, images or emphasis)."""
    return _MD_PUNCT.sub(r"\\\1", html.escape(text, quote=False))


def md_unescape(text: str) -> str:
    """The inverse of `md_escape` (the chat hands escaped questions back as history)."""
    return html.unescape(_MD_UNESCAPE.sub(r"\1", text))
