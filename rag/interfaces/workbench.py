"""The app's evaluation workbench: the Evaluate tab (a question set, presets compared, failures opened) and
the Retrieval test tab (one query, every chunk's BM25, dense and fused rank and score)."""

from __future__ import annotations

import datetime as dt
import html
import io
import tempfile
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import gradio as gr

from rag.errors import IndexProblem, IngestFileError, QuestionSetError
from rag.evaluation.compare import Cancelled, Comparison, Config, compare
from rag.evaluation.questionsets import detect_format, load_question_set
from rag.evaluation.report import HEADLINE, hits_html, question_html, verdicts, write_comparison
from rag.ingest.uploads import received
from rag.interfaces.background import Job, Stopped, for_readers, new_download_folder
from rag.retrieval.hybrid import MODES
from rag.text.escape import md_escape
from rag.types import Filters

if TYPE_CHECKING:
    from rag.interfaces.app import IsnadApp

# (English label, Arabic label, what it changes from the operator's settings)
PRESETS: list[tuple[str, str, dict]] = [
    ("Hybrid (as configured)", "هجين (كما هو مضبوط)", {}),
    ("Dense only", "الكثيف فقط", {"mode": "dense"}),
    ("BM25 only", "BM25 فقط", {"mode": "bm25"}),
    ("Hybrid, BM25 weight 1", "هجين، وزن BM25 ‏1", {"bm25_weight": 1.0}),
    ("Hybrid, BM25 weight 0.25", "هجين، وزن BM25 ‏0.25", {"bm25_weight": 0.25}),
    ("Chunks of 128 tokens", "مقاطع من 128 رمزًا", {"chunk_tokens": 128}),
    ("Chunks of 512 tokens", "مقاطع من 512 رمزًا", {"chunk_tokens": 512}),
]
PRESET_NAMES = [p[0] for p in PRESETS]
OWN, INDEXED = "The question set's own documents", "The indexed corpus"
INTRO = (
    "Upload your questions (CSV or JSONL with question, answer, source or evidence; SQuAD .json; a BEIR "
    "folder as .zip), pick configurations, and compare them on the same questions. The first one checked "
    "is the baseline; differences carry a paired test.",
    "ارفع أسئلتك (CSV أو JSONL فيها السؤال والإجابة أو المصدر أو الدليل؛ أو SQuAD ‏.json؛ أو مجلد "
    "BEIR مضغوطًا ‎.zip)، واختر الإعدادات، وقارن بينها على الأسئلة نفسها. أول إعداد مختار هو الأساس، "
    "والفروق مصحوبة باختبار مزدوج.",
)
CORPUS_LABEL = (
    "Documents (CSV and JSONL use the indexed corpus; a SQuAD set asked of it is scored by its answers)",
    "المستندات (تستخدم CSV وJSONL المقالات المفهرسة؛ ومجموعة SQuAD المطروحة عليها تُقيَّم بإجاباتها)",
)
QUESTION_FILES = [".csv", ".tsv", ".jsonl", ".json", ".zip"]
MAX_QUESTIONS = 2000


def preset_configs(settings, names: list[str]) -> list[Config]:
    """The chosen presets, in the order the list shows them; the first is the baseline."""
    base = {
        "embedding_model": settings.embedding_model,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap_sentences,
        "mode": settings.retrieval_mode,
        "bm25_weight": settings.bm25_weight,
        "k": settings.top_k,
    }
    return [Config(**{**base, **change, "name": name}) for name, _, change in PRESETS if name in names]


def unpacked(data: bytes, name: str, folder: Path) -> Path:
    """The uploaded question set written into ``folder``; a .zip holds a BEIR folder (corpus.jsonl,
    queries.jsonl, qrels/*.tsv), and only those names are taken from it."""
    if not name.lower().endswith(".zip"):
        path = folder / Path(name).name
        path.write_bytes(data)
        return path
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise QuestionSetError(f"{name} is not a readable .zip file") from None
    root = folder / "beir"
    (root / "qrels").mkdir(parents=True)
    for info in archive.infolist():
        parts = PurePosixPath(info.filename).parts
        if info.is_dir() or not parts:
            continue
        if parts[-1] in ("corpus.jsonl", "queries.jsonl"):
            (root / parts[-1]).write_bytes(archive.read(info))
        elif len(parts) >= 2 and parts[-2] == "qrels" and parts[-1].endswith(".tsv"):
            (root / "qrels" / parts[-1]).write_bytes(archive.read(info))
    return root


