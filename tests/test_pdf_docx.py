"""PDF and Word (.docx) seeds: their text is indexed, a PDF answer is cited with its page and
offsets into the stored text, unreadable files and other file types are named with a warning,
and the chat's upload takes both formats."""
from __future__ import annotations

import io
import shutil
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from conftest import SEEDS, open_qa, run_rag
from rag.cli import format_answer
from rag.config import Config
from rag.indexer import index_seeds
from rag.passages import split_passages
from rag.store import Store
from rag.uploads import UploadError, ingest_uploads, save_upload
from ui.render import sources_panel

REPORT_PAGES = [
    "Harbour Trust annual report\n\nThe Harbour Trust was founded in 1921 by local fishermen who wanted a safe "
    "harbour for their boats during the winter storms. Its members meet every spring in the old customs house.",
    "Keepers of the light\n\nThe new lighthouse keeper at Skerry Point is Margaret Olsen, appointed in March "
    "after the retirement of her predecessor.",
    "Finances\n\nThe trust spent most of its budget on repairs to the north breakwater.",
]
SUPPORTED = ".txt, .md, .html, .htm, .pdf, .docx"


def make_pdf(pages: list[str | None], user_password: str | None = None, encrypted: bool = False) -> bytes:
    """A real PDF with one page per entry; None draws only a rectangle (a page with no text layer).
    `encrypted` without a user password: it opens without one (only printing etc. restricted)."""
    pdf = FPDF()
    if user_password or encrypted:
        pdf.set_encryption(owner_password="owner", user_password=user_password)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text is None:
            pdf.rect(20, 20, 120, 80, style="F")
        else:
            pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Northgate bakery", level=1)
    document.add_paragraph("The head baker of the Northgate bakery is Tomasz Novak. He bakes rye bread every morning.")
    table = document.add_table(rows=2, cols=2)
    for (row, col), text in {(0, 0): "Bread", (0, 1): "Price", (1, 0): "Rye", (1, 1): "4 euros"}.items():
        table.cell(row, col).text = text
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


BAD_FILES = {
    "scan.pdf": make_pdf([None, None]),
    "locked.pdf": make_pdf(["A secret plan."], user_password="secret"),
    "broken.pdf": make_pdf(REPORT_PAGES)[:400],
    "broken.docx": b"PK\x03\x04 not really a zip archive",
    "old.docx": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512,
    "notes.xyz": b"Some notes in a format the indexer does not read.",
    "README": b"No extension at all.",
    ".hidden.xyz": b"Hidden files are passed over in silence.",
}
EXPECTED_WARNINGS = {
    "skipped scan.pdf: no text layer (a scanned PDF?)",
    "skipped locked.pdf: encrypted PDF (needs a password)",
    "skipped broken.docx: damaged or unreadable .docx file (BadZipFile: File is not a zip file)",
    "skipped old.docx: password-protected or old-format (.doc) Word file; save it as .docx without a password",
    f"skipped notes.xyz: unsupported file type (.xyz); seeds can be {SUPPORTED}",
    f"skipped README: no file extension; seeds can be {SUPPORTED}",
}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, encoder):
    """The project's seeds plus report.pdf, bakery.docx, restricted.pdf and the bad files, indexed once."""
    root = tmp_path_factory.mktemp("pdf-docx")
    seeds = root / "seeds"
    shutil.copytree(SEEDS, seeds)
    (seeds / "report.pdf").write_bytes(make_pdf(REPORT_PAGES))
    (seeds / "bakery.docx").write_bytes(make_docx())
    (seeds / "restricted.pdf").write_bytes(make_pdf(["Printing this leaflet is not allowed."], encrypted=True))
    for name, data in BAD_FILES.items():
        (seeds / name).write_bytes(data)
    config = Config(seeds_dir=seeds, index_dir=root / "index")
    return config, index_seeds(config)


def stored_text(config: Config, doc_id: str) -> str:
    with Store.open(config.store_path) as store:
        return store.document_text(doc_id)


def test_bad_files_and_other_types_are_each_named_and_the_rest_is_indexed(indexed):
    config, report = indexed
    broken = [w for w in report.warnings if w.startswith("skipped broken.pdf: damaged or unreadable PDF (")]
    assert len(broken) == 1, report.warnings
    assert set(report.warnings) - set(broken) == EXPECTED_WARNINGS
    assert report.documents == 4  # the seed, report.pdf, bakery.docx and restricted.pdf
    assert stored_text(config, "restricted") == "Printing this leaflet is not allowed."


