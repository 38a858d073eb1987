"""The app's page: chat and briefing side by side, the corpus tab, and which handler each control calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr  # noqa: E402

from rag.interfaces import workbench
from rag.rendering.html import sources_html  # noqa: E402
from rag.retrieval.hybrid import MODES  # noqa: E402

if TYPE_CHECKING:
    from rag.interfaces.app import IsnadApp

EXTRACTIVE = "Extractive (offline, quotes only)"


GENERATIVE = "Generator (machine-written, verified)"


SCOPES = ("All articles", "Article", "Topic")


LENGTH_CHOICES = ("short", "medium", "long")


CORPUS_COLUMNS = ("Title", "Outlet", "Date", "Chunks", "File", "Added")


REPLACE = (
    "Replace a stored file of the same name (otherwise the new one is kept under a new name)",
    "استبدل ملفًا مخزنًا بالاسم نفسه (وإلا يُحفظ الجديد باسم آخر)",
)


# The interface language sets the page's direction: an Arabic interface puts the chat on the right.
SET_DIRECTION = """(choice) => { document.documentElement.lang = choice;
  document.documentElement.dir = choice === 'ar' ? 'rtl' : 'ltr'; return choice; }"""


EXAMPLES = [
    "When did Iraq and the US agree to redeploy coalition forces outside the country?",
    "How many coalition troops remain in Iraq, and how many are American?",
    "متى اتفق العراق والولايات المتحدة على انسحاب القوات القتالية؟",
    "ماذا قال البنتاغون عن المحادثات مع العراق في يناير 2024؟",
]


def build(app: IsnadApp) -> gr.Blocks:
    gen_label = (
        "local Qwen2.5-Coder-1.5B (machine-generated)"
        if app.settings.generator == "local"
        else ("configured by the operator" if app.settings.llm_base_url else "none configured")
    )
    allow = app.settings.allow_user_endpoints
    ui: list[tuple[gr.components.Component | gr.Tab, dict[str, tuple]]] = []

    def t(component, **texts):  # a component whose texts follow the interface language: {key: (en, ar)}
        ui.append((component, texts))
        return component

    with gr.Blocks(title="Isnad — إسناد", analytics_enabled=False) as demo:
        with gr.Row(equal_height=True):
            with gr.Column(scale=4, min_width=300):
                t(
                    gr.Markdown(
                        "### Isnad · cited answers and briefings from news articles", elem_id="isnad-title"
                    ),
                    value=(
                        "### Isnad · cited answers and briefings from news articles",
                        "### إسناد · إجابات وموجزات موثقة من المقالات الإخبارية",
                    ),
                )
            ui_lang = gr.Radio(
                [("English", "en"), ("العربية", "ar")],
                value="en",
                label="Interface language",
                show_label=False,
                elem_id="isnad-ui-lang",
                scale=1,
                min_width=200,
                container=False,
            )
        problem = app.index_problem()
        with gr.Row():
            health = gr.Markdown(problem, elem_id="isnad-health")
            fix = t(
                gr.Button("Repair index", elem_id="isnad-repair", visible=bool(problem), scale=0),
                value=("Repair index", "أصلح الفهرس"),
            )
        with gr.Tabs():
            with t(gr.Tab("Ask & brief", elem_id="isnad-tab-ask"), label=("Ask & brief", "اسأل ولخّص")):
                with gr.Row(equal_height=False, elem_id="isnad-main"):
                    with gr.Column(scale=1, min_width=340):
                        chat = t(
                            gr.Chatbot(
                                label="Chat",
                                show_label=False,
                                elem_id="isnad-chat",
                                height=430,
                                buttons=["copy"],
                                latex_delimiters=[],
                                autoscroll=False,
                                layout="panel",
                            ),
                            label=("Chat", "المحادثة"),
                        )
                        with gr.Row():
                            box = t(
                                gr.Textbox(
                                    label="Your question",
                                    show_label=False,
                                    scale=5,
                                    placeholder="Ask in Arabic or English",
                                    elem_id="isnad-question",
                                    max_lines=6,
                                    rtl=False,
                                ),
                                placeholder=("Ask in Arabic or English", "اسأل بالعربية أو الإنجليزية"),
                                label=("Your question", "سؤالك"),
                            )
                            send = t(
                                gr.Button("Ask", variant="primary", scale=1, elem_id="isnad-ask"),
                                value=("Ask", "اسأل"),
                            )
                        with gr.Row():
                            stop = t(
                                gr.Button(
                                    "Stop", elem_id="isnad-stop-chat", variant="stop", size="sm", min_width=80
                                ),
                                value=("Stop", "أوقف"),
                            )
                            again = t(
                                gr.Button("Regenerate", elem_id="isnad-regenerate", size="sm", min_width=80),
                                value=("Regenerate", "أعد الإجابة"),
                            )
                            clear = t(
                                gr.Button("Clear chat", elem_id="isnad-clear", size="sm", min_width=80),
                                value=("Clear chat", "امسح المحادثة"),
                            )
                        sources = gr.HTML(sources_html(None, {}), elem_id="isnad-sources")
                        examples = gr.Dataset(
                            components=[gr.Textbox(visible=False)],
                            samples=[[e] for e in EXAMPLES],
                            label="Examples",
                            elem_id="isnad-examples",
                        )
                        t(examples, label=("Examples", "أمثلة"))
                    with gr.Column(scale=1, min_width=340):
                        with gr.Row():
                            scope = t(
                                gr.Radio(
                                    list(SCOPES), value="All articles", label="Scope", elem_id="isnad-scope"
                                ),
                                label=("Scope", "النطاق"),
                                choices=(
                                    [(x, x) for x in SCOPES],
                                    list(zip(("كل المقالات", "مقال", "موضوع"), SCOPES)),
                                ),
                            )
                            lang = t(
                                gr.Radio(
                                    [("Arabic", "ar"), ("English", "en"), ("Both", "both")],
                                    value="both",
                                    label="Language",
                                    elem_id="isnad-lang",
                                ),
                                label=("Language", "اللغة"),
                                choices=(
                                    [("Arabic", "ar"), ("English", "en"), ("Both", "both")],
                                    [("العربية", "ar"), ("الإنجليزية", "en"), ("كلتاهما", "both")],
                                ),
                            )
                            length = t(
                                gr.Radio(["short", "medium", "long"], value="medium", label="Length"),
                                label=("Length", "الطول"),
                                choices=(
                                    [(x, x) for x in LENGTH_CHOICES],
                                    list(zip(("قصير", "متوسط", "طويل"), LENGTH_CHOICES)),
                                ),
                            )
                        article = t(
                            gr.Dropdown(app.article_choices(), label="Article", elem_id="isnad-article"),
                            label=("Article", "المقال"),
                        )
                        topic = t(
                            gr.Textbox(
                                label="Topic",
                                placeholder="US troop withdrawal from Iraq",
                                elem_id="isnad-topic",
                            ),
                            label=("Topic", "الموضوع"),
                            placeholder=(
                                "US troop withdrawal from Iraq",
                                "انسحاب القوات الأمريكية من العراق",
                            ),
                        )
                        with gr.Row():
                            make = t(
                                gr.Button(
                                    "Make briefing", variant="primary", elem_id="isnad-brief-btn", scale=3
                                ),
                                value=("Make briefing", "أنشئ الموجز"),
                            )
                            stop_brief = t(
                                gr.Button("Stop", variant="stop", elem_id="isnad-stop-brief", scale=1),
                                value=("Stop", "أوقف"),
                            )
                        briefing = gr.HTML(elem_id="isnad-briefing")
                        download = t(
                            gr.File(label="Download (Markdown)", elem_id="isnad-download"),
                            label=("Download (Markdown)", "تنزيل (Markdown)"),
                        )
            with t(gr.Tab("Corpus", elem_id="isnad-tab-corpus"), label=("Corpus", "المقالات")):
                table = gr.Dataframe(
                    app.corpus_rows(),
                    headers=list(CORPUS_COLUMNS),
                    interactive=False,
                    wrap=True,
                    elem_id="isnad-corpus",
                    column_widths=["34%", "14%", "11%", "7%", "20%", "14%"],
                )
                files = t(
                    gr.File(
                        file_count="multiple",
                        file_types=[".txt", ".md", ".html", ".pdf", ".docx"],
                        type="filepath",
                        label="Add articles: .txt, .md, .html, .pdf, .docx",
                        elem_id="isnad-upload",
                    ),
                    label=(
                        "Add articles: .txt, .md, .html, .pdf, .docx",
                        "أضف مقالات: ‎.txt ‎.md ‎.html ‎.pdf ‎.docx",
                    ),
                )
                replace = t(gr.Checkbox(False, label=REPLACE[0], elem_id="isnad-replace"), label=REPLACE)
                with gr.Row():
                    add = t(
                        gr.Button("Add to index", elem_id="isnad-add"),
                        value=("Add to index", "أضف إلى الفهرس"),
                    )
                    stop_add = t(
                        gr.Button("Stop indexing", elem_id="isnad-stop", variant="stop"),
                        value=("Stop indexing", "أوقف الفهرسة"),
                    )
                with gr.Row():
                    url = t(
                        gr.Textbox(
                            "",
                            label="Or add a web page by its address",
                            placeholder="https://…",
                            elem_id="isnad-url",
                            scale=4,
                        ),
                        label=("Or add a web page by its address", "أو أضف صفحة ويب بعنوانها"),
                    )
                    add_url = t(
                        gr.Button("Fetch and add", elem_id="isnad-add-url", scale=1),
                        value=("Fetch and add", "اجلب وأضف"),
                    )
                report = gr.Markdown(elem_id="isnad-upload-report")
                with gr.Row():
                    feed_url = t(
                        gr.Textbox(
                            "",
                            label="Follow a news feed (RSS or Atom)",
                            placeholder="https://…/rss",
                            elem_id="isnad-feed-url",
                            scale=3,
                        ),
                        label=("Follow a news feed (RSS or Atom)", "تابع موجز أخبار (RSS أو Atom)"),
                    )
                    follow = t(gr.Button("Follow", elem_id="isnad-follow", scale=1), value=("Follow", "تابع"))
                    check = t(
                        gr.Button("Check feeds now", elem_id="isnad-check-feeds", scale=1),
                        value=("Check feeds now", "حدّث الموجزات الآن"),
                    )
                feeds = gr.Dataframe(
                    app.feed_rows(),
                    headers=["Feed", "Address", "Articles", "Last read (UTC)", "Status"],
                    interactive=False,
                    wrap=True,
                    elem_id="isnad-feeds",
                )
                feed_report = gr.Markdown(elem_id="isnad-feed-report")
                with gr.Row():
                    remove_pick = t(
                        gr.Dropdown(
                            choices=app.article_choices(),
                            multiselect=True,
                            label="Remove articles (or click their rows above)",
                            elem_id="isnad-remove-pick",
                            scale=4,
                        ),
                        label=(
                            "Remove articles (or click their rows above)",
                            "احذف مقالات (أو انقر صفوفها أعلاه)",
                        ),
                    )
                    remove = t(
                        gr.Button("Remove…", elem_id="isnad-remove", scale=1), value=("Remove…", "احذف…")
                    )
                remove_question = gr.Markdown(elem_id="isnad-remove-question")
                with gr.Row(visible=False, elem_id="isnad-remove-confirm-row") as confirm_row:
                    confirm = t(
                        gr.Button("Yes, remove them", variant="stop", elem_id="isnad-remove-confirm"),
                        value=("Yes, remove them", "نعم، احذفها"),
                    )
                    cancel = t(gr.Button("Cancel", elem_id="isnad-remove-cancel"), value=("Cancel", "إلغاء"))
            app.workbench = workbench.tabs(app, t, ui_lang)
            with t(gr.Tab("Settings", elem_id="isnad-tab-settings"), label=("Settings", "الإعدادات")):
                engine = t(
                    gr.Radio(
                        [EXTRACTIVE, GENERATIVE],
                        value=EXTRACTIVE,
                        label="Answer engine",
                        elem_id="isnad-engine",
                    ),
                    label=("Answer engine", "محرك الإجابة"),
                )
                endpoint = gr.Textbox(
                    "",
                    label="OpenAI-compatible endpoint (/v1)",
                    placeholder=f"default: {gen_label}",
                    interactive=allow,
                    elem_id="isnad-endpoint",
                )
                model = gr.Textbox(
                    "", label="Model", placeholder=app.settings.llm_model or "", interactive=allow
                )
                api_key = gr.Textbox(
                    "",
                    label="API key for that endpoint (this session only, never stored)",
                    type="password",
                    interactive=allow,
                    elem_id="isnad-key",
                )
                gr.Markdown(
                    "Your own endpoint is used only with the key you type here, never the server's."
                    if allow
                    else "This server uses the endpoint its operator configured; its key is never "
                    "shown or sent anywhere else."
                )
                k = t(
                    gr.Slider(2, 20, value=app.settings.answer_k, step=1, label="Passages retrieved (top-k)"),
                    label=("Passages retrieved (top-k)", "المقاطع المسترجعة (top-k)"),
                )
                mode = t(
                    gr.Radio(list(MODES), value=app.settings.retrieval_mode, label="Retrieval mode"),
                    label=("Retrieval mode", "طريقة الاسترجاع"),
                )
        saved_chat = gr.BrowserState([], storage_key="isnad-chat")
        saved_ui = gr.BrowserState("", storage_key="isnad-ui")

        ask_inputs = [box, chat, engine, endpoint, model, api_key, k, mode]
        ask_outputs = [chat, sources, box]
        asking = [
            send.click(app.ask, ask_inputs, ask_outputs, api_name="ask", concurrency_limit=2),
            box.submit(app.ask, ask_inputs, ask_outputs, api_name=False, concurrency_limit=2),
            again.click(app.regenerate, ask_inputs[1:], ask_outputs, api_name=False, concurrency_limit=2),
        ]
        for event in asking:  # the conversation survives a reload
            event.then(lambda h: h, chat, saved_chat, api_name=False, queue=False)
        stop.click(app.stopped, chat, chat, cancels=asking, api_name=False, queue=False).then(
            lambda h: h, chat, saved_chat, api_name=False, queue=False
        )
        clear.click(
            lambda: ([], sources_html(None, {}), []),
            None,
            [chat, sources, saved_chat],
            api_name=False,
            queue=False,
        )
        examples.click(lambda x: x[0], examples, box, api_name=False, queue=False)
        briefing_event = make.click(
            app.brief,
            [scope, article, topic, lang, length, engine, endpoint, model, api_key],
            [briefing, download],
            api_name="brief",
            concurrency_limit=1,
        )
        stop_brief.click(None, None, None, cancels=[briefing_event], api_name=False, queue=False)

        def removable():
            return gr.update(choices=app.article_choices())

        add.click(
            app.upload, [files, replace], [report, table, article], api_name="upload", concurrency_limit=1
        ).then(removable, None, remove_pick, api_name=False, queue=False)
        add_url.click(
            app.add_url, [url], [report, table, article], api_name="add_url", concurrency_limit=1
        ).then(removable, None, remove_pick, api_name=False, queue=False)
        stop_add.click(app.stop_upload, None, None, api_name=False, concurrency_limit=None, queue=False)
        fix.click(app.repair, None, [health, fix, table, article], api_name="repair", concurrency_limit=1)
        follow.click(
            app.follow_feed, [feed_url], [feed_report, feeds, feed_url], api_name="follow", queue=False
        )
        check.click(
            app.check_feeds,
            None,
            [feed_report, feeds, table, article, remove_pick],
            api_name="check_feeds",
            concurrency_limit=1,
        )
        table.select(app.pick_row, [remove_pick], [remove_pick], api_name=False, queue=False)
        remove.click(
            app.ask_delete, [remove_pick], [remove_question, confirm_row], api_name=False, queue=False
        )
        confirm.click(
            app.delete,
            [remove_pick],
            [remove_question, confirm_row, table, remove_pick, article],
            api_name="delete",
            concurrency_limit=1,
        )
        cancel.click(
            lambda: ("Nothing was removed.", gr.update(visible=False)),
            None,
            [remove_question, confirm_row],
            api_name=False,
            queue=False,
        )
        components = [c for c, _ in ui]

        def relabel(choice: str):
            i = 1 if choice == "ar" else 0
            return [gr.update(**{key: pair[i] for key, pair in texts.items()}) for _, texts in ui] + [choice]

        ui_lang.change(
            relabel, ui_lang, components + [saved_ui], js=SET_DIRECTION, api_name=False, queue=False
        )
        demo.load(app.restore, [saved_chat, saved_ui], [chat, ui_lang], api_name=False)
        demo.load(app.corpus_rows, None, table, api_name="corpus")
    return demo
