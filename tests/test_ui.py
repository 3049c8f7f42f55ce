"""The chat page in real headless Chromium, and its `/ask` API through gradio_client.

One app for the whole module, over a temporary copy of seeds/ (plus a hostile seed) and a
temporary index. Tests that upload files run last; earlier ones do not depend on them.
"""
from __future__ import annotations

import json
import shutil
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from conftest import SEEDS
from rag.config import Config
from ui.screenshot import ANSWER_TIMEOUT_MS, CHROMIUM, ask_in_page, free_port, launch_chromium

XSS_SEED = """Zebra Crossing Notes <img src=x onerror="window.__pwned=1">

The zebra crossing committee of Pendleford was chaired by Quentin Blackwood <script>window.__pwned=2</script> from 1987.

Minutes were kept on ![tracker](http://127.0.0.1:9/pixel.png) paper and [signed](javascript:window.__pwned=3) weekly.
"""
ORCHARD = b"Orchard notes\n\nThe quince orchard at Little Wenlock was planted by Harriet Ambleside in 1911.\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


@dataclass
class RunningApp:
    url: str
    config: Config
    backend: object


@dataclass
class Browsing:
    page: object
    requests: list[str] = field(default_factory=list)

    def external_requests(self) -> list[str]:
        return [u for u in self.requests if urlparse(u).hostname not in {"127.0.0.1", "localhost"}
                and not u.startswith(("data:", "blob:"))]


