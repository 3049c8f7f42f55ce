"""`rag`: index a seeds folder, ask questions, check the index.

Heavy libraries (torch, faiss, spaCy, gradio) are imported inside the commands that need them,
so `rag --help` and usage errors are instant.
"""
from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from rag.config import ANSWERERS, MAX_K, MODES, Config, ConfigError, index_command
from rag.errors import QuestionFileError
from rag.jsonl import parse_object


def _config(index_dir: str | None, seeds: str | None = None, model: str | None = None,
            rerank_model: str | None = None) -> Config:
    return Config.from_env(index_dir=index_dir, seeds_dir=seeds, model=model, rerank_model=rerank_model)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected failures into `rag: error: ...` and exit status 1, never a traceback."""
    try:
        yield
    except Exception as exc:
        if not isinstance(exc, user_error_types()):
            raise
        click.echo(f"rag: error: {exc}", err=True)
        sys.exit(1)


def _mode(value: str | None) -> str | None:
    """`--mode` checked as Config checks it ("rescored", "rescored:rules"), as a usage error."""
    if value is not None:
        try:
            Config().split_mode(value)
        except ConfigError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def user_error_types() -> tuple[type[BaseException], ...]:
    """Failures a user causes or fixes (bad paths, bad input, missing model or index)."""
    from embeddings.index import IndexFileError
    from embeddings.registry import ModelNotAvailable
    from rag.errors import RagError

    return (RagError, OSError, ModelNotAvailable, IndexFileError)


index_dir_option = click.option(
    "--index-dir", envvar="RAG_INDEX_DIR", type=click.Path(file_okay=False), default=None,
    help="Index folder (default .rag, or $RAG_INDEX_DIR).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Offline question answering over a folder of documents, with cited passages.

    \b
    Example:
      rag index --seeds seeds/
      rag ask "Who succeeded Stoltenberg?"
    """


def _progress_factory():
    """A tqdm bar for encoding when stdout is a terminal, else nothing."""
    if not sys.stdout.isatty():
        return None
    from tqdm import tqdm

    def factory(total: int):
        bar = tqdm(total=total, unit="passage", desc="encoding", leave=False)
        return bar.update

    return factory


@main.command()
@click.option("--seeds", envvar="RAG_SEEDS_DIR", type=click.Path(), default=None, help="Seeds folder (default seeds/).")
@index_dir_option
@click.option("--model", default=None, help="Packaged embedding model (default: the index's, or all-MiniLM-L6-v2).")
@click.option("--rerank-model", default=None,
              help="Also store this packaged model's vectors, for `--mode reranked` (e.g. all-mpnet-base-v2); "
                   "later runs keep them current.")
@click.option("--rebuild", is_flag=True,
              help="Build the store afresh (swapped in when complete); use it if the store is corrupt.")
@click.option("--max-file-bytes", type=click.IntRange(1), default=None,
              help="Skip seed files larger than this, with a warning (default 20 MB, or $RAG_MAX_FILE_BYTES).")
@click.option("--watch", is_flag=True, help="Keep running: re-index whenever the seeds folder changes (Ctrl-C stops).")
@click.option("--debounce", type=click.FloatRange(0), default=2.0, show_default=True,
              help="With --watch: seconds the folder must stay unchanged before re-indexing.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="local", default=None, envvar="RAG_RAY_ADDRESS",
              metavar="[ADDRESS]",
              help="Encode on Ray (needs seed-rag[ray]): alone, a local Ray on this machine's cores; with HOST:PORT, "
                   "that cluster's head node (or $RAG_RAY_ADDRESS).")
@click.option("--ray-workers", type=click.IntRange(1), default=None,
              help="With --ray: encoder actors, one CPU each (default: one per CPU of the cluster).")
