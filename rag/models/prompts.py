"""Prompt templates are files in ``prompts/`` (``name.lang.txt``), kept apart from the code.

A file is a sequence of ``[system]``, ``[user]`` and ``[assistant]`` parts: earlier user/assistant
pairs are few-shot examples, kept verbatim; only the last user part is filled with ``{values}``.
"""

from __future__ import annotations

import re

from rag.data import PROJECT_ROOT
from rag.types import Message

PROMPTS = PROJECT_ROOT / "prompts"
_PART = re.compile(r"^\[(system|user|assistant)\]\s*$", re.MULTILINE)


def load_prompt(name: str, lang: str, **values: str) -> list[Message]:
    path = PROMPTS / f"{name}.{lang}.txt"
    if not path.exists():
        path = PROMPTS / f"{name}.en.txt"
    pieces = _PART.split(path.read_text(encoding="utf-8"))[1:]
    messages = [Message(role, body.strip()) for role, body in zip(pieces[::2], pieces[1::2])]
    last = max(i for i, m in enumerate(messages) if m.role == "user")
    messages[last] = Message("user", messages[last].content.format(**values))
    if messages[0].role == "system" and "{" in messages[0].content:
        messages[0] = Message("system", messages[0].content.format(**values))
    return [m for m in messages if m.content or m.role != "system"]