@pytest.fixture(scope="module")
def app(tmp_path_factory, encoder):
    from rag.indexer import index_seeds
    from ui.app import start
    from ui.backend import Backend

    root = tmp_path_factory.mktemp("ui")
    seeds = root / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "zebra.txt").write_text(XSS_SEED, encoding="utf-8")
    config = Config(seeds_dir=seeds, index_dir=root / "index")
    index_seeds(config)
    backend = Backend(config)
    backend.warm_up()
    demo, url = start(backend, port=free_port())
    yield RunningApp(url, config, backend)
    demo.close()
    backend.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (`make test` does this as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def open_page(browser, url: str, **context_options) -> Browsing:
    """The chat page in a fresh browser context (its own storage, colour scheme, permissions)."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}, **context_options).new_page()
    page.set_default_timeout(ANSWER_TIMEOUT_MS)
    browsing = Browsing(page)
    page.on("request", lambda r: browsing.requests.append(r.url))
    page.goto(url)
    page.locator("#question textarea").wait_for()
    return browsing


@pytest.fixture
def tab(browser, app):
    browsing = open_page(browser, app.url)
    yield browsing
    browsing.page.context.close()


def last_reply(page) -> str:
    return page.locator('#chat [data-testid="bot"]').last.inner_text()


def test_answer_with_highlighted_cited_passage(tab, tmp_path):
    page = tab.page
    ask_in_page(page, "Who succeeded Stoltenberg?")
    assert "Mark Rutte" in last_reply(page)
    assert "[1]" in last_reply(page)
    cited = page.locator("#sources .rag-source", has_text="handed it over")
    expect(cited.first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    assert "Mark Rutte" in cited.first.locator("mark.rag-answer").inner_text()
    meta = cited.first.locator(".rag-source-meta").inner_text()
    assert "000_81de98d510058a00.txt" in meta and "paragraph" in meta and "score" in meta
    shot = tmp_path / "chat.png"
    page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert tab.external_requests() == []  # offline: no fonts, scripts or analytics from outside


def test_a_reply_quotes_its_sentence_cites_its_source_and_keeps_it(tab):
    page = tab.page
    ask_in_page(page, "Who succeeded Stoltenberg?")
    first = page.locator('#chat [data-testid="bot"]').first
    assert first.locator(".rag-short").inner_text() == "Mark Rutte"
    assert "handed it over to former Dutch Prime Minister Mark Rutte" in first.locator(".rag-quote").inner_text()
    assert first.locator(".rag-cite").count() == 1  # only the passage that holds the answer is a source
    assert first.locator("summary").all_inner_texts() == ["Source", "Related passages"]
    scores = first.locator(".rag-score")
    assert "higher is a closer match" in scores.first.get_attribute("title")
    related = [float(t.split()[1]) for t in first.locator("details").nth(1).locator(".rag-score").all_text_contents()]
    assert len(related) == 4 and related == sorted(related, reverse=True)
    cited = first.locator(".rag-source", has_text="handed it over")
    expect(cited).to_be_hidden()  # collapsed until asked for
    first.locator("a.rag-ref").click()  # [1] opens its source and scrolls to it
    expect(cited).to_be_visible()
    expect(cited).to_be_in_viewport()
    before = first.inner_html()
    ask_in_page(page, "When was NATO created?")
    assert first.inner_html() == before  # a later answer leaves this reply's sources alone
    assert "1949" in last_reply(page)


def contrast_ratios(page, selector: str) -> list[float]:
    """WCAG contrast of each element's text colour against its background (the nearest opaque
    one, walking up past transparent ancestors), from getComputedStyle."""
    return page.evaluate(
        """selector => {
            const rgba = (css) => {
                const v = css.match(/[\\d.]+/g).map(Number);
                return v.length === 3 ? [...v, 1] : v;
            };
            const linear = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
            const luminance = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
            const background = (el) => {
                for (; el; el = el.parentElement) {
                    const c = rgba(getComputedStyle(el).backgroundColor);
                    if (c[3] > 0) return c;
                }
                return [255, 255, 255, 1];
            };
            return [...document.querySelectorAll(selector)].map((el) => {
                const [a, b] = [luminance(rgba(getComputedStyle(el).color)), luminance(background(el))];
                return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            });
        }""",
        selector,
    )


@pytest.mark.parametrize("scheme, query", [("light", ""), ("dark", ""), ("light", "?__theme=dark")])
def test_highlights_are_readable_in_light_and_dark(browser, app, scheme, query):
    browsing = open_page(browser, app.url + query, color_scheme=scheme)
    page = browsing.page
    try:
        dark = scheme == "dark" or "dark" in query  # the system's scheme, or Gradio's URL parameter
        assert page.evaluate("document.body.classList.contains('dark')") == dark
        ask_in_page(page, "Who succeeded Stoltenberg?")
        expect(page.locator("#sources mark.rag-sentence").first).to_be_visible()
        ratios = contrast_ratios(page, "#chat mark.rag-answer, #sources mark.rag-answer, #sources mark.rag-sentence")
        assert len(ratios) >= 3 and min(ratios) >= 4.5, ratios
    finally:
        page.context.close()


def test_copy_gives_the_reply_as_plain_text(browser, app):
    browsing = open_page(browser, app.url, permissions=["clipboard-read", "clipboard-write"])
    page = browsing.page

    def copy_last_reply() -> str:
        page.locator('#chat [data-testid="bot"]').last.hover()
        page.locator("#chat").get_by_role("button", name="Copy message").last.click()
        return page.evaluate("navigator.clipboard.readText()")

    try:
        ask_in_page(page, "Who succeeded Stoltenberg?")
        assert copy_last_reply() == (
            "Mark Rutte\n“NATO Secretary General Jens Stoltenberg has stepped down from the role and handed it over "
            "to former Dutch Prime Minister Mark Rutte.”\n[1] Stoltenberg Leaves NATO Role With Warning About "
            "‘Reckless Russian Rhetoric’ (000_81de98d510058a00.txt, paragraph 3)"
        )
        ask_in_page(page, "What is the boiling point of mercury?")
        assert copy_last_reply() == "I couldn't find that in the documents."  # not I couldn&#x27;t
    finally:
        page.context.close()


def test_follow_up_question_in_the_same_conversation(tab):
    page = tab.page
    ask_in_page(page, "Who succeeded Stoltenberg?")
    ask_in_page(page, "How old is he?")
    assert "Read as: How old is Mark Rutte?" in last_reply(page)
    expect(page.locator("#sources .rag-source", has_text="57-year-old Rutte")).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
    page.locator("#clear").click()  # a new conversation forgets who "he" was
    page.locator('#chat [data-testid="bot"]').first.wait_for(state="detached")
    ask_in_page(page, "How old is he?")
    assert "Read as" not in last_reply(page)


def test_example_question_is_clickable(tab):
    page = tab.page
    page.get_by_role("button", name="Where is NATO headquarters?").click()
    page.locator('#chat [data-testid="bot"]').first.wait_for()
    assert "Where is NATO headquarters?" in page.locator("#chat").inner_text()
    assert page.locator("#sources .rag-source").count() >= 1


def components(demo, kind) -> list:
    return [block for block in demo.blocks.values() if isinstance(block, kind)]


def test_settings_offer_only_the_modes_the_index_serves_each_with_a_line_of_help(app, tmp_path):
    import gradio as gr

    from rag.config import MODE_HELP
    from rag.status import served_modes
    from rag.store import Store
    from ui.app import build_app

    (mode,) = [d for d in components(build_app(app.backend), gr.Dropdown) if d.elem_id == "mode"]
    assert [value for _, value in mode.choices] == ["hybrid", "dense", "bm25", "rrf", "rescored"]  # no reranked
    assert [label for label, _ in mode.choices] == [f"{v}: {MODE_HELP[v]}" for _, v in mode.choices]
    # An index with re-ranking vectors (its meta key, on a copy) serves reranked too.
    shutil.copytree(app.config.index_dir, tmp_path / "index")
    store = Store.open(tmp_path / "index" / "store.sqlite")
    with store.transaction():
        store.set_meta("rerank_model_name", "all-mpnet-base-v2")
    store.close()
    assert served_modes(app.config.replace(index_dir=tmp_path / "index"))[-1] == "reranked"


def test_k_is_1_to_20_on_the_page_and_the_api_as_on_the_command_line(app):
    import gradio as gr
    from gradio_client import Client

    from ui.app import build_app

    (k,) = [s for s in components(build_app(app.backend), gr.Slider) if s.elem_id == "k"]
    assert (k.minimum, k.maximum) == (1, 20)  # tests/test_cli.py: `rag ask -k 21` is refused
    client = Client(app.url, verbose=False)
    assert len(json.loads(client.predict("When was NATO created?", 20, "bm25", api_name="/ask"))["citations"]) > 5
    with pytest.raises(Exception, match="k must be a whole number from 1 to 20, not 21"):
        client.predict("When was NATO created?", 21, "bm25", api_name="/ask")


def test_example_questions_come_from_the_seeds_folders_examples_file(app, tmp_path):
    import gradio as gr

    from ui.app import build_app
    from ui.backend import Backend

    def examples(seeds: Path) -> list[str]:
        backend = Backend(app.config.replace(seeds_dir=seeds))
        try:
            demo = build_app(backend)
        finally:
            backend.close()
        return [b.value for b in components(demo, gr.Button) if "rag-example" in (b.elem_classes or [])]

    assert examples(app.config.seeds_dir)[0] == "Who succeeded Stoltenberg?"  # seeds/.examples.txt
    assert examples(tmp_path) == []  # someone else's documents: no NATO examples
    (tmp_path / ".examples.txt").write_text("\n  Who planted the quince orchard?  \n\n", encoding="utf-8")
    assert examples(tmp_path) == ["Who planted the quince orchard?"]


def set_slider(page, elem_id: str, value: str) -> None:
    """Type a value into a slider's number box and wait until the slider itself holds it.

    The Settings tab mounts its components when first shown, and a value typed while it mounts
    can be overwritten by the initial one (CI saw the slider stay at 5): type again until it sticks.
    """
    number, slider = page.locator(f"#{elem_id} input[type=number]"), page.locator(f"#{elem_id} input[type=range]")
    for _ in range(3):
        number.fill(value)
        number.press("Enter")
        number.blur()
        try:
            expect(slider).to_have_value(value, timeout=2000)
            return
        except AssertionError:
            continue
    expect(slider).to_have_value(value)


def test_number_of_citations_setting(tab):
    page = tab.page
    page.get_by_role("tab", name="Settings").click()
    set_slider(page, "k", "2")
    page.get_by_role("tab", name="Chat").click()
    ask_in_page(page, "When was NATO created?")
    # The sources panel can redraw just after the reply appears: wait for it, don't sample it.
    expect(page.locator("#sources .rag-source")).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)


def test_markup_in_seeds_and_questions_shows_as_text_and_never_runs(tab):
    page = tab.page
    ask_in_page(page, 'Who chaired the zebra crossing committee? <img src=x onerror="window.__pwned=4"> ![t](/pixel.png)')
    expect(page.locator("#sources")).to_contain_text('<img src=x onerror="window.__pwned=1">', timeout=ANSWER_TIMEOUT_MS)
    sources = page.locator("#sources").inner_text()  # the title above, as text
    assert "<script>window.__pwned=2</script>" in sources  # the cited passage, as text
    # All three zebra passages are cited (k=5); the markdown one shows its image and link as typed.
    assert "Minutes were kept on ![tracker](http://127.0.0.1:9/pixel.png) paper and " \
           "[signed](javascript:window.__pwned=3) weekly." in sources
    assert '<img src=x onerror="window.__pwned=4"> ![t](/pixel.png)' in page.locator("#chat").inner_text()
    page.get_by_role("tab", name="Documents").click()
    assert '<img src=x onerror="window.__pwned=1">' in page.locator("#documents").inner_text()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#sources img, #chat .message-content img, #documents img, #sources script").count() == 0
    assert [u for u in tab.requests if urlparse(u).path in {"/x", "/pixel.png"} or "pixel" in u] == []
    assert tab.external_requests() == []


def test_overlong_question_gets_a_clear_message(tab, capfd):
    page = tab.page
    ask_in_page(page, "Why " + "a" * 2500)
    assert "the question is 2,504 characters; the limit is 2,000" in last_reply(page)
    assert refusals(capfd) == ["rag chat: refused: the question is 2,504 characters; the limit is 2,000"]


def refusals(capfd) -> list[str]:
    """The server's stderr lines about refused requests, checked to hold no traceback."""
    err = capfd.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if "refused" in line]


