"""Chat messages as the Gradio chatbot holds them, and the short texts the app shows around them."""

from __future__ import annotations

import datetime as dt
import re
from html import escape, unescape

from rag.rendering.html import block  # noqa: E402

WORKING = {"en": "Searching the articles…", "ar": "جارٍ البحث في المقالات…"}


WRITING_MARK = '<div class="isnad-block isnad-writing'


def writing(status: str) -> str:
    """Work in progress under an answer: its own block, removed when the work ends or is stopped."""
    return f'{WRITING_MARK} isnad-note" dir="ltr" lang="en">{escape(status)}</div>'


def user_message(question: str) -> dict:
    return {"role": "user", "content": block(question, "isnad-q")}


def bot_message(html: str) -> dict:
    return {"role": "assistant", "content": html}


def content_of(message: dict) -> str:
    content = message.get("content", "")
    if not isinstance(content, str):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content


def message_text(message: dict) -> str:
    """The words a chat message shows (its HTML's text; article text in it was escaped)."""
    return unescape(re.sub(r"<[^>]+>", "", content_of(message)))


def download_name(subject: str, today: dt.date | None = None) -> str:
    """ "isnad-briefing-us-troop-withdrawal-from-iraq-2026-11-25.md": the subject (any script) and the date."""
    slug = re.sub(r"[^\w]+", "-", subject.lower()).strip("-_")[:60].strip("-_") or "briefing"
    return f"isnad-briefing-{slug}-{(today or dt.date.today()).isoformat()}.md"


def shorten(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def notice_message(text: str) -> str:
    return block(f"⚠ {text}", "isnad-note")