def test_rag_index_prints_a_warning_line_per_skipped_file_and_no_parser_noise(indexed):
    config, _ = indexed
    # Nothing changed since the fixture indexed: the run loads no model, but reads every file again.
    done = run_rag("index", "--seeds", str(config.seeds_dir), "--index-dir", str(config.index_dir))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert {line for line in lines if not line.startswith("warning: skipped broken.pdf")} == {
        f"warning: {w}" for w in EXPECTED_WARNINGS
    }
    assert len(lines) == len(EXPECTED_WARNINGS) + 1  # pypdf's repair log of broken.pdf stays quiet


def ask(config, encoder, question: str):
    qa = open_qa(config, encoder)
    try:
        return qa.ask(question, k=3)
    finally:
        qa.close()


def test_a_pdf_answer_is_cited_with_its_page_and_offsets_into_the_stored_text(indexed, encoder):
    config, _ = indexed
    answer = ask(config, encoder, "Who is the new lighthouse keeper at Skerry Point?")
    assert answer.text == "Margaret Olsen" and not answer.abstained
    cited = answer.citations[0]
    assert (cited.path, cited.page) == ("report.pdf", 2)
    assert answer.to_dict()["citations"][0]["page"] == 2
    assert "report.pdf, page 2, paragraph " in sources_panel(answer)
    assert "(report.pdf, page 2, paragraph " in format_answer(answer)
    text = stored_text(config, "report")
    assert text[answer.source.start : answer.source.end] == answer.text
    assert text[cited.start : cited.end] == cited.text


def test_every_pdf_passage_lies_on_one_page_and_knows_which(indexed):
    config, _ = indexed
    text = stored_text(config, "report")
    with Store.open(config.store_path) as store:
        ids = [i for (i,) in store.conn.execute("SELECT id FROM passages WHERE doc_id = 'report'")]
        passages = store.passages_by_id(ids).values()
    assert {p.page for p in passages} == {1, 2, 3}
    for p in passages:
        assert "\f" not in p.text and text[p.start : p.end] == p.text
        assert p.page == text.count("\f", 0, p.start) + 1


def test_a_docx_answer_is_cited_without_a_page(indexed, encoder):
    config, _ = indexed
    answer = ask(config, encoder, "Who is the head baker of the Northgate bakery?")
    assert answer.text == "Tomasz Novak" and not answer.abstained
    cited = answer.citations[0]
    assert (cited.path, cited.page) == ("bakery.docx", None)
    text = stored_text(config, "bakery")
    assert text[answer.source.start : answer.source.end] == answer.text
    assert "Bread | Price\n\nRye | 4 euros" in text  # table rows, one paragraph each


def test_a_page_break_ends_a_paragraph():
    text = "First page ends here\n\fSecond page\fthird page"
    assert [p.text for p in split_passages("d", text, 160)] == ["First page ends here", "Second page", "third page"]


def write(tmp_path: Path, data: bytes, name: str) -> Path:
    path = tmp_path / "incoming" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def test_an_uploaded_pdf_is_indexed_and_cited_by_page(tmp_path, seeds_copy, encoder):
    config = Config(seeds_dir=seeds_copy, index_dir=tmp_path / "index")
    report = ingest_uploads(config, [(write(tmp_path, make_pdf(REPORT_PAGES), "x"), "Annual Report.pdf")])
    assert [s.path.name for s in report.saved] == ["Annual_Report.pdf"] and report.refused == []
    assert report.index.new == 2 and report.index.warnings == ()
    qa = open_qa(config, encoder)
    try:
        answer = qa.ask("Who is the new lighthouse keeper at Skerry Point?", k=3)
    finally:
        qa.close()
    assert (answer.text, answer.citations[0].path, answer.citations[0].page) == ("Margaret Olsen", "Annual_Report.pdf", 2)


@pytest.mark.parametrize("name", ["scan.pdf", "locked.pdf", "broken.docx", "old.docx"])
def test_an_unreadable_pdf_or_docx_upload_is_refused_and_writes_nothing(tmp_path, name):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    reason = next(w for w in EXPECTED_WARNINGS if w.startswith(f"skipped {name}: ")).split(": ", 1)[1]
    with pytest.raises(UploadError) as refused:
        save_upload(write(tmp_path, BAD_FILES[name], "x"), name, seeds, 10_000, Config().extensions)
    assert str(refused.value) == f"{name!r} cannot be indexed: {reason}"
    assert list(seeds.iterdir()) == []