def test_ask_endpoint_returns_the_rag_ask_json(app, capfd):
    from gradio_client import Client

    # Default options, as the page's "Use via API" snippet shows: a result dict with citations'
    # "path" keys made gradio_client try to download each document as a file and crash.
    client = Client(app.url)
    result = json.loads(client.predict("Who succeeded Stoltenberg?", api_name="/ask"))
    expected = app.backend.ask("Who succeeded Stoltenberg?").to_dict()
    assert result["answer"] == "Mark Rutte"
    assert set(result) == set(expected) and result["citations"] == expected["citations"]
    assert any("handed it over" in c["text"] for c in result["citations"])
    two = json.loads(client.predict("When was NATO created?", 2, "bm25", api_name="/ask"))
    assert len(two["citations"]) == 2
    with pytest.raises(Exception, match="the limit is 2,000"):
        client.predict("x" * 2001, api_name="/ask")
    with pytest.raises(Exception, match="unknown mode 'fast'"):
        client.predict("When was NATO created?", 2, "fast", api_name="/ask")
    assert [line.split(": ")[2][:14] for line in refusals(capfd)] == ["the question i", "unknown mode '"]


def run_event(url: str, api_name: str, data: list) -> dict:
    """Run one of the page's events the way its JavaScript does (the queue's join, then its stream),
    with any JSON a client may send; returns the "process_completed" message."""
    import json
    import uuid

    dependencies = json.load(urllib.request.urlopen(url + "config"))["dependencies"]
    fn_index = next(d["id"] for d in dependencies if d["api_name"] == api_name)
    session = uuid.uuid4().hex
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    join = urllib.request.Request(url + "gradio_api/queue/join", json.dumps(body).encode(),
                                  {"Content-Type": "application/json"})
    urllib.request.urlopen(join).read()
    with urllib.request.urlopen(f"{url}gradio_api/queue/data?session_hash={session}", timeout=120) as stream:
        for line in stream:
            if line.startswith(b"data:") and (message := json.loads(line[5:]))["msg"] == "process_completed":
                return message
    raise AssertionError("the event never completed")