class Workbench:
    """Handlers of the two tabs; each returns messages, never tracebacks."""

    def __init__(self, app: IsnadApp):
        self.app = app

    @property
    def settings(self):
        return self.app.settings

    def _dataset(self, file: str, corpus_choice: str, limit: int, folder: Path):
        name = Path(str(file)).name
        path = unpacked(received(file, self.app.upload_root), name, folder)
        fmt = detect_format(path)
        corpus = None
        if fmt in ("csv", "jsonl") or corpus_choice == INDEXED:
            corpus = list(self.app.isnad.searcher.documents().values())
            if not corpus:
                raise QuestionSetError(
                    "the corpus is empty: add articles first, or upload a SQuAD or BEIR set"
                )
        data = load_question_set(path, corpus, fmt)
        if corpus is not None and fmt in ("squad", "beir"):
            # Asked of the indexed corpus, the set's own documents are not there: only its answers score.
            data.documents = corpus
            data.questions = [q for q in data.questions if q.answers]
            for q in data.questions:
                q.gold, q.evidence = set(), []
            if not data.questions:
                raise QuestionSetError(
                    f"{name}: asked of the indexed corpus, a question is scored by its answer, and none has one"
                )
        data.questions = data.questions[: int(limit or MAX_QUESTIONS)]
        return data

    @for_readers
    def evaluate(self, file: str | None, corpus_choice: str, presets: list[str], limit: int):
        """Stream the comparison's progress, then the table, the plot, the verdicts and the failure list."""
        empty = (
            gr.update(),
            gr.update(),
            gr.update(),
            gr.update(choices=[], value=None),
            "",
            gr.update(),
            None,
        )
        if not file:
            yield ("Upload a question set first (CSV, JSONL, SQuAD .json, or a BEIR folder as .zip).", *empty)
            return
        configs = preset_configs(self.settings, presets or [])
        if not configs:
            yield ("Choose at least one configuration.", *empty)
            return
        with tempfile.TemporaryDirectory() as tmp:
            try:
                data = self._dataset(file, corpus_choice, limit, Path(tmp))
            except (QuestionSetError, IngestFileError, IndexProblem) as e:
                yield (f"The question set cannot be used: {md_escape(str(e))}", *empty)
                return
            cache = self.settings.cache_dir / "eval"

            def work(progress):
                return compare(
                    data, configs, self.settings, cache, on_progress=lambda d, t, _: progress(d, t)
                )

            job = Job(work, unit="question runs")
            intro = f"{len(data.questions)} questions, {len(data.documents)} documents, {len(configs)} configurations"
            try:
                while job.running():
                    yield (f"{intro}: {job.status()}", *empty)
            finally:  # Stop closes this generator: the comparison stops at its next progress report
                job.cancel()
            if isinstance(job.error, (Stopped, Cancelled)):
                yield ("Stopped; nothing was kept.", *empty)
                return
            if job.error is not None:
                yield (f"The comparison failed: {md_escape(str(job.error))}", *empty)
                return
            comp: Comparison = job.result
            paths = write_comparison(comp, new_download_folder())
            failed = comp.failures()
            choices = [(q["question"][:120], q["id"]) for q in failed]
            yield (
                f"{intro}: done. Baseline: {md_escape(comp.baseline)}.",
                self.table(comp),
                str(paths["png"]),
                "\n".join(f"- {md_escape(v)}" for v in verdicts(comp)),
                gr.update(choices=choices, value=choices[0][1] if choices else None),
                self.failure(choices[0][1], comp) if choices else "<p>The baseline misses no question.</p>",
                str(paths["html"]),
                comp,
            )

    @for_readers
    def starter(self, n: int, use_generator: bool):
        """Write a starter question set from the indexed corpus; it becomes the question set to compare on."""
        from rag.evaluation.starter import reader_of, starter_set

        docs = list(self.app.docs().values())
        if not docs:
            yield "The corpus is empty: add articles first.", gr.update(), gr.update()
            return
        generator = self.app.isnad.generator if use_generator else None
        if use_generator and generator is None:
            yield "No generator is configured here; the typed questions need none.", gr.update(), gr.update()
            return
        yield f"Writing up to {int(n)} questions from {len(docs)} articles…", gr.update(), gr.update()
        result = starter_set(
            docs, self.app.isnad.searcher, int(n), generator=generator, reader=reader_of(self.app.isnad)
        )
        folder = self.app.upload_root / "isnad-starter"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"starter-{uuid.uuid4().hex[:8]}.jsonl"
        path.write_text(result.jsonl(), encoding="utf-8")
        yield md_escape(result.summary()), gr.update(value=str(path), visible=True), str(path)

    def stop(self) -> str:
        return "Stopped; nothing was kept."

    def table(self, comp: Comparison) -> list[list]:
        lang = comp.langs[-1]
        metrics = [m for m in HEADLINE if m in comp.metrics()]
        rows = []
        for label, by_lang in comp.summary.items():
            row = [label + (" (baseline)" if label == comp.baseline else ""), lang]
            for m in metrics:
                cell = by_lang[lang].get(m)
                text = f"{cell['mean']:.3f} [{cell['ci95'][0]:.2f}–{cell['ci95'][1]:.2f}]" if cell else "—"
                diff = comp.paired.get(label, {}).get(lang, {}).get(m)
                if diff:
                    mark = {"better": " ▲", "worse": " ▼"}.get(diff["verdict"], "")
                    text += f" ({diff['diff']:+.3f}{mark})"
                row.append(text)
            rows.append(row)
        return gr.update(value=rows, headers=["configuration", "language", *metrics])

    def failure(self, qid: str | None, comp: Comparison | None) -> str:
        """One failing question of this session's comparison: its gold and, per configuration, where the
        gold landed and what was retrieved."""
        if not qid or comp is None:
            return ""
        row = next((q for q in comp.questions if q["id"] == qid), None)
        return question_html(comp, row) if row else ""

    @for_readers
    def search(
        self,
        query: str,
        mode: str,
        weight: float,
        k: int,
        outlet: str,
        date_from: str,
        date_to: str,
        lang: str = "en",
    ):
        """Ranked chunks for one query with each leg's rank and score (the weight applies to hybrid)."""
        query = (query or "").strip()
        if not query:
            yield "<p>Type a query.</p>"
            return
        for label, value in (("From", date_from), ("To", date_to)):
            try:
                if (value or "").strip():
                    dt.date.fromisoformat(value.strip())
            except ValueError:
                yield f"<p>{label}: '{html.escape(value)}' is not a date; write it as YYYY-MM-DD.</p>"
                return
        try:
            filters = Filters(
                (outlet or "").strip() or None,
                (date_from or "").strip() or None,
                (date_to or "").strip() or None,
            )
            hits = self.app.isnad.searcher.search(query, int(k), mode, filters, float(weight))
        except (IndexProblem, ValueError) as e:
            yield f"<p>{html.escape(str(e))}</p>"
            return
        shown = [
            {**h.to_dict(), "fused": h.score, "dense": h.dense_score, "bm25": h.bm25_score} for h in hits
        ]
        yield hits_html(shown, lang)


