"""`isnad eval …`: retrieval, answers, confidence fitting, translation, coverage and briefing evaluations."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.interfaces.cli import open_isnad, settings_from
from rag.retrieval.hybrid import MODES


def _csv(text: str, cast=str) -> list:
    return [cast(x.strip()) for x in text.split(",") if x.strip()]


def cmd_eval_retrieval(args: argparse.Namespace) -> int:
    from rag.evaluation.datasets import load_seed_set, load_squad
    from rag.evaluation.retrieval import evaluate_retrieval, table, write_report

    modes = _csv(args.modes)
    if bad := [m for m in modes if m.partition(":")[0] not in MODES]:
        raise ValueError(f"unknown mode(s) {bad}; use {', '.join(MODES)}")
    ks = sorted(set(_csv(args.k, int)))
    if args.dataset == "seeds":
        dataset = load_seed_set()
    else:
        dataset = load_squad(
            Path(args.dataset), Path(args.questions_from) if args.questions_from else None, limit=args.limit
        )
    for run in evaluate_retrieval(
        dataset, settings_from(args), modes, ks, progress=sys.stderr.isatty(), stores=tuple(_csv(args.stores))
    ):
        print(
            f"\n{run.dataset} on {run.store}: {run.n_docs} documents, {run.n_chunks} chunks, "
            f"{len(run.per_question)} questions, model {run.model_id}"
        )
        print(table(run))
        paths = write_report(run, Path(args.out))
        print("\n".join(f"{kind}: {p}" for kind, p in paths.items()))
    return 0


def load_for_compare(args: argparse.Namespace):
    """The question set a comparison runs on, over its own corpus or the one named by --corpus."""
    from rag.evaluation.datasets import load_squad, subset
    from rag.evaluation.questionsets import detect_format, load_question_set

    path = Path(args.dataset)
    fmt = args.format or detect_format(path)
    if fmt == "squad" and args.questions_from:
        dataset = load_squad(path, Path(args.questions_from))
    else:
        corpus = None
        if fmt in ("csv", "jsonl"):
            if args.corpus:
                from rag.ingest.files import ingest_paths

                corpus = ingest_paths([Path(args.corpus)]).documents
            else:
                corpus = list(open_isnad(args).searcher.documents().values())
        dataset = load_question_set(path, corpus, fmt, args.split)
    return subset(dataset, args.articles, args.limit, args.seed)


def cmd_eval_compare(args: argparse.Namespace) -> int:
    from rag.evaluation.compare import compare, grid, load_grid
    from rag.evaluation.report import markdown, verdicts, write_comparison

    settings = settings_from(args)
    baseline = args.baseline
    if args.config:
        configs, named = load_grid(Path(args.config), settings)
        baseline = baseline or named
    else:
        configs = grid(
            settings,
            _csv(args.models) if args.models else None,
            _csv(args.chunk_tokens, int) if args.chunk_tokens else None,
            _csv(args.overlaps, int) if args.overlaps else None,
            _csv(args.modes) if args.modes else None,
            _csv(args.bm25_weights, float) if args.bm25_weights else None,
            _csv(args.k, int) if args.k else None,
            _csv(args.stores) if args.stores else None,
        )
    dataset = load_for_compare(args)
    print(
        f"{dataset.name}: {len(dataset.questions)} questions, {len(dataset.documents)} documents, "
        f"{len(configs)} configurations",
        file=sys.stderr,
    )

    def shown(done: int, total: int, what: str) -> None:
        print(f"  {done}/{total} {what}", file=sys.stderr)

    comp = compare(
        dataset,
        configs,
        settings,
        None if args.no_cache else Path(args.cache or settings.cache_dir / "eval"),
        baseline,
        shown,
        progress=sys.stderr.isatty(),
    )
    print(markdown(comp))
    print("\n".join(verdicts(comp)))
    for label, t in comp.timings.items():
        print(
            f"time: {label}: index {t['index_s']} s{' (cached)' if t['index_cached'] else ''}, "
            f"{comp.n_questions} questions {t['search_s']} s"
        )
    paths = write_comparison(comp, Path(args.out))
    print("\n".join(f"{kind}: {p}" for kind, p in paths.items()))
    return 0


def cmd_eval_starter(args: argparse.Namespace) -> int:
    from rag.evaluation.starter import reader_of, starter_set
    from rag.pipeline import Isnad

    if args.corpus:
        from rag.ingest.files import ingest_paths

        docs = ingest_paths([Path(args.corpus)]).documents
        app = Isnad.in_memory(docs, settings_from(args), progress=sys.stderr.isatty())
    else:
        app = open_isnad(args)
        docs = list(app.searcher.documents().values())
    generator = None
    if args.generator:
        generator = app.generator
        if generator is None:
            raise ValueError("no generator is configured (ISNAD_GENERATOR=local or ISNAD_LLM_BASE_URL)")
    result = starter_set(docs, app.searcher, args.n, args.k, args.seed, generator, reader_of(app))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result.jsonl(), encoding="utf-8")
    print(result.summary())
    print(f"jsonl: {out}")
    return 0


def cmd_eval_answers(args: argparse.Namespace) -> int:
    from rag.evaluation.answers import calibrate, evaluate_answers, support_points
    from rag.evaluation.datasets import load_seed_set
    from rag.pipeline import Isnad

    if args.dataset != "seeds":
        return _eval_answers_external(args)
    dataset = load_seed_set()
    app = Isnad.in_memory(dataset.documents, settings_from(args), progress=sys.stderr.isatty())
    if args.calibrate:
        cal = calibrate(support_points(app.extractive(), dataset))
        print(
            f"abstain_below (same language): {cal.same_language}\nabstain_below_cross: {cal.cross_language}"
        )
        print(f"2-fold cross-validated: {cal.cv}")
        return 0
    engine = app.engine(args.engine)
    report = evaluate_answers(lambda q: engine.answer(q), dataset, engine.name)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"answers-{args.engine}.json"
    path.write_text(json.dumps(report.__dict__, ensure_ascii=False, indent=1), encoding="utf-8")
    # fmt: off
    for key in (
        "engine", "n", "accuracy", "citation_precision", "abstention_precision", "unanswerable_accuracy",
        "latency_p50_ms", "latency_p95_ms", "engines", "per_language",
    ):
        print(f"{key}: {getattr(report, key)}")
    # fmt: on
    print(f"json: {path}")
    return 0


def _eval_answers_external(args: argparse.Namespace) -> int:
    """Short-answer EM/F1 and constructed abstention on a SQuAD-format file (Markdown and JSON reports)."""
    from rag.evaluation.answers import evaluate_external, external_markdown
    from rag.evaluation.datasets import load_squad, subset
    from rag.pipeline import Isnad

    dataset = load_squad(Path(args.dataset), Path(args.questions_from) if args.questions_from else None)
    dataset = subset(dataset, args.articles, args.limit, args.seed)
    app = Isnad.in_memory(dataset.documents, settings_from(args), progress=sys.stderr.isatty())
    engine = app.engine(args.engine)
    result = evaluate_external(engine, dataset, progress=sys.stderr.isatty())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"answers-{args.engine}-{dataset.name.replace('/', '_').replace('>', '')}"
    (out / f"{stem}.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / f"{stem}.md").write_text(external_markdown(result) + "\n", encoding="utf-8")
    print(external_markdown(result))
    print(f"json: {out / (stem + '.json')}")
    return 0


def cmd_fit_confidence(args: argparse.Namespace) -> int:
    """Fit the short answers' confidence model on the short answers found in `eval answers` reports."""
    from rag.answers.confidence import DATA, fit, load_model
    from rag.evaluation.answers import RIGHT_F1, gated, rescored, short_precision

    rows, names = [], []
    for path in args.reports:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        names.append(report["dataset"])
        rows += [
            {"evidence": r["evidence"], "right": r["answerable"] and r["short_F1"] >= RIGHT_F1}
            for r in rescored(report["rows"])
            if r.get("short_found") and r.get("evidence")
        ]
    if len(rows) < 50:
        print(
            f"isnad: only {len(rows)} short answers with evidence in those reports; fitting needs at least 50",
            file=sys.stderr,
        )
        return 2
    model = fit(rows, args.precision, args.margin, names)
    out = Path(args.out) if args.out else DATA
    model.save(out)
    load_model.cache_clear()
    shown = [r for r in rows if model.probability_of(r["evidence"]) >= model.threshold]
    print(
        f"fitted on {len(rows)} short answers ({sum(r['right'] for r in rows)} right) from {', '.join(names)}"
    )
    print(
        f"threshold {model.threshold:.4f}: {len(shown)} shown, precision "
        f"{sum(r['right'] for r in shown) / max(1, len(shown)):.3f} on the fitted rows; written to {out}"
    )
    if args.held_out:
        print(
            "\n| held-out set | short answers | shown | precision (F1>=0.5) | 95% CI | precision (EM) | coverage |"
        )
        print("|---|---|---|---|---|---|---|")
        for path in args.held_out:
            report = json.loads(Path(path).read_text(encoding="utf-8"))
            scored = rescored(report["rows"])
            found = [dict(r, short=bool(r.get("short_found"))) for r in scored]
            runs = [("every one shown", found)]
            if any(r.get("evidence") for r in scored):  # a report of this version: the line applies
                runs.append(("confidence line", gated(scored, model)))
            for label, rows in runs:
                p = short_precision(rows)
                ci = "–".join(map(str, p["precision_f1_ci"])) if p["precision_f1_ci"] else "—"
                print(
                    f"| {report['dataset']} | {label} | {p['shown']} | {p['precision_f1']} | {ci} | "
                    f"{p['precision_em']} | {p['coverage']} |"
                )
    return 0


