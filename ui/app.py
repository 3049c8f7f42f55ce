"""The Gradio chat page: Chat, Documents and Settings tabs, and one public API endpoint, `/ask`.

A thin shell (DESIGN decision 6): answers come from `rag` through `ui.backend.Backend`, and
everything shown is rendered by `ui.render`, which escapes all document and user text.
Every UI event is private; only `/ask` is callable by API clients.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import gradio as gr

from rag.config import MAX_K, MODE_HELP, MODES, Config
from rag.errors import RagError
from rag.followup import Turn
from rag.indexer import ProgressFactory
from rag.inputs import check_k
from rag.status import served_modes
from ui import render
from ui.access import GuardedApp, Logins, release_uploads
from ui.backend import Backend

HISTORY_TURNS = 5  # follow-ups look this many exchanges back
SHOWN_QUESTION_CHARS = 300  # a rejected, overlong question is shown shortened in the chat
PRIVATE = {"api_visibility": "private"}
# Gradio's concurrency groups (one queue each): questions from the page and the API share the
# backend's pool of workers; uploads and re-indexing run one at a time in their own group, so
# a long encode never holds a question up.
ANSWERING, INDEXING = "answering", "indexing"


class ChatServerError(RagError):
    """The server cannot start (port taken, bad address); the message says what to change."""


def build_app(backend: Backend) -> gr.Blocks:
    config = backend.config
    examples = backend.examples()

    def respond(question: str, messages: list[dict], turns: list[Turn], k: float, mode: str):
        question = question or ""
        try:
            turn = backend.chat(question, turns[-HISTORY_TURNS:], k=check_k(k, 1, MAX_K), mode=mode)
        except RagError as exc:
            _log_refusal(str(exc))
            # Shown in the chat and kept in the box; a lone surrogate cannot travel back to the page
            # (the reply is UTF-8 JSON), so it is spelt out as \ud800.
            question = question.encode("utf-8", "backslashreplace").decode("utf-8")
            shown = question.strip()
            if len(shown) > SHOWN_QUESTION_CHARS:
                shown = shown[:SHOWN_QUESTION_CHARS] + "…"
            messages = messages + [
                {"role": "user", "content": render.escape_html(shown)},
                {"role": "assistant", "content": render.escape_html(f"Sorry: {exc}.")},
            ]
            return messages, messages, turns, gr.skip(), question
        messages = messages + [
            {"role": "user", "content": render.escape_html(turn.asked)},
            {"role": "assistant", "content": render.chat_reply(turn.answer, turn.asked, len(messages))},
        ]
        return messages, messages, turns + [turn.as_turn()], render.sources_panel(turn.answer), ""

    def clear():
        return [], [], [], render.sources_panel(None)

    def documents() -> str:
        rows, status = backend.documents()
        return render.documents_table(rows, status)

    def upload(paths: list[str] | None, progress=gr.Progress()):
        files = [(Path(p), Path(p).name) for p in paths or []]
        try:
            message = render.upload_result(backend.upload(files, progress=_progress(progress, "indexing uploads")))
        except RagError as exc:  # e.g. the seeds folder vanished: say so, keep the page usable
            message = render.message_list([f"error: {exc}"])
        finally:  # the seeds folder has its copy: Gradio's is no longer pending (ui/access.py PendingUploads)
            release_uploads(demo.upload_file_set, paths or [])
        return message, documents(), None

    def reindex(progress=gr.Progress()):
        try:
            report = backend.reindex(progress=_progress(progress, "re-indexing seeds"))
            lines = render.index_lines(report)
        except RagError as exc:
            lines = [f"error: {exc}"]
        return render.message_list(lines), documents()

    def ask(question: str, k: int = config.k, mode: str = config.mode) -> str:
        """Answer a question from the indexed documents: the JSON text `rag ask --json` prints.

        Text, not a dict: gradio_client (2.x, protocol sse_v3) downloads any dict in a result
        that has a string "path" key as a file (utils.is_file_obj), and every citation has one.
        """
        if mode not in MODES:
            raise _refuse(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        try:
            return backend.ask(question, k=check_k(k, 1, MAX_K), mode=mode).to_json()
        except RagError as exc:
            raise _refuse(str(exc)) from None

    # delete_cache: Gradio's copies of uploads go after an hour (the seeds folder keeps its own).
    with gr.Blocks(title="seed-rag", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        messages = gr.State([])
        turns = gr.State([])
        gr.HTML(render.header(config.seeds_dir))
        with gr.Tab("Chat"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversation", elem_id="chat", height=460, render_markdown=False, sanitize_html=True,
                        feedback_options=None, buttons=["copy"],
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            placeholder="Ask about your documents (follow-ups with he, she, they work too)",
                            show_label=False, elem_id="question", scale=5, autofocus=True,
                        )
                        ask_button = gr.Button("Ask", variant="primary", elem_id="ask", scale=1, min_width=80)
                    example_buttons = []
                    if examples:
                        gr.HTML('<div class="rag-try">Try one of these:</div>')
                        with gr.Row():
                            example_buttons = [gr.Button(q, size="sm", elem_classes=["rag-example"]) for q in examples]
                    clear_button = gr.Button("New conversation", size="sm", elem_id="clear")
                with gr.Column(scale=2):
                    sources = gr.HTML(render.sources_panel(None), elem_id="sources")
        with gr.Tab("Documents"):
            status = gr.HTML(elem_id="documents")
            files = gr.File(
                label=f"Add documents ({', '.join(config.extensions)}); they are saved into the seeds folder and indexed",
                file_count="multiple", file_types=list(config.extensions), type="filepath", elem_id="upload",
            )
            upload_message = gr.HTML(elem_id="upload-message")
            reindex_button = gr.Button("Re-index seeds", elem_id="reindex")
        with gr.Tab("Settings"):
            k = gr.Slider(1, MAX_K, value=config.k, step=1, label="Number of citations", elem_id="k")
            # The modes this index serves when the page starts (`reranked` needs its vectors).
            mode = gr.Dropdown(
                [(f"{m}: {MODE_HELP[m]}", m) for m in served_modes(config)], value=config.mode,
                label="Retrieval mode", elem_id="mode",
            )

        chat_inputs = [question, messages, turns, k, mode]
        chat_outputs = [chatbot, messages, turns, sources, question]
        answer_group = {"concurrency_id": ANSWERING, "concurrency_limit": backend.workers}
        index_group = {"concurrency_id": INDEXING, "concurrency_limit": 1, **PRIVATE}
        answering = {"show_progress_on": [chatbot, sources], **answer_group, **PRIVATE}
        question.submit(respond, chat_inputs, chat_outputs, **answering)
        ask_button.click(respond, chat_inputs, chat_outputs, **answering)
        for button, text in zip(example_buttons, examples):
            button.click(_constant(text), None, question, **PRIVATE).then(respond, chat_inputs, chat_outputs, **answering)
        clear_button.click(clear, None, [chatbot, messages, turns, sources], **PRIVATE)
        chatbot.clear(clear, None, [chatbot, messages, turns, sources], **PRIVATE)  # its own bin icon
        files.upload(upload, files, [upload_message, status, files], **index_group)
        reindex_button.click(reindex, None, [upload_message, status], **index_group)
        demo.load(documents, None, status, **PRIVATE)
        gr.api(ask, api_name="ask", **answer_group)
    return demo


def _log_refusal(message: str) -> None:
    """One line on the server's stderr per request refused for its input, never a traceback."""
    print(f"rag chat: refused: {message}", file=sys.stderr, flush=True)


