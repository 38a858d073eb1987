"""The HTTP API under load, beside the Gradio path, in one run on one server:

    python benchmarks/bench_api.py [--clients 1,8,32] [--questions 2] [--url http://127.0.0.1:7860/]

For each number of concurrent clients, every client asks ``--questions`` seed questions through
``POST /api/v1/ask`` (httpx), then the same through the app's Gradio ``/ask`` (gradio_client); p50 and
p95 latency, throughput and errors are printed side by side, after one untimed pass over the
questions (the engines cache sentence and query vectors). Without --url the app is started
in-process on a copy of the index (as bench_app.py does), extractive engine, no API key (loopback).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from gradio_client import Client  # noqa: E402

from benchmarks.bench_app import start_app  # noqa: E402
from rag.evaluation.metrics import percentile  # noqa: E402
from rag.interfaces.layout import EXTRACTIVE  # noqa: E402
from rag.interfaces.messages import message_text  # noqa: E402


def run(clients: int, questions: list[str], per_client: int, ask) -> tuple[list[float], int, float]:
    """(latencies, errors, wall seconds) of ``clients`` threads each asking ``per_client`` questions."""
    latencies, errors, lock = [], 0, threading.Lock()
    barrier = threading.Barrier(clients)

    def user(i: int) -> None:
        nonlocal errors
        session = ask()
        barrier.wait()
        for j in range(per_client):
            q = questions[(i * per_client + j) % len(questions)]
            t0 = time.perf_counter()
            try:
                ok = session(q)
            except Exception:  # noqa: BLE001 (counted)
                ok = False
            with lock:
                latencies.append(time.perf_counter() - t0)
                errors += not ok

    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--clients", default="1,8,32")
    p.add_argument("--questions", type=int, default=2, help="questions per client")
    p.add_argument("--url")
    args = p.parse_args()
    url, demo = (args.url, None) if args.url else start_app()
    url = url.rstrip("/")
    rows = [
        json.loads(x)
        for x in (ROOT / "eval/data/seeds_qa.jsonl").read_text(encoding="utf-8").splitlines()
        if x
    ]
    questions = [r["question"] for r in rows]

    def api():
        client = httpx.Client(timeout=600)
        return lambda q: client.post(f"{url}/api/v1/ask", json={"question": q}).status_code == 200

    def gradio():
        client = Client(url + "/", verbose=False)

        def ask(q: str) -> bool:
            history, _, _ = client.predict(q, [], EXTRACTIVE, "", "", "", 8, "hybrid", api_name="/ask")
            return not message_text(history[-1]).startswith("⚠")

        return ask

    warm = api()
    for q in questions:  # every question once, not timed: both paths then meet the same warm caches
        warm(q)
    print(f"{os.cpu_count()} cores; {args.questions} question(s) per client; latency includes queue wait")
    print("| clients | path | requests | errors | p50 s | p95 s | req/s |")
    print("|---|---|---|---|---|---|---|")
    for clients in map(int, args.clients.split(",")):
        for name, session in (("/api/v1/ask", api), ("Gradio /ask", gradio)):
            lat, errors, wall = run(clients, questions, args.questions, session)
            print(
                f"| {clients} | {name} | {len(lat)} | {errors} | {statistics.median(lat):.2f} | "
                f"{percentile(lat, 0.95):.2f} | {len(lat) / wall:.2f} |",
                flush=True,
            )
    if demo is not None:
        demo.close()


if __name__ == "__main__":
    main()
