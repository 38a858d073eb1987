"""Write docs/configuration.md from the settings' own field descriptions, so the page cannot drift.

.venv/bin/python scripts/config_docs.py          # rewrite the page
.venv/bin/python scripts/config_docs.py --check  # exit 1 if the page is out of date (run by the tests)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402

PAGE = ROOT / "docs" / "configuration.md"
HEAD = """# Configuration

Isnad has one settings object, `rag.config.Settings` (pydantic-settings). Every field can be set in
the environment as `ISNAD_<NAME>` (for example `ISNAD_INDEX_DIR=/srv/isnad/index`), or passed to
`Settings(...)` in Python. The key of an OpenAI-compatible endpoint is read from `OPENAI_API_KEY`
(or `ISNAD_LLM_API_KEY`) and is never shown, logged or sent anywhere but `ISNAD_LLM_BASE_URL`.

This page is generated from the fields' descriptions by `scripts/config_docs.py`.

| variable | default | meaning |
|---|---|---|
"""


def _default(field) -> str:
    if field.default_factory is not None:
        return "(computed)" if "cache" not in str(field.default_factory) else "`~/.cache/isnad`"
    value = field.default
    if value is None:
        return "—"
    return f"`{value}`"


def render() -> str:
    rows = []
    for name, field in Settings.model_fields.items():
        env = "OPENAI_API_KEY" if name == "llm_api_key" else f"ISNAD_{name.upper()}"
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{env}` | {_default(field)} | {meaning} |")
    return HEAD + "\n".join(rows) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if PAGE.read_text(encoding="utf-8") != text:
            print("docs/configuration.md is out of date: run python scripts/config_docs.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