def _refuse(message: str) -> gr.Error:
    """The API caller's error; print_exception=False, or Gradio prints its traceback too."""
    _log_refusal(message)
    return gr.Error(message, print_exception=False)


def _constant(value: str) -> Callable[[], str]:
    return lambda: value


def _progress(progress: gr.Progress, desc: str) -> ProgressFactory:
    """Adapt index_seeds' progress(total) -> update(n) protocol to a Gradio progress bar."""

    def factory(total: int) -> Callable[[int], None]:
        done = 0
        progress((0, total), desc=desc, unit="passages")

        def update(n: int) -> None:
            nonlocal done
            done += n
            progress((done, total), desc=desc, unit="passages")

        return update

    return factory


def start(backend: Backend, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | Logins | None = None,
          share: bool = False, allowed_hosts: Sequence[str] = ()) -> tuple[gr.Blocks, str]:
    """Launch without blocking; returns the app and its local URL.

    Requests must name this server in their Host header: a loopback name, `host`, or one of
    `allowed_hosts` (ui/access.py). A user name and password are checked with a back-off per client.
    """
    demo = build_app(backend)
    if isinstance(auth, tuple):
        auth = Logins(*auth)
    theme = gr.themes.Default(  # system fonts: the page loads nothing from the internet
        font=[gr.themes.Font("system-ui"), "sans-serif"], font_mono=[gr.themes.Font("ui-monospace"), "monospace"]
    )
    try:
        _, url, _ = demo.launch(
            server_name=host, server_port=port, auth=auth, share=share, prevent_thread_lock=True, quiet=True,
            max_file_size=backend.config.max_file_bytes, ssr_mode=False, mcp_server=False, show_error=False,
            theme=theme, css=render.CSS, js=render.COPY_SCRIPT,
            _app=GuardedApp(host, allowed_hosts, any_host=share, max_pending_files=backend.config.max_pending_uploads,
                            max_pending_bytes=backend.config.max_pending_upload_bytes),
        )
    except OSError as exc:
        raise ChatServerError(
            f"cannot serve on {host}:{port} ({exc}); pass another --port "
            f"(make chat CHAT_PORT={port + 1} with make) or --host"
        ) from None
    return demo, url


def serve(config: Config, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
          share: bool = False, echo: Callable[[str], None] = print, allowed_hosts: Sequence[str] = ()) -> None:
    """`rag chat`: load the index and the model, serve until interrupted."""
    backend = Backend(config)
    demo, url = start(backend, host, port, auth, share, allowed_hosts)  # first, so a taken port fails fast
    backend.warm_up()
    if host not in {"127.0.0.1", "localhost", "::1"}:
        echo(f"warning: listening on {host}: other machines on the network can reach this page")
    echo(f"seed-rag chat: {url}  (Ctrl+C to stop)")
    if demo.share_url:
        echo(f"public link (anyone with it can use the app): {demo.share_url}")
    try:
        demo.block_thread()
    finally:
        backend.close()
