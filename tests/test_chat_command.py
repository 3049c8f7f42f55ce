"""`make chat` / `rag chat`: the real commands serve the page, and say clearly when they cannot."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request

import pytest
from processes import stop_group, wait_for_line

from conftest import ROOT, invoke_rag, run_rag
from ui.screenshot import free_port

STARTUP_SECONDS = 240  # indexing + model load on a shared 2-core machine


def test_make_chat_indexes_then_serves_the_page(tmp_path, seeds_copy):
    port = free_port()
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_SEEDS_DIR": str(seeds_copy)}
    # -o: the venv is set up already (make test did it); the test is about what `chat` runs.
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "chat", f"CHAT_PORT={port}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        lines = wait_for_line(proc, f"seed-rag chat: {url}", time.monotonic() + STARTUP_SECONDS)
        assert any(line.startswith("indexed: 1 documents (1 new") for line in lines)
        with urllib.request.urlopen(url) as page:
            assert page.status == 200 and b"<html" in page.read()
        with urllib.request.urlopen(url + "config") as config:
            assert json.load(config)["title"] == "seed-rag"
    finally:
        stop_group(proc)
    assert (tmp_path / "index" / "store.sqlite").exists()


def test_chat_on_a_taken_port_says_so(seed_config):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_rag("chat", "--port", str(port), "--index-dir", str(seed_config.index_dir),
                         "--seeds", str(seed_config.seeds_dir), timeout=180)
    assert result.returncode == 1
    assert f"rag: error: cannot serve on 127.0.0.1:{port}" in result.stderr
    assert f"pass another --port (make chat CHAT_PORT={port + 1} with make)" in result.stderr
    assert "Traceback" not in result.stderr


def test_chat_rejects_malformed_auth():
    result = invoke_rag("chat", "--auth", "alice")
    assert result.returncode == 2
    assert "expected USER:PASS" in result.stderr


def test_make_chat_is_documented_first_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = [line.split("#")[0].strip() for line in readme.split("```bash", 1)[1].split("```", 1)[0].splitlines()]
    assert [c for c in commands if c][:2] == ["make chat", "make test"]
    assert (ROOT / "docs" / "chat.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "docs/chat.png" in readme


def test_make_setup_takes_a_torch_index_and_installs_chromium_when_missing():
    def setup_commands(*args: str) -> str:
        done = subprocess.run(["make", "-n", "-B", ".venv/.installed", *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    cpu = "https://download.pytorch.org/whl/cpu"
    assert f"pip install --quiet torch==2.13.0 --index-url {cpu}\n" in setup_commands(f"TORCH_INDEX={cpu}")
    default = setup_commands()
    assert "pip install --quiet torch==2.13.0 \n" in default  # pip's own index unless asked
    assert "command -v chromium >/dev/null 2>&1 || if" in default and "apt-get install -y -q chromium" in default
    assert f"make setup TORCH_INDEX={cpu}" in (ROOT / "README.md").read_text(encoding="utf-8")


def chat_options(tmp_path, monkeypatch, *args: str, env: dict[str, str] | None = None):
    """What `rag chat ARGS` hands the server (serve() is replaced), and the CLI's result."""
    from click.testing import CliRunner

    import ui.app
    from rag.cli import main

    served: dict = {}
    monkeypatch.setattr(ui.app, "serve", lambda config, **options: served.update(options))
    (tmp_path / "index").mkdir(exist_ok=True)
    (tmp_path / "index" / "store.sqlite").touch()  # an index exists: chat does not build one first
    result = CliRunner().invoke(main, ["chat", "--index-dir", str(tmp_path / "index"), *args], env=env or {})
    return served, result


def test_chat_reads_the_password_from_a_file_or_the_environment(tmp_path, monkeypatch):
    # Old code had neither: "No such option: --auth-file", and RAG_AUTH was ignored.
    secret = tmp_path / "auth"
    secret.write_text("alice:s3:cret\n")
    secret.chmod(0o600)
    served, result = chat_options(tmp_path, monkeypatch, "--auth-file", str(secret))
    assert result.exit_code == 0 and served["auth"] == ("alice", "s3:cret") and result.stderr == ""
    served, result = chat_options(tmp_path, monkeypatch, env={"RAG_AUTH": "bob:hunter2"})
    assert result.exit_code == 0 and served["auth"] == ("bob", "hunter2")
    secret.chmod(0o644)
    served, result = chat_options(tmp_path, monkeypatch, "--auth-file", str(secret))
    assert served["auth"] == ("alice", "s3:cret") and f"warning: other users can read {secret}" in result.stderr


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["--auth-file", "{dir}/auth"], {"RAG_AUTH": "bob:hunter2"}, "give --auth (or $RAG_AUTH) or --auth-file, not both"),
        (["--auth-file", "{dir}/empty"], {}, "{dir}/empty must hold USER:PASS on its first line"),
        (["--auth-file", "{dir}/missing"], {}, "cannot read {dir}/missing"),
    ],
)
def test_chat_auth_mistakes_are_one_line(tmp_path, monkeypatch, args, env, message):
    (tmp_path / "auth").write_text("alice:s3cret\n")
    (tmp_path / "empty").write_text("\n")
    served, result = chat_options(tmp_path, monkeypatch, *(a.format(dir=tmp_path) for a in args), env=env)
    assert result.exit_code != 0 and served == {}
    assert message.format(dir=tmp_path) in result.stderr and "Traceback" not in result.stderr


def test_chat_passes_each_allowed_host_to_the_server(tmp_path, monkeypatch):
    served, result = chat_options(tmp_path, monkeypatch, "--host", "0.0.0.0", "--allowed-host", "notes.lan",
                                  "--allowed-host", "notes")
    assert result.exit_code == 0 and served["allowed_hosts"] == ("notes.lan", "notes") and served["host"] == "0.0.0.0"
