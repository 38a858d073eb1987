"""A comparison's report: a Markdown table, plots, a self-contained HTML page with the drill-down, and JSON.

Every text from a question set or an article is escaped: it is shown, never interpreted as markup.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from rag.evaluation.compare import RANK_CUTOFFS, Comparison

HEADLINE = ("R@1", "R@5", "MRR@10", "nDCG@10", "Evidence@k", "Answer@k")


def _cell(m: dict | None) -> str:
    return "—" if not m else f"{m['mean']:.3f} [{m['ci95'][0]:.2f}, {m['ci95'][1]:.2f}]"


def _diff(p: dict | None) -> str:
    if not p:
        return ""
    mark = {"better": " ▲", "worse": " ▼"}.get(p["verdict"], "")
    return f"{p['diff']:+.3f} (p={p['p_holm']:.3g}){mark}"


def markdown(comp: Comparison) -> str:
    """One table per language: each configuration's metrics with 95% intervals, then its difference from
    the baseline with the Holm-adjusted p-value of a paired randomisation test (▲ better, ▼ worse)."""
    metrics = [m for m in HEADLINE if m in comp.metrics()]
    out = []
    for lang in comp.langs:
        n = sum(1 for q in comp.questions if lang in ("all", q["lang"]))
        out.append(f"**{lang}** ({_questions(n)}; a metric is averaged over the questions that allow it)\n")
        out.append("| configuration | " + " | ".join(metrics) + " |")
        out.append("|---" * (len(metrics) + 1) + "|")
        for label, by_lang in comp.summary.items():
            cells = [_cell(by_lang[lang].get(m)) for m in metrics]
            name = f"{label} (baseline)" if label == comp.baseline else label
            out.append(f"| {name} | " + " | ".join(cells) + " |")
            if label != comp.baseline:
                diffs = [_diff(comp.paired[label][lang].get(m)) for m in metrics]
                out.append("| ↳ vs baseline | " + " | ".join(diffs) + " |")
        out.append("")
    return "\n".join(out)


def html_table(comp: Comparison, lang: str) -> str:
    """The Markdown table of one language as HTML, differences from the baseline under each row."""
    metrics = [m for m in HEADLINE if m in comp.metrics()]
    head = "".join(f"<th>{m}</th>" for m in metrics)
    rows = []
    for label, by_lang in comp.summary.items():
        name = html.escape(label) + (" <b>(baseline)</b>" if label == comp.baseline else "")
        rows.append(
            f"<tr><td>{name}</td>" + "".join(f"<td>{_cell(by_lang[lang].get(m))}</td>" for m in metrics)
        )
        if label != comp.baseline:
            rows.append(
                "<tr><td>↳ vs baseline</td>"
                + "".join(f"<td>{_diff(comp.paired[label][lang].get(m))}</td>" for m in metrics)
                + "</tr>"
            )
    return f"<h3>{html.escape(lang)}</h3><table><tr><th>configuration</th>{head}</tr>{''.join(rows)}</table>"


def verdicts(comp: Comparison, lang: str | None = None) -> list[str]:
    """The significance calls in words, one line per configuration and metric that differs."""
    lang = lang or comp.langs[-1]
    lines = []
    for label, by_lang in comp.paired.items():
        for metric, p in by_lang.get(lang, {}).items():
            if p["verdict"] != "no clear difference" and metric in HEADLINE:
                lines.append(
                    f"{label} is {p['verdict']} than the baseline on {metric} ({lang}): {p['diff']:+.3f}, "
                    f"95% CI {p['ci95'][0]:+.3f} to {p['ci95'][1]:+.3f}, Holm-adjusted p = {p['p_holm']:.3g}, "
                    f"{_questions(p['wins'])} better and {p['losses']} worse"
                )
    return lines or [f"No configuration differs from the baseline at p < 0.05 (Holm-adjusted) on {lang}."]


def _questions(n: int) -> str:
    return f"{n} question" + ("" if n == 1 else "s")


def recall_plot(comp: Comparison, lang: str | None = None) -> bytes:
    """Recall at each cutoff, one line per configuration (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lang = lang or comp.langs[-1]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for label, by_lang in comp.summary.items():
        points = [(c, by_lang[lang].get(f"R@{c}")) for c in RANK_CUTOFFS]
        points = [(c, m) for c, m in points if m]
        if not points:
            continue
        xs = [c for c, _ in points]
        ax.plot(
            xs,
            [m["mean"] for _, m in points],
            marker="o",
            label=label,
            lw=2.5 if label == comp.baseline else 1.5,
        )
        ax.fill_between(xs, [m["ci95"][0] for _, m in points], [m["ci95"][1] for _, m in points], alpha=0.12)
    ax.set_xscale("log")
    ax.set_xticks(list(RANK_CUTOFFS), [str(c) for c in RANK_CUTOFFS])
    ax.set_xlabel("documents read (k)")
    ax.set_ylabel("recall@k")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{comp.dataset} · {lang}: recall@k (shaded: 95% CI)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def winloss_plot(comp: Comparison, metric: str = "MRR@10", lang: str | None = None) -> bytes:
    """Per configuration, how many questions it ranks better, the same or worse than the baseline (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lang = lang or comp.langs[-1]
    labels = [label for label in comp.paired if metric in comp.paired[label].get(lang, {})]
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * max(1, len(labels))))
    for i, label in enumerate(labels):
        p = comp.paired[label][lang][metric]
        n = comp.summary[label][lang][metric]["n"]
        ties = n - p["wins"] - p["losses"]
        ax.barh(i, p["wins"], color="#2a9d8f")
        ax.barh(i, ties, left=p["wins"], color="#dddddd")
        ax.barh(i, p["losses"], left=p["wins"] + ties, color="#e76f51")
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel(f"questions: better (green), same, worse (red) than the baseline on {metric}")
    fig.tight_layout()
    return _png(fig)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _num(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


HIT_HEADERS = {
    "en": ("rank", "fused", "dense rank · cosine", "BM25 rank · score", "document", "chunk"),
    "ar": ("الترتيب", "المدمج", "ترتيب الكثيف · جيب التمام", "ترتيب BM25 · الدرجة", "المستند", "المقطع"),
}


def hits_html(hits: list[dict], lang: str = "en") -> str:
    """Ranked chunks with each leg's rank and score; gold ones marked. Used by the report and the app."""
    if not hits:
        return '<p dir="rtl">لم يُسترجع شيء.</p>' if lang == "ar" else "<p>Nothing retrieved.</p>"
    rows = []
    for h in hits:
        dense = f"{h.get('dense_rank') or '—'} · {_num(h.get('dense'))}"
        bm25 = f"{h.get('bm25_rank') or '—'} · {_num(h.get('bm25'), 2)}"
        mark = ' class="isnad-gold"' if h.get("gold") else ""
        rows.append(
            f"<tr{mark}><td>{h['rank']}{' ✓' if h.get('gold') else ''}</td><td>{_num(h.get('fused'), 4)}</td>"
            f"<td>{dense}</td><td>{bm25}</td><td>{html.escape(h.get('title') or '')}<br>"
            f"<small>{html.escape(h['source'])}</small></td>"
            f'<td dir="auto">{html.escape(h["text"])}</td></tr>'
        )
    head = "".join(f"<th>{h}</th>" for h in HIT_HEADERS.get(lang, HIT_HEADERS["en"]))
    return (
        f'<table class="isnad-hits"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )


def _bdi(text: str) -> str:
    """Text isolated in its own direction inside an English line (an Arabic sentence keeps its full stop)."""
    return f'<bdi dir="auto">{html.escape(text)}</bdi>'


def question_html(comp: Comparison, row: dict) -> str:
    """One question: its gold, and for each configuration where the gold landed and what was retrieved."""
    parts = [
        f'<h4 dir="auto">{html.escape(row["question"])}</h4>',
        "<p>gold documents: " + (html.escape(", ".join(row["gold"])) or "—") + "</p>",
    ]
    if row.get("evidence"):
        parts.append("<p>evidence: " + " … ".join(_bdi(e) for e in row["evidence"]) + "</p>")
    if row.get("answers"):
        parts.append("<p>answers: " + " | ".join(_bdi(a) for a in row["answers"]) + "</p>")
    for label in [c["label"] for c in comp.configs]:  # in the order the user listed them
        run = row["runs"][label]
        landed = "gold document not among the first 10 documents"
        if run.get("gold_rank"):
            landed = f"gold document at rank {run['gold_rank']} of the documents"
        if not row["gold"]:
            landed = "no gold document given"
        first = next((h["rank"] for h in run["hits"] if h.get("gold")), None)
        landed += f"; first matching chunk at rank {first}" if first else "; no matching chunk shown"
        parts.append(
            f"<details><summary>{html.escape(label)}: {landed}</summary>"
            f"{hits_html([{**comp.chunks.get(h['chunk'], {}), **h} for h in run['hits']])}</details>"
        )
    return "\n".join(parts)


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
tr.isnad-gold{background:#e8f6ef}details{margin:.3em 0}summary{cursor:pointer}img{max-width:100%}"""


def html_report(comp: Comparison, failures: int = 50) -> str:
    """A self-contained page: settings, tables, verdicts, plots, timings and the failing questions."""
    lang = comp.langs[-1]
    plots = [recall_plot(comp, lang)] + ([winloss_plot(comp, lang=lang)] if comp.paired else [])
    images = "".join(
        f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(p).decode()}">' for p in plots
    )
    configs = "".join(
        f"<li>{html.escape(c['label'])}: model {html.escape(c['embedding_model'])}, {c['chunk_tokens']} tokens, "
        f"overlap {c['chunk_overlap']}, {c['mode']}, BM25 weight {c['bm25_weight']:g}, k={c['k']}, "
        f"store {html.escape(c['store'].split('://')[0])}</li>"
        for c in comp.configs
    )
    timing = "".join(
        f"<li>{html.escape(label)}: index {t['index_s']} s{' (cached)' if t['index_cached'] else ''}, "
        f"questions {t['search_s']} s</li>"
        for label, t in comp.timings.items()
    )
    failed = comp.failures()
    drill = "".join(f"<section>{question_html(comp, q)}</section>" for q in failed[:failures])
    table = "".join(html_table(comp, g) for g in comp.langs)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>Isnad comparison: {html.escape(comp.dataset)}'
        f"</title><style>{CSS}</style></head><body><h1>Retrieval comparison: {html.escape(comp.dataset)}</h1>"
        f"<p>{comp.n_questions} questions, {comp.n_docs} documents. Ranking metrics are read from the document "
        "ranking (each document at its best chunk's place); Evidence@k and Answer@k from the first k chunks. "
        "Intervals: 95% bootstrap (1000 resamples). Differences from the baseline: paired randomisation test, "
        "10,000 sign flips, p-values Holm-adjusted over the configurations.</p>"
        f"<h2>Configurations</h2><ul>{configs}</ul><h2>Results</h2>{table}<h2>What differs</h2><ul>"
        + "".join(f"<li>{html.escape(v)}</li>" for v in verdicts(comp, lang))
        + f"</ul><h2>Plots</h2>{images}<h2>Time</h2><ul>{timing}</ul>"
        f"<h2>Questions the baseline misses ({len(failed)}; the first {min(failures, len(failed))})</h2>{drill}"
        "</body></html>"
    )


def write_comparison(comp: Comparison, out_dir: Path) -> dict[str, Path]:
    """comparison.json (everything, per question), comparison.md, comparison.html and recall.png."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: out_dir / f"comparison.{name}" for name in ("json", "md", "html")}
    paths["png"] = out_dir / "recall.png"
    paths["json"].write_text(json.dumps(comp.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    paths["md"].write_text(
        f"# Retrieval comparison: {comp.dataset}\n\n{comp.n_questions} questions, {comp.n_docs} documents; "
        "mean [95% CI]; ↳ rows: difference from the baseline (Holm-adjusted p of a paired randomisation test; "
        "▲ better, ▼ worse at p < 0.05).\n\n"
        + markdown(comp)
        + "\n"
        + "\n".join(f"- {v}" for v in verdicts(comp))
        + "\n\n![recall@k](recall.png)\n",
        encoding="utf-8",
    )
    paths["html"].write_text(html_report(comp), encoding="utf-8")
    paths["png"].write_bytes(recall_plot(comp))
    return paths