@pytest.mark.parametrize(
    "question, k, message",
    [
        ("When was NATO created?", "abc", 'k must be a whole number from 1 to 20, not "abc"'),
        ("When was NATO created?", None, "k must be a whole number from 1 to 20, not null"),
        ("When was NATO created?", [], "k must be a whole number from 1 to 20, not []"),
        ("When was NATO created?", 2.5, "k must be a whole number from 1 to 20, not 2.5"),
        (123, 5, "the question must be text, not 123"),
        ({"a": 1}, 5, 'the question must be text, not {"a": 1}'),
        ("Who \ud800?", 5, "the question is not valid text (lone surrogate at position 5)"),
    ],
)
def test_ask_endpoint_refuses_bad_input_with_a_clear_message(app, question, k, message):
    # Old code: a blank "Error" (int("abc"), None.strip, a tokenizer TypeError), and k=2.5 answered as 2.
    result = run_event(app.url, "ask", [question, k, "hybrid"])
    assert (result["success"], result["output"]["error"]) == (False, message)


def test_chat_answers_a_lone_surrogate_with_a_message(app):
    # Old code: the tokenizer's TypeError, shown as a blank "Error" and no reply.
    result = run_event(app.url, "respond", ["Who \ud800?", [], [], 5, "hybrid"])
    assert result["success"], result
    chat, _, _, _, box = result["output"]["data"]
    assert "Sorry: the question is not valid text (lone surrogate at position 5)." in str(chat)
    assert box == "Who \\ud800?"  # kept in the box to correct, its surrogate spelt out