def tabs(app: IsnadApp, t, ui_lang: gr.Radio) -> Workbench:
    """The Evaluate tab inside the page's ``gr.Tabs``, with its two views (compare configurations, test
    retrieval); ``t`` registers a component's texts in both languages and ``ui_lang`` is the interface
    language (the ranked chunks' headers follow it)."""
    bench = Workbench(app)
    s = app.settings
    with t(gr.Tab("Evaluate", elem_id="isnad-tab-evaluate"), label=("Evaluate", "التقييم")):
        with gr.Tabs():
            with t(
                gr.Tab("Compare configurations", elem_id="isnad-tab-compare"),
                label=("Compare configurations", "قارن الإعدادات"),
            ):
                t(gr.Markdown(INTRO[0]), value=INTRO)
                with gr.Row():
                    qfile = t(
                        gr.File(label="Question set", file_types=QUESTION_FILES, elem_id="isnad-eval-file"),
                        label=("Question set", "مجموعة الأسئلة"),
                    )
                    with gr.Column():
                        corpus = t(
                            gr.Radio(
                                [OWN, INDEXED], value=OWN, label=CORPUS_LABEL[0], elem_id="isnad-eval-corpus"
                            ),
                            label=CORPUS_LABEL,
                        )
                        limit = t(
                            gr.Number(
                                200,
                                label="At most this many questions",
                                precision=0,
                                minimum=1,
                                maximum=MAX_QUESTIONS,
                            ),
                            label=("At most this many questions", "أقصى عدد من الأسئلة"),
                        )
                with gr.Row():
                    write = t(
                        gr.Button(
                            "Write a starter question set from the corpus",
                            elem_id="isnad-eval-starter",
                            scale=2,
                        ),
                        value=(
                            "Write a starter question set from the corpus",
                            "اكتب مجموعة أسئلة أولية من المقالات",
                        ),
                    )
                    starter_n = t(
                        gr.Number(30, label="Questions", precision=0, minimum=1, maximum=500, scale=1),
                        label=("Questions", "عدد الأسئلة"),
                    )
                    with_generator = t(
                        gr.Checkbox(
                            False,
                            label="Let the generator write them (slower; read them before use)",
                            scale=1,
                        ),
                        label=(
                            "Let the generator write them (slower; read them before use)",
                            "دع المولّد يكتبها (أبطأ؛ اقرأها قبل استعمالها)",
                        ),
                    )
                starter_file = t(
                    gr.File(label="Starter set (generated: label it so)", interactive=False, visible=False),
                    label=("Starter set (generated: label it so)", "المجموعة الأولية (مولّدة: اذكر ذلك)"),
                )
                presets = t(
                    gr.CheckboxGroup(
                        PRESET_NAMES,
                        value=PRESET_NAMES[:3],
                        label="Configurations",
                        elem_id="isnad-eval-presets",
                    ),
                    label=("Configurations", "الإعدادات"),
                )
                with gr.Row():
                    run = t(
                        gr.Button("Compare", variant="primary", elem_id="isnad-eval-run"),
                        value=("Compare", "قارن"),
                    )
                    stop = t(gr.Button("Stop", elem_id="isnad-eval-stop"), value=("Stop", "أوقف"))
                status = gr.Markdown(elem_id="isnad-eval-status")
                table = gr.Dataframe(interactive=False, wrap=True, elem_id="isnad-eval-table")
                with gr.Row():
                    plot = gr.Image(
                        label="Recall@k", type="filepath", interactive=False, elem_id="isnad-eval-plot"
                    )
                    calls = gr.Markdown(elem_id="isnad-eval-verdicts")
                failures = t(
                    gr.Dropdown([], label="Questions the baseline misses", elem_id="isnad-eval-failures"),
                    label=("Questions the baseline misses", "أسئلة أخفق فيها الأساس"),
                )
                failure = gr.HTML(elem_id="isnad-eval-failure")
                compared = gr.State(None)  # this session's comparison: its failures open from it
                report = t(
                    gr.File(label="Report (HTML)", interactive=False),
                    label=("Report (HTML)", "التقرير (HTML)"),
                )
            with t(
                gr.Tab("Retrieval test", elem_id="isnad-tab-retrieval"),
                label=("Retrieval test", "اختبار الاسترجاع"),
            ):
                with gr.Row():
                    query = t(
                        gr.Textbox(
                            label="Query", placeholder="Arabic or English", scale=4, elem_id="isnad-rt-query"
                        ),
                        label=("Query", "الاستعلام"),
                        placeholder=("Arabic or English", "بالعربية أو الإنجليزية"),
                    )
                    go = t(
                        gr.Button("Search", variant="primary", scale=1, elem_id="isnad-rt-search"),
                        value=("Search", "ابحث"),
                    )
                with gr.Row():
                    mode = t(
                        gr.Radio(list(MODES), value=s.retrieval_mode, label="Mode", elem_id="isnad-rt-mode"),
                        label=("Mode", "الطريقة"),
                    )
                    weight = t(
                        gr.Slider(
                            0,
                            2,
                            value=s.bm25_weight,
                            step=0.05,
                            label="BM25 weight (hybrid)",
                            elem_id="isnad-rt-weight",
                        ),
                        label=("BM25 weight (hybrid)", "وزن BM25 (الهجين)"),
                    )
                    k = t(gr.Slider(1, 30, value=10, step=1, label="Chunks"), label=("Chunks", "المقاطع"))
                with gr.Row():
                    outlet = t(
                        gr.Textbox(label="Outlet", elem_id="isnad-rt-outlet"), label=("Outlet", "المصدر")
                    )
                    date_from = t(
                        gr.Textbox(label="From (YYYY-MM-DD)", elem_id="isnad-rt-from"),
                        label=("From (YYYY-MM-DD)", "من (YYYY-MM-DD)"),
                    )
                    date_to = t(
                        gr.Textbox(label="To (YYYY-MM-DD)", elem_id="isnad-rt-to"),
                        label=("To (YYYY-MM-DD)", "إلى (YYYY-MM-DD)"),
                    )
                ranked = gr.HTML(elem_id="isnad-rt-results")
    running = run.click(
        bench.evaluate,
        [qfile, corpus, presets, limit],
        [status, table, plot, calls, failures, failure, report, compared],
        api_name="compare",
        concurrency_limit=1,
    )
    write.click(
        bench.starter,
        [starter_n, with_generator],
        [status, starter_file, qfile],
        api_name="starter",
        concurrency_limit=1,
    )
    stop.click(bench.stop, None, status, cancels=[running], api_name=False, queue=False)
    failures.change(bench.failure, [failures, compared], failure, api_name=False, queue=False)
    inputs = [query, mode, weight, k, outlet, date_from, date_to, ui_lang]
    go.click(bench.search, inputs, ranked, api_name="retrieval_test", concurrency_limit=2)
    query.submit(bench.search, inputs, ranked, api_name=False, concurrency_limit=2)
    mode.change(
        bench.search, inputs, ranked, api_name=False, concurrency_limit=2
    )  # a setting changed: search again
    for slider in (weight, k):
        slider.release(bench.search, inputs, ranked, api_name=False, concurrency_limit=2)
    return bench