def index(seeds: str | None, index_dir: str | None, model: str | None, rerank_model: str | None, rebuild: bool,
          max_file_bytes: int | None, watch: bool, debounce: float, ray_address: str | None,
          ray_workers: int | None) -> None:
    """Index the seeds folder; only new or changed passages are encoded.

    \b
    Examples:
      rag index --seeds ~/notes --index-dir ~/.notes-index
      rag index --model all-mpnet-base-v2     # another model's vectors; the old ones are kept
      rag index --rerank-model all-mpnet-base-v2   # for rag ask --mode reranked
      rag index --watch                       # re-index on every change of seeds/
      rag index --ray                         # encode on a local Ray (pip install 'seed-rag[ray]')
      rag index --ray 10.0.0.5:6379           # encode on the Ray cluster whose head is there
    """
    with user_errors():
        config = _config(index_dir, seeds, model, rerank_model)
        if max_file_bytes is not None:
            config = config.replace(max_file_bytes=max_file_bytes)
        if ray_workers is not None and ray_address is None:
            raise click.UsageError("--ray-workers goes with --ray")
        if watch:
            if ray_address is not None:
                raise click.UsageError("--watch encodes in this process; run `rag index --ray` without --watch")
            _watch(config, debounce)
            return
        from rag.indexer import index_seeds

        if ray_address is None:
            _echo_report(index_seeds(config, progress=_progress_factory(), rebuild=rebuild))
            return
        from rag.ray_encode import RayEncoding

        with RayEncoding(ray_address, ray_workers) as on_ray:
            _echo_report(index_seeds(config, progress=_progress_factory(), rebuild=rebuild, encode=on_ray))


def _echo_report(report) -> None:
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"indexed: {report.summary()}")


def _watch(config: Config, debounce: float) -> None:
    from rag.watch import watch_seeds

    click.echo(f"watching {config.seeds_dir} (Ctrl-C stops)", err=True)
    try:
        watch_seeds(config, on_report=_echo_report, on_error=lambda exc: click.echo(f"rag: error: {exc}", err=True),
                    debounce=debounce, progress=_progress_factory())
    except KeyboardInterrupt:  # an interrupted run rolls back; the last generation stays
        click.echo("stopped watching", err=True)


@main.command()
@click.argument("question", required=False)
@index_dir_option
@click.option("-k", "k", type=click.IntRange(1, MAX_K), default=None,
              help=f"Number of citations, 1-{MAX_K} (default 5).")
@click.option("--mode", default=None, callback=lambda ctx, param, value: _mode(value), metavar="MODE[:ANSWERER]",
              help=f"Retrieval mode ({', '.join(MODES)}), optionally with the answer stage: "
                   f"{' or '.join(':' + a for a in ANSWERERS)} (default: the trained reader).")
@click.option("--model", default=None, help="Fail unless the index was built with this model.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per question.")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False),
              help="File of questions (lines or JSONL), answered in turn with the model loaded once.")
def ask(question: str | None, index_dir: str | None, k: int | None, mode: str | None, model: str | None,
        as_json: bool, questions: str | None) -> None:
    """Answer QUESTION from the indexed documents, citing passages.

    \b
    Examples:
      rag ask "Who succeeded Stoltenberg?"
      rag ask "When was NATO created?" --json -k 3
      rag ask --questions questions.jsonl --json
    """
    with user_errors():
        skipped: list[str] = []

        def skip(problem: str) -> None:
            click.echo(f"rag: error: {problem} (skipped)", err=True)
            skipped.append(problem)

        if questions:
            batch = read_question_lines(Path(questions), skip)
        elif question is None or not question.strip():
            raise click.UsageError('give a question, e.g. rag ask "Who succeeded Stoltenberg?", or --questions FILE')
        else:
            batch = [(None, question)]
        from rag.inputs import InputError
        from rag.qa import QA, QuestionError

        qa = QA(_config(index_dir, model=model))
        try:
            for where, q in batch:
                try:
                    answer = qa.ask(q, k=k, mode=mode)
                except (InputError, QuestionError) as exc:
                    if where is None:  # the question on the command line: its error is the command's
                        raise
                    skip(f"{where}: {exc}")
                    continue
                if as_json:
                    click.echo(answer.to_json())
                elif questions:  # several answers: each under its question, a blank line between
                    click.echo(f"Q: {q}\n{format_answer(answer)}\n")
                else:
                    click.echo(format_answer(answer))
        finally:
            qa.close()
        if skipped:
            click.echo(f"rag: error: {len(skipped)} line(s) of {questions} skipped", err=True)
            sys.exit(1)