def test_only_ask_is_a_public_endpoint(app):
    with urllib.request.urlopen(app.url + "gradio_api/info") as response:
        info = json.load(response)
    assert list(info["named_endpoints"]) == ["/ask"]
    assert info["unnamed_endpoints"] == {}


@pytest.mark.parametrize("target", ["store", "seed", "working directory"])
def test_index_seed_and_project_files_are_not_served(app, target):
    path = {
        "store": app.config.store_path.resolve(),
        "seed": next(app.config.seeds_dir.glob("*.txt")).resolve(),
        "working directory": Path("pyproject.toml"),  # relative: Gradio would resolve it from the cwd
    }[target]
    assert path.exists()
    for url in (f"{app.url}gradio_api/file={path}", f"{app.url}file={path}"):
        with pytest.raises(HTTPError) as refused:
            urllib.request.urlopen(url)
        assert refused.value.code in (403, 404)


def upload(page, name: str, data: bytes) -> str:
    """Upload one file on the Documents tab; returns the message shown once it is processed."""
    page.get_by_role("tab", name="Documents").click()
    result = "() => document.querySelector('#upload-message .rag-messages')?.innerText || ''"
    before = page.evaluate(result)
    page.locator("#upload input[type=file]").set_input_files(files=[{"name": name, "mimeType": "text/plain", "buffer": data}])
    page.wait_for_function(f"before => {{ const now = ({result})(); return now && now !== before; }}", arg=before)
    return page.evaluate(result)


def test_uploaded_text_is_answerable_without_restart(tab, app):
    page = tab.page
    message = upload(page, "orchard.txt", ORCHARD)
    assert "orchard.txt saved as orchard.txt" in message and "indexed:" in message
    assert "orchard.txt" in page.locator("#documents").inner_text()
    assert (app.config.seeds_dir / "orchard.txt").read_bytes() == ORCHARD
    page.get_by_role("tab", name="Chat").click()
    ask_in_page(page, "Who planted the quince orchard at Little Wenlock?")
    assert "Harriet Ambleside" in last_reply(page)
    assert "orchard.txt" in page.locator("#sources .rag-source-meta").first.inner_text()


