"""Names found in the corpus after a title, their transliterations, and how they reach the lexicon."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from rag.text.harvest import harvest_people, read_harvest, record_spellings, update_harvest
from rag.text.lexicon import HARVESTED, lexicon_for, load_lexicon
from rag.text.transliteration import transliteration_fits
from rag.translation.translator import TranslationCache, Translator, find_facts, key_facts

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
NEW = (
    "وقال العميد تحسين الخفاجي، المتحدث باسم قيادة العمليات المشتركة، إن وزير الداخلية العراقي عبد الأمير الشمري "
    "التقى المستشارين العسكريين الأميركيين، فيما هدد المتحدث باسم حركة عصائب أهل الحق جواد الطليباوي بالتصعيد."
)


def test_people_after_a_title_are_found_and_plurals_verbs_and_organisations_are_not():
    assert harvest_people(NEW) == ["تحسين الخفاجي", "عبد الأمير الشمري"]
    seed = (SEEDS / "004_a599bde84ebe1120.txt").read_text(encoding="utf-8")
    assert harvest_people(seed) == ["مصطفى الكاظمي", "يحيى رسول", "إسماعيل قاآني", "قاسم سليماني", "جو بايدن"]
    assert harvest_people("وقال المتحدث باسم الحكومة إن المفاوضات مستمرة") == []  # «إن» ends it: no name


def test_a_transliteration_is_kept_only_when_its_skeleton_matches():
    assert transliteration_fits("تحسين الخفاجي", "Tahseen al-Khafaji")
    assert transliteration_fits("يحيى رسول", "Yahya Rasool")
    assert not transliteration_fits("يحيى رسول", "General Rasool")  # a title is not the name
    assert not transliteration_fits("تحسين الخفاجي", "Tahsin")  # a word dropped
    assert not transliteration_fits("تحسين الخفاجي", "Hassan al-Khafaji")  # another name


class Speller:
    label = "scripted"

    def __init__(self, replies):
        self.replies = list(replies)

    def complete(self, messages, max_tokens=None, **options):
        return self.replies.pop(0)


def test_harvested_names_are_spelled_checked_marked_and_join_the_lexicon(tmp_path, settings):
    settings = settings.model_copy(update={"index_dir": tmp_path})
    assert update_harvest(tmp_path / HARVESTED, [NEW], load_lexicon()) == 2
    assert update_harvest(tmp_path / HARVESTED, [NEW], load_lexicon()) == 0  # known now: not added twice
    tr = Translator(
        Speller(["Tahseen al-Khafaji", "Abdul Karim"]),
        None,
        settings,
        lexicon_for(settings),
        TranslationCache(None),
    )
    spelled = {arabic: tr.transliterate(arabic) for arabic in ("تحسين الخفاجي", "عبد الأمير الشمري")}
    assert spelled["عبد الأمير الشمري"] == ("", "no fit: Abdul Karim")
    record_spellings(tmp_path / HARVESTED, spelled)
    rows = {r["arabic"]: r for r in read_harvest(tmp_path / HARVESTED)}
    assert rows["تحسين الخفاجي"]["how"] == "transliteration" and rows["عبد الأمير الشمري"]["english"] == ""
    lexicon = lexicon_for(settings)  # the file changed: a new lexicon, with the spelled name in it
    facts = [f for f in find_facts(NEW, dt.date(2024, 1, 1), lexicon) if f.kind == "person"]
    assert [(f.english, f.transliterated) for f in facts] == [("Tahseen al-Khafaji", True)]
    assert "Tahseen al-Khafaji (transliterated)" in key_facts(NEW, None, lexicon)