def read_question_lines(path: Path, skip: Callable[[str], None]) -> list[tuple[str, object]]:
    """(where, question) of each question in a file: one per line, or JSON Lines with a "question" key.

    A line without one (not UTF-8, not JSON) goes to `skip` as "FILE:N: why" and the rest of the
    batch still runs; the question itself is checked where every question is (rag.inputs, QA).
    """
    out: list[tuple[str, object]] = []
    lines = 0
    # Bytes, decoded line by line: one bad byte costs its own line, not the whole file.
    for n, raw in enumerate(path.read_bytes().removeprefix(codecs.BOM_UTF8).splitlines(), 1):
        if not raw.strip():
            continue
        lines += 1
        where = f"{path}:{n}"
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            skip(f"{where}: not UTF-8 text (bad byte at column {exc.start + 1})")
            continue
        if not line.startswith("{"):
            out.append((where, line))
            continue
        try:
            item = parse_object(where, line, QuestionFileError, '{"question": ...}')
        except QuestionFileError as exc:
            skip(str(exc))
            continue
        if "question" not in item:
            skip(f'{where}: no "question" key')
            continue
        out.append((where, item["question"]))
    if not lines:
        raise QuestionFileError(f"{path} holds no questions")
    return out


def format_answer(answer) -> str:
    lines = [answer.text or "", ""]
    for n, c in enumerate(answer.citations, 1):
        snippet = c.text if len(c.text) <= 300 else c.text[:297] + "..."
        lines.append(f"[{n}] {c.title} ({c.location()}, score {c.score:.3f})")
        lines.append(f"    {snippet}")
    return "\n".join(lines)


def _auth_pair(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise click.BadParameter("expected USER:PASS, e.g. --auth alice:s3cret")
    return user, password


def _auth_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> tuple[str, str] | None:
    """USER:PASS from the file's first line, so the password is in no command line or shell history."""
    if value is None:
        return None
    try:
        first = value.read_text(encoding="utf-8-sig").splitlines()[:1]
        shared = value.stat().st_mode & 0o077
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {value} ({exc})") from None
    if shared:
        click.echo(f"warning: other users can read {value}; chmod 600 {value}", err=True)
    try:
        return _auth_pair(ctx, param, first[0] if first else "")
    except click.BadParameter:
        raise click.BadParameter(f"{value} must hold USER:PASS on its first line") from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 makes the page reachable from the network.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="Port to listen on.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Also answer requests for this host name (repeatable), e.g. the machine's name on the network; "
                   "requests naming any other host are refused (loopback names always work).")
@click.option("--auth", envvar="RAG_AUTH", default=None, metavar="USER:PASS", callback=_auth_pair,
              help="Require this user name and password, for the page and the API (or $RAG_AUTH).")
@click.option("--auth-file", type=click.Path(dir_okay=False, path_type=Path), default=None, callback=_auth_file,
              help="Like --auth, read from the first line of this file.")
@click.option("--share", is_flag=True, help="Also publish a public gradio.live link (needs internet; use with --auth).")
@click.option("--seeds", envvar="RAG_SEEDS_DIR", type=click.Path(), default=None,
              help="Seeds folder; uploads are saved here (default seeds/).")
@index_dir_option
@click.option("--workers", type=click.IntRange(1, 32), default=None,
              help="Questions answered at once (default 2); uploads and re-indexing never hold them up.")
