"""Structured logs with the request id; ``recagent serve`` in a real subprocess;
``docker compose config`` on the compose file."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from api.logs import JsonFormatter, request_id_var
from recagent.settings import Settings
from tests.api.support import free_port

ROOT = Path(__file__).resolve().parents[2]


async def test_access_log_is_json_with_the_request_id(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="recagent.access"):
        r = await client.get("/v1/items", params={"q": "alien"},
                             headers={"X-Request-ID": "req-42"})
    assert r.status_code == 200
    records = [rec for rec in caplog.records if rec.name == "recagent.access"]
    assert records
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == "req-42"
    assert line["path"] == "/v1/items" and line["status"] == 200 and line["method"] == "GET"
    assert line["level"] == "INFO" and isinstance(line["duration_ms"], float)


def test_formatter_takes_the_request_id_from_the_context() -> None:
    token = request_id_var.set("ctx-7")
    try:
        record = logging.makeLogRecord({"name": "x", "levelno": 30, "levelname": "WARNING",
                                        "msg": "hello %s", "args": ("there",)})
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line == {**line, "msg": "hello there", "request_id": "ctx-7", "level": "WARNING"}


def _wait_ready(proc: subprocess.Popen[str], url: str, what: str) -> None:
    """Poll /readyz until 200 (60 s at most); fail with the output if the process dies."""
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{what} did not become ready"
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[str]) -> str:
    """Ctrl+C the server (killed after 20 s) and return everything it printed."""
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


@pytest.mark.slow
def test_recagent_serve_runs_the_app_under_uvicorn(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECAGENT_")}
    env.update(RECAGENT_DATABASE_URL=settings.database_url,
               RECAGENT_MODEL_DIR=str(settings.model_dir), RECAGENT_PLUGINS="",
               OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "recagent", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(proc, url, "server")
        r = httpx.post(url + "/v1/chat", json={"message": "a 90s comedy"}, timeout=30)
        assert r.status_code == 200 and r.json()["recommendations"]
        page = httpx.get(url + "/")
        assert page.status_code == 200 and 'src="/widget.js"' in page.text
        widget = httpx.get(url + "/widget.js")
        assert widget.headers["content-type"].startswith("text/javascript")
        assert "/v1/chat/stream" in widget.text
    finally:
        out = _stop(proc)
    logs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    access = [entry for entry in logs if entry.get("logger") == "recagent.access"]
    assert any(entry["path"] == "/v1/chat" and entry["status"] == 200 and entry["request_id"]
               for entry in access)


@pytest.mark.slow
def test_recagent_demo_prepares_then_serves_the_widget(tmp_path: Path) -> None:
    """The README's main command on a fresh machine: import + train, then a chat works."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECAGENT_")}
    env.update(RECAGENT_DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}",
               RECAGENT_MODEL_DIR=str(tmp_path / "models"), RECAGENT_PLUGINS="",
               OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    prep = subprocess.run([sys.executable, "-m", "recagent", "demo", "--no-serve"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert prep.returncode == 0, prep.stderr
    assert "demo prepared" in prep.stdout
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "recagent", "demo", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(proc, url, "demo server")
        assert 'src="/widget.js"' in httpx.get(url + "/").text
        r = httpx.post(url + "/v1/chat", json={"message": "a 90s thriller like Heat"},
                       timeout=30)
        assert r.status_code == 200 and r.json()["recommendations"]
    finally:
        out = _stop(proc)
    assert "already prepared" in out
    assert f"open http://127.0.0.1:{port}" in out


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_docker_compose_config_is_valid() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    yaml = pytest.importorskip("yaml")
    for profiles in ([], ["--profile", "llm"]):
        r = subprocess.run([*command, "-f", str(ROOT / "docker-compose.yml"), *profiles,
                            "config"], capture_output=True, text=True, cwd=ROOT, timeout=60,
                           env={k: v for k, v in os.environ.items()
                                if not k.startswith("RECAGENT_")})
        assert r.returncode == 0, r.stderr
        services = yaml.safe_load(r.stdout)["services"]
        assert {"api", "redis", "postgres"} <= set(services)
        for name in ("api", "redis", "postgres"):
            assert services[name]["healthcheck"]["test"], name
            assert services[name]["volumes"], name
        env = services["api"]["environment"]
        assert env["RECAGENT_REDIS_URL"] == "redis://redis:6379/0"
        assert env["RECAGENT_DATABASE_URL"].startswith("postgresql://")
        assert env["RECAGENT_LLM"] == "rules"
        assert set(services["api"]["depends_on"]) == {"postgres", "redis"}
        # the local LLM server is opt-in: only under the `llm` profile
        if "ollama" in services:
            assert services["ollama"].get("profiles") == ["llm"] or profiles


def test_recagent_serve_with_the_database_down_says_so_in_one_line() -> None:
    from tests.api.support import free_port

    port = free_port()  # nothing listens there: a PostgreSQL that is down
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECAGENT_")}
    env.update(RECAGENT_DATABASE_URL=f"postgresql://recagent@127.0.0.1:{port}/catalog",
               RECAGENT_PLUGINS="", OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "recagent", "serve", "--port", "0"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "database 'catalog' is unreachable" in lines[0], done.stderr
    assert "Traceback" not in done.stdout + done.stderr