def test_traversal_upload_lands_inside_the_seeds_folder(tab, app):
    seeds = app.config.seeds_dir.resolve()
    message = upload(tab.page, "../../evil.txt", b"Evil notes\n\nNothing to see.\n")
    assert "saved as evil.txt" in message
    assert (seeds / "evil.txt").read_bytes() == b"Evil notes\n\nNothing to see.\n"
    assert not (seeds.parent / "evil.txt").exists() and not (seeds.parent.parent / "evil.txt").exists()


def test_binary_upload_is_refused_and_changes_nothing(tab, app):
    seeds_before = sorted(p.name for p in app.config.seeds_dir.iterdir())
    generation_before = app.backend.documents()[1]["generation"]
    message = upload(tab.page, "photo.txt", PNG)
    assert "refused: 'photo.txt' is not a text file (binary file (contains NUL bytes))" in message
    assert sorted(p.name for p in app.config.seeds_dir.iterdir()) == seeds_before
    assert app.backend.documents()[1]["generation"] == generation_before


def test_reindex_button_runs_rag_index(tab):
    page = tab.page
    page.get_by_role("tab", name="Documents").click()
    page.locator("#reindex").click()
    page.locator("#upload-message", has_text="indexed:").wait_for()
    assert "0 new, 0 changed" in page.locator("#upload-message").inner_text()