def chat(host: str, port: int, allowed_hosts: tuple[str, ...], auth: tuple[str, str] | None,
         auth_file: tuple[str, str] | None, share: bool, seeds: str | None, index_dir: str | None,
         workers: int | None) -> None:
    """Serve the chat page: answers with cited, highlighted passages; document uploads.

    \b
    Examples:
      rag chat                                # http://127.0.0.1:7860
      rag chat --port 8080 --auth-file ~/.rag-auth   # the file holds alice:s3cret
      rag chat --host 0.0.0.0 --allowed-host notes.lan --auth-file ~/.rag-auth
    """
    with user_errors():
        if auth and auth_file:
            raise click.UsageError("give --auth (or $RAG_AUTH) or --auth-file, not both")
        auth = auth or auth_file
        config = _config(index_dir, seeds)
        if workers is not None:
            config = config.replace(chat_workers=workers)
        if not config.store_path.exists():
            from rag.indexer import index_seeds

            click.echo(f"no index in {config.index_dir} yet: indexing {config.seeds_dir} first", err=True)
            click.echo(f"indexed: {index_seeds(config, progress=_progress_factory()).summary()}", err=True)
        if share and auth is None:
            click.echo("warning: --share without --auth lets anyone with the link use the app", err=True)
        from ui.app import serve

        serve(config, host=host, port=port, auth=auth, share=share, echo=click.echo, allowed_hosts=allowed_hosts)


@main.command()
@index_dir_option
@click.option("--check", is_flag=True, help="Verify integrity; exit 1 with the problem if any.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(index_dir: str | None, check: bool, as_json: bool) -> None:
    """Show the index: generation, counts, model, dimension, time of last index.

    \b
    Example:
      rag status --check
    """
    with user_errors():
        from rag.status import check_index, index_status

        config = _config(index_dir)
        info = index_status(config)
        if as_json:
            click.echo(json.dumps(info, indent=2))
        else:
            for key, value in info.items():
                click.echo(f"{key}: {value}")
        stale = info["seeds_not_indexed"]
        if stale:
            shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
            seeds = Path(info["seeds_dir"])
            click.echo(f"warning: {len(stale)} files in {seeds} are not in the index ({shown}): "
                       f"run `{index_command(config.index_dir, seeds)}` (it names any file it skips)", err=True)
        if check:
            problems = check_index(config)
            for problem in problems:
                click.echo(f"rag: check failed: {problem}", err=True)
            if problems:
                sys.exit(1)
            # Intact but behind the seeds folder is not "ok": answers miss those files.
            click.echo("check: intact, but not up to date with the seeds folder" if stale else "check: ok")


@main.command(name="eval")
@click.argument("questions", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--corpus", type=click.Path(exists=True, path_type=Path), default=None,
              help="Folder of <doc_id>.txt files, or corpus.jsonl(.gz); indexed into its own cached index "
                   "under INDEX_DIR/eval/. Default: the seeds index.")
@index_dir_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=10, show_default=True,
              help="Passages retrieved per question (never fewer than 10: recall@10, nDCG@10).")
@click.option("--compare", default=None, metavar="MODES",
              help="Comma-separated modes side by side, e.g. bm25,dense,hybrid, or all (default: the configured mode).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for report.json, report.md and recall_at_k.png (default reports/<set name>).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the first N questions.")
def eval_(questions: Path, corpus: Path | None, index_dir: str | None, k: int, compare: str | None,
          report_dir: Path | None, limit: int | None) -> None:
    """Score a question file (JSON Lines): retrieval, answers, abstention, latency, per mode.

    \b
    Examples:
      rag eval eval/seed/questions.jsonl --compare bm25,dense,hybrid --report /tmp/r
      rag eval eval/xquad_en/questions.jsonl --corpus eval/xquad_en/corpus.jsonl.gz --compare all
    """
    with user_errors():
        from rag.corpus import corpus_name
        from rag.evaluate import run_eval
        from rag.report import markdown_table, write_report

        run = run_eval(questions, corpus=corpus, index_dir=index_dir, k=k, compare=compare, limit=limit,
                       log=lambda msg: click.echo(msg, err=True), encode_progress=_progress_factory())
        paths = write_report(run, report_dir or Path("reports") / corpus_name(questions))
        click.echo(markdown_table(run))
        click.echo(f"report: {', '.join(map(str, paths))}")


if __name__ == "__main__":
    main()
