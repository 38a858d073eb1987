"""`isnad` command line: ingest, search, ask, brief, the store's upkeep, and the evaluations (docs/cli.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rag.config import Settings
from rag.errors import IndexProblem
from rag.rendering.markdown import render_markdown
from rag.retrieval.hybrid import MODES
from rag.types import Filters


def iso_date(text: str) -> str:
    """A date filter as YYYY-MM-DD; anything else is refused, never silently ignored."""
    import datetime as dt

    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a date; write it as YYYY-MM-DD, e.g. 2024-01-31"
        ) from None


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "index_dir", None):
        overrides["index_dir"] = Path(args.index_dir)
    if getattr(args, "model", None):
        overrides["embedding_model"] = args.model
    return Settings(**overrides)


def remote(args: argparse.Namespace):
    """The server ``--server`` names, reached through its HTTP API (key: ``ISNAD_API_KEY``)."""
    from rag.interfaces.remote import Remote

    return Remote(args.server)


def open_isnad(args: argparse.Namespace, progress: bool = True):
    from rag.pipeline import Isnad

    return Isnad(settings_from(args), progress=progress and sys.stderr.isatty())


def cmd_ingest(args: argparse.Namespace) -> int:
    if args.server:  # each file uploaded, each URL fetched by the server
        failed, server = 0, remote(args)
        for item in args.paths:
            try:
                r = server.add(item)
                print(
                    f"{item}: added {len(r['added'])}, replaced {len(r['replaced'])}; {r['chunks']} new chunks"
                )
            except (RuntimeError, ValueError) as e:
                print(f"error: {e}", file=sys.stderr)
                failed += 1
        return 2 if failed else 0

    def waiting(message: str) -> None:
        print(f"isnad: {message}", file=sys.stderr, flush=True)

    summary = open_isnad(args, progress=True).ingest(
        args.paths, rebuild=args.rebuild, wait=not args.no_wait, on_wait=waiting
    )
    r = summary.report
    for note in summary.notes:
        print(f"note: {note}")
    print(
        f"added {len(r.added)}, replaced {len(r.replaced)}, unchanged {len(r.unchanged)} "
        f"documents; {r.n_chunks} new chunks" + (" (index rebuilt)" if summary.rebuilt else "")
    )
    for d in summary.duplicates:
        print(f"duplicate: {d}")
    for e in summary.errors:
        print(f"error: {e.source}: {e.reason}", file=sys.stderr)
    return 0 if not summary.errors else 2


def cmd_doctor(args: argparse.Namespace) -> int:
    for note in open_isnad(args, progress=False).doctor(compact=args.compact, accept_loss=args.accept_loss):
        print(note)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    if args.server:
        hits = remote(args).search(args.query, args.k, args.mode, args.outlet, args.date_from, args.date_to)
    else:
        filters = Filters(args.outlet, args.date_from, args.date_to)
        hits = [
            h.to_dict()
            for h in open_isnad(args, progress=False).search(args.query, args.k, args.mode, filters)
        ]
    if args.json:
        print(json.dumps(hits, ensure_ascii=False, indent=1))
        return 0
    if not hits:
        print("no results")
    for h in hits:
        legs = "  ".join(
            f"{leg} #{h[f'{leg}_rank']} ({h[f'{leg}_score']:.3f})"
            for leg in ("dense", "bm25")
            if h.get(f"{leg}_rank") and h.get(f"{leg}_score") is not None
        )
        print(
            f"[{h['rank']}] {h['score']:.4f}  {h['title'] or '(untitled)'}" + (f"   [{legs}]" if legs else "")
        )
        print(
            f"    {h['outlet'] or 'outlet unknown'} | {h['date'] or 'date unknown'} | "
            f"{h['source']} [{h['start']}:{h['end']}]"
        )
        print("    " + h["text"].replace("\n", " ")[:400])
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    print(open_isnad(args, progress=False).migrate())
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    stats = remote(args).info() if args.server else open_isnad(args, progress=False).stats()
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, indent=1))
        return 0
    for key in (
        "model_id",
        "model",
        "dim",
        "chunker",
        "documents",
        "chunks",
        "mean_chunk_tokens",
        "corpus_hash",
    ):
        if key in stats:
            print(f"{key}: {stats[key]}")
    for d in stats["per_document"]:
        print(
            f"- {d['doc_id']}  {d['chunks']:3d} chunks  {d['date'] or '----------'}  "
            f"{d['outlet'] or '?'}  {d['title']}"
        )
    return 0


def cmd_provision(args: argparse.Namespace) -> int:
    from rag.models.embedder import EMBEDDINGGEMMA, QWEN_CODER_GGUF, provision

    settings = settings_from(args)
    if settings.embedding_model == "embeddinggemma-300m":
        print(f"embedding model verified: {provision(EMBEDDINGGEMMA, settings.cache_dir)}")
    else:
        print(f"embedding model '{settings.embedding_model}' is loaded by sentence-transformers on first use")
    if args.generator:
        print(f"generator verified: {provision(QWEN_CODER_GGUF, settings.cache_dir)}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from rag.errors import QuestionError

    since = max(filter(None, (args.date_from, args.since)), default=None)  # --since is --date-from
    try:
        if args.server:
            answer = remote(args).ask(args.question, args.engine, args.outlet, since, args.date_to, args.mode)
        else:
            filters = Filters(args.outlet, since, args.date_to)
            app = open_isnad(args, progress=False)
            answer = app.ask(args.question, engine=args.engine, filters=filters, mode=args.mode).to_dict()
    except QuestionError as e:
        print(f"isnad: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(answer, ensure_ascii=False, indent=1))
        return 0
    from rag.translation.translator import KEY_FACTS_LABEL

    print(answer["answer"])
    for notice in answer["notices"]:
        print(f"\nnote: {notice}")
    if answer["sources"]:
        print("\nsources:")
    for s in answer["sources"]:
        print(
            f"[{s['n']}] {s['title'] or '(untitled)'} | {s['outlet'] or 'outlet unknown'} | "
            f"{s['date'] or 'date unknown'} | {s['source']} [{s['start']}:{s['end']}]"
        )
        print(f"    «{s['quote']}»")
        if s["translation"]:
            of = f" of «{s['translated']}»" if s.get("translated") else ""
            print(f"    machine translation{of}: {s['translation']}")
        elif s["facts"]:
            print(f"    {KEY_FACTS_LABEL['en']}: {s['facts']}")
        if s["translation_note"] and not s["translation"]:
            print(f"    ({s['translation_note']})")
    print(f"\nengine: {answer['engine']}; support {answer['support']:.3f}; {answer['latency_ms']:.0f} ms")
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    """Pre-translate the corpus's Arabic sentences into the index folder's cache."""
    app = open_isnad(args, progress=False)
    translator = app.translator()
    if translator.generator is not None and translator.withholds_all:
        print(
            f"nothing translated: translations by {translator.label} are not faithful often enough to be shown "
            "(docs/translation.md); set ISNAD_TRANSLATION_MIN_AGREEMENT to translate with it anyway"
        )
        return 0
    shown = withheld = 0
    for done, total, t in app.translate_corpus(args.article):
        shown += t.text is not None
        withheld += t.text is None
        print(
            f"\r{done}/{total} sentences: {shown} shown, {withheld} withheld",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(
        f"\ntranslated: {shown} shown, {withheld} withheld; cache: {app.settings.index_dir / 'translations.jsonl'}"
    )
    return 0


def cmd_brief(args: argparse.Namespace) -> int:
    from rag.errors import BriefingError

    try:
        if args.server:
            fields = ("article", "topic", "lang", "length", "engine", "since")
            got = remote(args).brief(
                **{("articles" if f == "article" else f): getattr(args, f) for f in fields}
            )
            markdown = got.pop("markdown")
        else:
            briefing = open_isnad(args, progress=False).brief(
                args.article, args.topic, args.lang, args.length, args.engine, since=args.since
            )
            got, markdown = briefing.to_dict(), render_markdown(briefing)
    except BriefingError as e:
        print(f"isnad: {e}", file=sys.stderr)
        return 2
    text = json.dumps(got, ensure_ascii=False, indent=1) if args.json else markdown
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"written: {args.out}")
    else:
        print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="isnad", description="Cited bilingual QA over news articles.")
    p.add_argument("--index-dir", help="index folder (default: $ISNAD_INDEX_DIR or data/index)")
    p.add_argument(
        "--server",
        default=os.environ.get("ISNAD_SERVER"),
        help="use a running Isnad server's index (ingest, ask, search, brief, info, delete; key: $ISNAD_API_KEY)",
    )
    p.add_argument(
        "--model", help="embedding model: embeddinggemma-300m or any sentence-transformers name/path"
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "ingest", help="add .txt/.md/.html files, folders or web page URLs (http://, https://) to the index"
    )
    s.add_argument("paths", nargs="+")
    s.add_argument(
        "--rebuild",
        action="store_true",
        help="re-embed every document the index knows plus PATHS (after a model or chunker change)",
    )
    s.add_argument("--no-wait", action="store_true", help="fail at once if another ingest is writing")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser(
        "doctor", help="check the index; rebuild a damaged one from what it can still read (deletes nothing)"
    )
    s.add_argument(
        "--compact",
        action="store_true",
        help="also reclaim deleted chunks the store still holds (rewrites its parts; holds the writer lock)",
    )
    s.add_argument(
        "--accept-loss",
        action="store_true",
        help="rebuild a damaged store even when some documents are not readable (they are listed first)",
    )
    s.set_defaults(func=cmd_doctor)

    s = sub.add_parser("search", help="ranked passages for a question")
    s.add_argument("query")
    s.add_argument("--k", type=int, default=5)
    s.add_argument("--mode", choices=MODES, default="hybrid")
    s.add_argument("--outlet")
    s.add_argument("--date-from", type=iso_date, help="YYYY-MM-DD, inclusive")
    s.add_argument("--date-to", type=iso_date, help="YYYY-MM-DD, inclusive")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("provision", help="download and verify the offline models")
    s.add_argument("--generator", action="store_true", help="also the local Qwen2.5 generator (1.1 GB)")
    s.set_defaults(func=cmd_provision)

    s = sub.add_parser("ask", help="a cited answer")
    s.add_argument("question")
    s.add_argument("--engine", choices=("extractive", "generative"), default="extractive")
    s.add_argument("--mode", choices=MODES, default=None)
    s.add_argument("--outlet")
    s.add_argument("--date-from", type=iso_date, help="YYYY-MM-DD, inclusive")
    s.add_argument("--date-to", type=iso_date, help="YYYY-MM-DD, inclusive")
    s.add_argument("--since", type=iso_date, help="only articles published on or after YYYY-MM-DD")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("brief", help="a cited briefing of articles or a topic, Arabic/English")
    s.add_argument("--article", action="append", help="document id or file name (repeatable); default: all")
    s.add_argument(
        "--since", type=iso_date, help="what is new: articles published or added on or after YYYY-MM-DD"
    )
    s.add_argument("--topic", help="a query: brief the passages about it across the articles")
    s.add_argument("--lang", choices=("ar", "en", "both"), default="both")
    s.add_argument("--length", choices=("short", "medium", "long"), default="medium")
    s.add_argument("--engine", choices=("extractive", "generative"), default="extractive")
    fmt = s.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true", help="Markdown (the default)")
    s.add_argument("--out", help="write to this file instead of standard output")
    s.set_defaults(func=cmd_brief)

    from rag.interfaces import cli_eval  # imports this module's helpers, so it is loaded here

    cli_eval.add_commands(sub)

    s = sub.add_parser(
        "translate", help="translate the corpus's Arabic sentences once, into the index's cache"
    )
    s.add_argument("--article", action="append", help="document id (repeatable); default: all")
    s.set_defaults(func=cmd_translate)

    from rag.interfaces import cli_corpus  # imports this module's helpers, so it is loaded here

    cli_corpus.add_commands(sub)

    s = sub.add_parser(
        "migrate", help="copy an older generation-folder index into ISNAD_STORE (no re-embedding)"
    )
    s.set_defaults(func=cmd_migrate)

    s = sub.add_parser("info", help="index statistics")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_info)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (IndexProblem, ValueError, RuntimeError, OSError) as e:
        print(f"isnad: {e}", file=sys.stderr)
        return 1
