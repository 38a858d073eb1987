"""Load test: concurrent users asking seed questions through gradio_client.

    python benchmarks/bench_app.py [--clients 20] [--questions 3] [--url http://127.0.0.1:7860/]

Without --url the app is started in-process on a copy of the index (built from seeds/
if none exists), extractive engine, exactly as `python app.py` serves it. Each client
is its own gradio_client session; a request counts as an error if it raises or if the
answer is a warning (⚠) instead of a cited answer or a "the articles do not say".
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
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gradio_client import Client  # noqa: E402

from rag.evaluation.metrics import percentile  # noqa: E402
from rag.interfaces.layout import EXTRACTIVE  # noqa: E402
from rag.interfaces.messages import message_text  # noqa: E402


def start_app() -> tuple[str, object]:
    from rag.config import Settings
    from rag.interfaces import app as isnad_app
    from rag.models.llm import free_port
    from rag.pipeline import Isnad

    base = Settings()
    tmp = Path(tempfile.mkdtemp(prefix="isnad-bench-"))
    if (base.index_dir / "CURRENT").exists():
        shutil.copytree(base.index_dir, tmp / "index")
    else:
        Isnad(base.model_copy(update={"index_dir": tmp / "index"})).ingest([ROOT / "seeds"])
    port = free_port()
    settings = base.model_copy(
        update={"index_dir": tmp / "index", "uploads_dir": tmp / "uploads", "port": port, "generator": "none"}
    )
    demo = isnad_app.launch(settings, wait=False)
    return f"http://127.0.0.1:{port}/", demo


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--questions", type=int, default=3, help="questions per client")
    p.add_argument("--url")
    args = p.parse_args()
    url, demo = (args.url, None) if args.url else start_app()
    rows = [
        json.loads(x)
        for x in (ROOT / "eval/data/seeds_qa.jsonl").read_text(encoding="utf-8").splitlines()
        if x
    ]
    questions = [r["question"] for r in rows]
    # warm-up, not timed
    Client(url, verbose=False).predict(
        "How many coalition troops remain in Iraq?", [], EXTRACTIVE, "", "", "", 8, "hybrid", api_name="/ask"
    )
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(args.clients)

    def user(i: int) -> None:
        client = Client(url, verbose=False)
        barrier.wait()  # everyone starts together
        for j in range(args.questions):
            q = questions[(i * args.questions + j) % len(questions)]
            t0 = time.perf_counter()
            try:
                history, _, _ = client.predict(q, [], EXTRACTIVE, "", "", "", 8, "hybrid", api_name="/ask")
                text = message_text(history[-1])
                problem = text.startswith("⚠")
            except Exception as e:  # noqa: BLE001 (counted, reported)
                problem, text = True, f"{type(e).__name__}: {e}"
            with lock:
                latencies.append(time.perf_counter() - t0)
                if problem:
                    errors.append(text[:200])

    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    n = len(latencies)
    print(
        f"clients: {args.clients}, requests: {n}, errors: {len(errors)}, wall: {wall:.1f} s, "
        f"throughput: {n / wall:.2f} req/s"
    )
    print(
        f"latency p50: {statistics.median(latencies):.2f} s, p95: {percentile(latencies, 0.95):.2f} s, "
        f"max: {max(latencies):.2f} s (queue wait included; {os.cpu_count()} cores)"
    )
    for e in errors[:5]:
        print(f"error: {e}")
    if demo is not None:
        demo.close()


if __name__ == "__main__":
    main()