def cmd_eval_translation(args: argparse.Namespace) -> int:
    """The meaning check's catch rate on wrong pairs, and chrF++ of the old and the fact-locked pipeline."""
    import random

    from rag.evaluation.translation import check_catch, load_parallel, translation_quality, unlocked

    settings = settings_from(args)
    paragraphs = load_parallel(Path(args.ar), Path(args.en))
    app = open_isnad(args, progress=False)
    report = (
        {}
        if args.sentences or args.rows
        else {"check": check_catch(paragraphs, app.embedder, settings.translation_min_similarity)}
    )
    if args.paragraphs:
        sample = random.Random(args.seed).sample([p for p in paragraphs if p.aligned], args.paragraphs)
        translator = app.translator()
        if translator.generator is None:
            raise ValueError("chrF++ needs a generator: set ISNAD_GENERATOR=local, or ISNAD_LLM_BASE_URL")
        report["previous pipeline"] = translation_quality(sample, unlocked(translator))
        report["fact-locked"] = translation_quality(sample, lambda s: translator.translate(s, "en").text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.sentences or args.rows:
        report["faithfulness"] = _faithfulness(args, app, paragraphs, out / "translation-rows.jsonl")
    (out / "translation.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


def _faithfulness(args: argparse.Namespace, app, paragraphs, rows_path: Path) -> dict:
    """The configured translator on sampled XQuAD-R sentences: the agreement and similarity floors fitted
    on even paragraphs, the share shown and the share of what is shown judged faithful (against the human
    English) reported on odd ones. ``--rows`` re-judges a saved run without translating again."""
    from rag.evaluation.translation import (
        faithfulness_rows,
        fit_floors,
        gated,
        sampled_sentences,
        shown_precision,
    )
    from rag.translation.translator import TranslationCache, Translator

    base = app.translator()
    if args.rows:
        saved = [
            json.loads(line) for line in Path(args.rows).read_text(encoding="utf-8").splitlines() if line
        ]
        rows = {half: [r for r in saved if r["half"] == half] for half in ("even", "odd")}
    else:
        if base.generator is None:
            raise ValueError(
                "a faithfulness run needs a generator: set ISNAD_GENERATOR=local, or ISNAD_LLM_BASE_URL"
            )
        rows_path.write_text("", encoding="utf-8")

        def keep(row: dict) -> None:
            with rows_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

        # drafted and checked with no agreement floor and only the settings' similarity floor: the floors
        # in force (fitted for this model, or set) are what the rows are fitted and judged against
        drafting = app.settings.model_copy(update={"translation_min_agreement": 0.0})
        translator = Translator(base.generator, app.embedder, drafting, base.lexicon, TranslationCache(None))
        rows = {
            half: faithfulness_rows(
                sampled_sentences(paragraphs, parity, args.sentences, args.seed),
                translator,
                app.embedder,
                lambda r, h=half: keep({**r, "half": h}),
            )
            for half, parity in (("even", 0), ("odd", 1))
        }
    fitted = fit_floors(rows["even"])
    configured = base.floors()
    unfloored = (0.0, app.settings.translation_min_similarity)
    return {
        "drafts": app.settings.translation_drafts,
        "fitted_on_even": {"agreement": fitted[0], "similarity": fitted[1]},
        "held_out_odd": {
            "similarity floor only (no agreement floor)": shown_precision(rows["odd"], gated(unfloored)),
            f"fitted floors {fitted}": shown_precision(rows["odd"], gated(fitted)),
            f"configured floors {configured}": shown_precision(rows["odd"], gated(configured)),
        },
        "fitting_even": {
            "similarity floor only": shown_precision(rows["even"], gated(unfloored)),
            f"fitted floors {fitted}": shown_precision(rows["even"], gated(fitted)),
        },
    }


def cmd_eval_coverage(args: argparse.Namespace) -> int:
    """The similarity floor under which a topic briefing says the articles do not cover the topic."""
    from rag.evaluation.coverage import evaluate_coverage

    report = evaluate_coverage(open_isnad(args, progress=False).embedder, Path(args.evaldata))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "coverage.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


def cmd_eval_briefing(args: argparse.Namespace) -> int:
    from rag.evaluation.briefing import evaluate_briefings
    from rag.evaluation.datasets import load_seed_set
    from rag.pipeline import Isnad

    app = Isnad.in_memory(load_seed_set().documents, settings_from(args), progress=sys.stderr.isatty())
    report = evaluate_briefings(app, args.length, args.engine)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"briefing-{args.engine}-{args.length}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    for row in report["articles"]:
        print(
            f"{row['file']}: coverage {row['covered']}/{row['facts']} = {row['coverage']:.2f}; "
            f"duplicates {row['duplicates']}; missing: {'; '.join(row['missing']) or '-'}"
        )
    t = report["topic"]
    print(
        f"topic '{t['topic']}': coverage {t['covered']}/{t['facts']} = {t['coverage']:.2f}; "
        f"duplicates {t['duplicates']}; "
        f"lines stating the 3,000/2,500 troop figure: {t['troop_figure_lines']}"
    )
    print(
        f"mean coverage {report['mean_coverage']:.3f}; total duplicates {report['total_duplicates']}; "
        f"timeline in order: {report['timeline_in_order']}"
    )
    print(f"json: {path}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """The `eval` command and its subcommands."""
    ev = sub.add_parser("eval", help="evaluations").add_subparsers(dest="what", required=True)
    s = ev.add_parser(
        "answers", help="answer accuracy, citation precision, abstention, latency on the seed set"
    )
    s.add_argument("--engine", choices=("extractive", "generative"), default="extractive")
    s.add_argument(
        "--calibrate", action="store_true", help="fit the abstention thresholds (with 2-fold CV figures)"
    )
    s.add_argument(
        "--dataset", default="seeds", help="'seeds' or a SQuAD v1.1 file: short-answer EM/F1 and abstention"
    )
    s.add_argument(
        "--questions-from", help="parallel SQuAD file whose questions (matched by id) are asked instead"
    )
    s.add_argument("--limit", type=int, help="a fixed random sample of this many questions")
    s.add_argument("--seed", type=int, default=13, help="seed of that sample")
    s.add_argument(
        "--articles",
        choices=("all", "even", "odd"),
        default="all",
        help="only questions of even or odd articles (fit on one half, report on the other)",
    )
    s.add_argument("--out", default="eval/reports")
    s.set_defaults(func=cmd_eval_answers)
    s = ev.add_parser(
        "fit-confidence", help="fit the short answers' confidence on `eval answers` JSON reports"
    )
    s.add_argument("reports", nargs="+", help="answers-*.json reports of the fitting split")
    s.add_argument(
        "--precision", type=float, default=0.85, help="precision the shown short answers must keep"
    )
    s.add_argument("--margin", type=float, default=0.03, help="added to it on the fitted rows")
    s.add_argument(
        "--out", default=None, help="where to write the model (default: rag/data/short_confidence.json)"
    )
    s.add_argument(
        "--held-out",
        nargs="*",
        default=[],
        help="reports of the other split: their short answers' precision with every one shown, and gated",
    )
    s.set_defaults(func=cmd_fit_confidence)
    s = ev.add_parser("briefing", help="key-fact coverage, duplicate facts and timeline order on the seeds")
    s.add_argument("--engine", choices=("extractive", "generative"), default="extractive")
    s.add_argument("--length", choices=("short", "medium", "long"), default="medium")
    s.add_argument("--out", default="eval/reports")
    s.set_defaults(func=cmd_eval_briefing)
    s = ev.add_parser("retrieval", help="Recall@k, MRR@10, nDCG@10 per language and mode")
    s.add_argument("--dataset", default="seeds", help="'seeds' or a SQuAD v1.1 JSON file")
    s.add_argument(
        "--questions-from", help="parallel SQuAD file whose questions (matched by id) are asked instead"
    )
    s.add_argument(
        "--modes", default="bm25,dense,hybrid", help="hybrid:W sets the BM25 weight, e.g. hybrid:0.25"
    )
    s.add_argument("--k", default="1,5,10")
    s.add_argument("--limit", type=int, help="at most this many questions")
    s.add_argument("--out", default="eval/reports", help="folder for the JSON, Markdown and PNG report")
    s.add_argument(
        "--stores",
        default="folders",
        help="engines compared on the same vectors: folders (in memory), "
        "sqlite, postgresql://… (an empty database), comma-separated",
    )
    s.set_defaults(func=cmd_eval_retrieval)

    s = ev.add_parser(
        "compare",
        help="configurations compared on one question set: intervals, paired tests, HTML report",
        description="Each comma-separated list is one axis of the grid (or give --config grid.toml); the "
        "first configuration is the baseline unless --baseline names another.",
    )
    s.add_argument(
        "--dataset", required=True, help="a CSV, JSONL, SQuAD .json file, a BEIR folder, or 'seeds'"
    )
    s.add_argument(
        "--format", choices=("csv", "jsonl", "beir", "squad", "seeds"), help="when the name does not say"
    )
    s.add_argument(
        "--corpus", help="folder of articles a CSV/JSONL set is scored on (default: the indexed corpus)"
    )
    s.add_argument("--split", default="test", help="BEIR qrels split (qrels/SPLIT.tsv)")
    s.add_argument("--questions-from", help="SQuAD: a parallel file whose questions are asked instead")
    s.add_argument("--models", help="embedding models")
    s.add_argument("--chunk-tokens", help="chunk sizes in tokens, e.g. 128,256,512")
    s.add_argument("--overlaps", help="sentences shared by neighbouring chunks, e.g. 0,1")
    s.add_argument("--modes", help="hybrid, dense, bm25")
    s.add_argument("--bm25-weights", help="BM25 weights of hybrid fusion, e.g. 0.25,0.5,1")
    s.add_argument("--k", help="chunks read for evidence and answer recall, e.g. 5,10")
    s.add_argument("--stores", help="folders (in memory), sqlite, postgresql://… (an empty database)")
    s.add_argument("--config", help="a TOML grid instead of the lists above ([grid] and/or [[config]])")
    s.add_argument("--baseline", help="the label or name of the baseline configuration")
    s.add_argument(
        "--articles", choices=("all", "even", "odd"), default="all", help="SQuAD: only even or odd articles"
    )
    s.add_argument("--limit", type=int, help="a fixed random sample of this many questions")
    s.add_argument("--seed", type=int, default=13, help="seed of that sample")
    s.add_argument("--cache", help="folder of cached indexes and query vectors (default: CACHE_DIR/eval)")
    s.add_argument("--no-cache", action="store_true", help="build every index in memory, keep nothing")
    s.add_argument(
        "--out", default="eval/reports/compare", help="folder for the JSON, Markdown, HTML and PNG"
    )
    s.set_defaults(func=cmd_eval_compare)

    s = ev.add_parser(
        "starter",
        help="a starter question set written from the corpus, each question checked by a round trip",
    )
    s.add_argument("--out", default="eval/starter.jsonl", help="the JSONL question set to write")
    s.add_argument("--corpus", help="a folder of articles (default: the indexed corpus)")
    s.add_argument("--n", type=int, default=50, help="questions to keep")
    s.add_argument(
        "--k", type=int, default=5, help="a question must retrieve its sentence in this many chunks"
    )
    s.add_argument("--seed", type=int, default=13, help="seed of the sentence sample")
    s.add_argument(
        "--generator", action="store_true", help="let the configured generator write the questions (slower)"
    )
    s.set_defaults(func=cmd_eval_starter)

    s = ev.add_parser("translation", help="chrF++ on XQuAD ar→en, facts kept, and the check's catch rate")
    s.add_argument("--ar", default="../shared/evaldata/xquad-r/ar.json")
    s.add_argument("--en", default="../shared/evaldata/xquad-r/en.json")
    s.add_argument(
        "--paragraphs", type=int, default=0, help="translate this many sampled paragraphs (needs a generator)"
    )
    s.add_argument(
        "--sentences",
        type=int,
        default=0,
        help="faithfulness of shown translations: this many sampled sentences from even and from odd "
        "paragraphs, translated as configured (needs a generator)",
    )
    s.add_argument("--rows", help="re-judge the rows of an earlier --sentences run (translation-rows.jsonl)")
    s.add_argument("--seed", type=int, default=13)
    s.add_argument("--out", default="eval/reports")
    s.set_defaults(func=cmd_eval_translation)

    s = ev.add_parser(
        "coverage", help="the topic-coverage floor, fitted on ARCD-train / even XQuAD, reported on the rest"
    )
    s.add_argument("--evaldata", default="../shared/evaldata")
    s.add_argument("--out", default="eval/reports")
    s.set_defaults(func=cmd_eval_coverage)
