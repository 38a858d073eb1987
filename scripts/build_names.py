"""Write rag/data/names.cldr.tsv: country, region and language names in English and Arabic from CLDR.

Run once when Babel (CLDR) is updated: `pip install babel && python scripts/build_names.py`.
Language names double as adjectives of nationality ("French" / «الفرنسية»), which is how
news questions name countries ("the French government"). Arabic forms that are also common
words («مالي» is "financial") are left out.
"""

from __future__ import annotations

import re
from pathlib import Path

from babel import Locale

OUT = Path(__file__).resolve().parents[1] / "rag" / "data" / "names.cldr.tsv"
# words, or clash with one
AMBIGUOUS_AR = {"مالي", "تشاد", "توغو", "جيرسي", "غيرنزي", "الجبل الأسود", "السويد"}


def rows() -> list[tuple[str, str, str]]:
    en, ar = Locale("en"), Locale("ar")
    out = []
    for code, name in sorted(en.territories.items()):
        if code in ar.territories and not re.fullmatch(r"(ZZ|QO|EZ|UN|XA|XB|\d{3})", code):
            out.append(("place", name, ar.territories[code]))
    for code, name in sorted(en.languages.items()):
        if len(code) == 2 and code in ar.languages and " " not in name:
            out.append(("nationality", name, ar.languages[code]))
    return [
        (k, e, a)
        for k, e, a in out
        if a not in AMBIGUOUS_AR and len(a.replace("ال", "", 1)) >= 3 and not re.search(r"[()&]|SAR", e + a)
    ]


def main() -> None:
    lines = ["# kind\tenglish\tarabic (generated from CLDR by scripts/build_names.py; do not edit)"]
    lines += [f"{k}\t{e}\t{a}" for k, e, a in rows()]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines) - 1} names written to {OUT}")


if __name__ == "__main__":
    main()
