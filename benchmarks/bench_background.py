"""A reader's answer while the app pre-translates the corpus, beside the same answers idle.

    python benchmarks/bench_background.py [--questions 6] [--rounds 2]

On a copy of the seed index with an empty translation cache and the bundled generator, the same
Arabic questions are asked idle and then while the app's background pass (`pretranslate`, lowest
priority, waiting before each model call while a reader is served) translates the corpus; idle and
busy rounds alternate, so the machine's own noise falls on both. Prints wall-clock p50/p95 of each
and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.evaluation.metrics import percentile  # noqa: E402

QUESTIONS = [
    "متى اتفق العراق والولايات المتحدة على انسحاب القوات القتالية؟",
    "كم عدد الجنود الأمريكيين في العراق؟",
    "من هو يحيى رسول؟",
    "ما هي القواعد التي تعرضت للهجمات؟",
    "لماذا هددت الفصائل بشن هجمات؟",
    "متى بدأ انسحاب القوات الأميركية من العراق؟",
]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--questions", type=int, default=6)
    p.add_argument("--rounds", type=int, default=2, help="idle/busy rounds, alternating")
    args = p.parse_args()

    from rag.config import Settings
    from rag.interfaces.background import READERS, pretranslate
    from rag.pipeline import Isnad

    base = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="isnad-bench-bg-"))
    if (base.index_dir / "CURRENT").exists() or (base.index_dir / "store").exists():
        shutil.copytree(base.index_dir, tmp / "index", ignore=shutil.ignore_patterns("translations.jsonl"))
        settings = base.model_copy(update={"index_dir": tmp / "index", "generator": "local"})
    else:
        settings = base.model_copy(update={"index_dir": tmp / "index", "generator": "local"})
        Isnad(settings).ingest([ROOT / "seeds"])
    isnad = Isnad(settings)
    questions = (QUESTIONS * 3)[: args.questions]
    isnad.ask(questions[0])  # load the model and the index
    isnad.generator.wait_ready()

    cache = settings.index_dir / "translations.jsonl"

    def ask_all() -> list[float]:
        """Each question as a new one: its sentences embedded again, as for chunks never retrieved before."""
        out = []
        for q in questions:
            isnad.extractive()._sentence_vecs.clear()
            with READERS.serving():
                t0 = time.perf_counter()
                isnad.ask(q)
                out.append(time.perf_counter() - t0)
            time.sleep(0.5)  # a reader's pause between questions: the background pass may run
        return out

    idle, busy = [], []
    background = None
    for _ in range(args.rounds):
        idle += ask_all()
        if background is None or not background.is_alive():
            background = threading.Thread(target=pretranslate, args=(isnad,), daemon=True)
            background.start()
            deadline = time.monotonic() + 600
            while not (cache.exists() and cache.stat().st_size) and time.monotonic() < deadline:
                time.sleep(1)  # names spelled first; measured once sentences are being translated
        busy += ask_all()
        if not background.is_alive():
            print("note: the background pass ended during the busy round", file=sys.stderr)

    def stats(xs: list[float]) -> dict:
        return {"n": len(xs), "p50_s": round(statistics.median(xs), 2), "p95_s": round(percentile(xs, 95), 2)}

    report = {
        "idle": stats(idle),
        "while pre-translating": stats(busy),
        "ratio_p50": round(statistics.median(busy) / statistics.median(idle), 2),
        "translations_cached": sum(1 for _ in cache.open()) if cache.exists() else 0,
    }
    print(json.dumps(report, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)
    os._exit(0)  # the embedded generator's threads do not end on their own


if __name__ == "__main__":
    main()