def fetch(url: str, path: str, headers: dict[str, str], method: str = "GET", body: bytes | None = None):
    """(status, headers, body) of one request to the app at `url`, with exactly these headers (Host too)."""
    import http.client

    connection = http.client.HTTPConnection(urlparse(url).hostname, urlparse(url).port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


ASK_BODY = b'{"data": ["Who succeeded Stoltenberg?"]}'
EVIL = "http://evil.example"


def test_a_foreign_host_or_page_is_refused_with_no_cors_allowance(app):
    # Old code served all of these; for Host [::1] Gradio's CORS also allowed http://evil.example.
    port = urlparse(app.url).port
    json_post = {"Content-Type": "application/json"}
    refused = [
        ("GET", "/config", {"Host": f"evil.example:{port}", "Origin": EVIL}, None, 400),
        ("POST", "/gradio_api/call/ask", {"Host": "evil.example", "Origin": EVIL, **json_post}, ASK_BODY, 400),
        ("GET", "/config", {"Host": f"localhost:{port}", "Origin": EVIL}, None, 403),
        ("POST", "/gradio_api/call/ask", {"Host": f"127.0.0.1:{port}", "Origin": EVIL, **json_post}, ASK_BODY, 403),
        ("OPTIONS", "/gradio_api/call/ask", {"Host": f"[::1]:{port}", "Origin": EVIL,
                                             "Access-Control-Request-Method": "POST"}, None, 403),
    ]
    for method, path, headers, body, code in refused:
        status, answer_headers, text = fetch(app.url, path, headers, method, body)
        assert (status, answer_headers.get("Access-Control-Allow-Origin")) == (code, None), (method, path, headers)
        assert b"event_id" not in text and b"seed-rag" not in text and len(text) < 200


def test_loopback_hosts_and_their_own_pages_are_served(app):
    port = urlparse(app.url).port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST"):
        status, _, text = fetch(app.url, "/config", {"Host": host})
        assert status == 200 and b'"title":"seed-rag"' in text.replace(b" ", b""), host
    origin = f"http://localhost:{port}"
    status, headers, text = fetch(app.url, "/gradio_api/call/ask", {
        "Host": f"localhost:{port}", "Origin": origin, "Content-Type": "application/json"}, "POST", ASK_BODY)
    assert status == 200 and b"event_id" in text and headers["Access-Control-Allow-Origin"] == origin


def test_allowed_host_adds_a_name_to_those_served(app):
    from ui.app import start

    demo, url = start(app.backend, port=free_port(), allowed_hosts=["Notes.LAN"])
    try:
        assert fetch(url, "/config", {"Host": "notes.lan:8080"})[0] == 200
        assert fetch(url, "/config", {"Host": "other.lan"})[0] == 400
        assert fetch(url, "/config", {"Host": "notes.lan", "Origin": "http://notes.lan"})[0] == 200
    finally:
        demo.close()


def test_which_hosts_a_server_answers_to():
    from ui.access import HostCheck

    loopback, lan, named = HostCheck(None, "127.0.0.1"), HostCheck(None, "0.0.0.0"), HostCheck(None, "::1", ["a.lan"])
    assert [loopback.serves(h) for h in ("localhost", "::1", "127.0.0.1", "192.168.1.5", "evil.example", None)] == [
        True, True, True, False, False, False]
    # Listening on the network, an address is served (rebinding needs a name), a name only if allowed.
    assert [lan.serves(h) for h in ("192.168.1.5", "fe80::1", "localhost", "evil.example")] == [True, True, True, False]
    assert named.serves("a.lan") and not named.serves("10.0.0.1")
    assert HostCheck(None, "127.0.0.1", any_host=True).serves("x.gradio.live")  # --share: the link's name


def login(url: str, user: str, password: str) -> int:
    from urllib.parse import urlencode

    form = urlencode({"username": user, "password": password}).encode()
    request = urllib.request.Request(url + "login", form, {"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status
    except HTTPError as refused:
        return refused.code


def test_failed_logins_are_slowed_and_the_right_password_works_after_the_wait(app):
    # Old code answered every guess at once: ten wrong passwords, ten 400s, no wait.
    import time

    from ui.access import Logins
    from ui.app import start

    logins = Logins("alice", "s3cret", base_seconds=2.0)
    demo, url = start(app.backend, port=free_port(), auth=logins)
    try:
        codes = [login(url, "alice", f"guess{n}") for n in range(10)]
        assert codes == [400] * 3 + [429] * 7
        assert login(url, "alice", "s3cret") == 429  # not even checked during the wait
        assert list(logins._failures) == ["127.0.0.1"]  # counted per client address, not for everyone
        time.sleep(2.1)
        assert login(url, "alice", "s3cret") == 200
    finally:
        demo.close()


def test_the_wait_doubles_per_failure_up_to_the_cap_and_is_per_client():
    import contextvars

    from ui.access import Logins

    now = [0.0]
    logins = Logins("alice", "s3cret", base_seconds=1.0, cap_seconds=60.0, clock=lambda: now[0])
    assert [logins.wait(n) for n in (0, 2, 3, 4, 5, 8, 9, 30)] == [0, 0, 1, 2, 4, 32, 60, 60]
    contextvars.copy_context().run(guess_from_two_clients, logins, now)


def guess_from_two_clients(logins, now: list[float]) -> None:
    from fastapi import HTTPException

    from ui.access import CLIENT

    CLIENT.set("10.0.0.1")
    assert [logins("alice", "x") for _ in range(3)] == [False] * 3
    with pytest.raises(HTTPException, match="try again in 1 s") as refused:
        logins("alice", "s3cret")
    assert refused.value.status_code == 429
    now[0] = 1.0
    assert logins("alice", "x") is False  # the fourth failure: the next wait is 2 s
    now[0] = 2.5
    with pytest.raises(HTTPException, match="try again in 1 s"):
        logins("alice", "s3cret")
    CLIENT.set("10.0.0.2")
    assert logins("alice", "s3cret") is True  # another client is not slowed by the first one's guesses
    CLIENT.set("10.0.0.1")
    now[0] = 3.0
    assert logins("alice", "s3cret") is True and logins("alice", "x") is False  # success clears the count


def test_auth_protects_the_page_and_the_api(app):
    from gradio_client import Client

    from ui.app import start

    demo, url = start(app.backend, port=free_port(), auth=("alice", "s3cret"))
    try:
        with pytest.raises(HTTPError) as refused:
            urllib.request.urlopen(url + "gradio_api/info")
        assert refused.value.code == 401
        with pytest.raises(ValueError, match="Could not login"):
            Client(url, download_files=False, verbose=False, auth=("alice", "wrong"))
        client = Client(url, verbose=False, auth=("alice", "s3cret"))
        assert '"citations": [{' in client.predict("When was NATO created?", api_name="/ask")
    finally:
        demo.close()


def test_questions_are_answered_while_a_long_upload_is_encoded(tab, app):
    # Old code put questions, uploads and re-indexing behind one lock: this question waited for
    # all 1,500 paragraphs to be encoded and published, then came from the new generation.
    import time

    from gradio_client import Client

    from seedgen import document

    client = Client(app.url, verbose=False)
    generation = app.backend.documents()[1]["generation"]
    page = tab.page
    page.get_by_role("tab", name="Documents").click()
    data = document(77, 1501).encode()  # a title and 1,500 paragraphs
    page.locator("#upload input[type=file]").set_input_files(
        files=[{"name": "long-report.txt", "mimeType": "text/plain", "buffer": data}]
    )
    page.get_by_text("indexing uploads").first.wait_for()  # the page shows the encoding's progress
    started = time.monotonic()
    answer = json.loads(client.predict("Who succeeded Stoltenberg?", api_name="/ask"))
    waited = time.monotonic() - started
    assert "Rutte" in answer["answer"] and answer["generation"] == generation  # the last published one
    assert waited < 2.0, f"the question waited {waited:.1f} s for the upload"
    page.locator("#upload-message", has_text="long-report.txt saved as").wait_for(timeout=300_000)
    assert "indexed:" in page.locator("#upload-message").inner_text()
    after = json.loads(client.predict("mk00077zq note 1499", 3, "bm25", api_name="/ask"))
    assert after["generation"] > generation and after["citations"][0]["path"] == "long-report.txt"


def post_upload(url: str, data: bytes, name: str = "notes.txt") -> tuple[int, str]:
    """POST one file to Gradio's upload route as the page does; (status, body)."""
    boundary = "----seedrag"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: text/plain\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "gradio_api/upload", body,
                                     {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode()
    except HTTPError as refused:
        return refused.code, refused.read().decode()


def test_files_waiting_in_gradios_upload_folder_are_capped_and_indexed_ones_removed(app, browser):
    # Old code let any client leave any number of files in Gradio's temp folder (each up to the
    # file size cap) for an hour, and kept the page's own uploads there after indexing them.
    from ui.app import start
    from ui.backend import Backend

    config = app.config.replace(max_pending_uploads=3, max_pending_upload_bytes=4000)
    backend = Backend(config)
    demo, url = start(backend, port=free_port())
    try:
        browsing = open_page(browser, url)
        message = upload(browsing.page, "lichens.txt", b"Lichen notes\n\nThe lichen survey of Pendleford ran in 1932.\n")
        assert "lichens.txt saved as" in message
        assert demo.upload_file_set == set()  # indexed: Gradio's copy is gone
        browsing.page.context.close()
        sent = [post_upload(url, f"pending text {n} ".encode() * 20) for n in range(3)]  # Gradio shares equal files
        assert [status for status, _ in sent] == [200] * 3
        paths = [json.loads(body)[0] for _, body in sent]
        assert all(Path(p).is_file() for p in paths)
        status, body = post_upload(url, b"one too many")
        assert status == 429 and body.startswith("3 uploaded files are waiting to be indexed (the limit is 3)")
        demo.upload_file_set.discard(paths[0])  # as if indexed
        Path(paths[0]).unlink()
        status, body = post_upload(url, b"y" * 4000)
        assert status == 413 and "uploads waiting to be indexed would take" in body and "the limit is 4,000" in body
    finally:
        demo.close()
        backend.close()
