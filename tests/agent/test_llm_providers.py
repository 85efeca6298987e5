"""Provider-neutral model construction (issue 11): ``RECAGENT_LLM=<provider>:<model>`` through
``init_chat_model``, a second provider for real (``ollama:`` via ``langchain-ollama`` against a
stub of Ollama's API), a custom chat model from an entry point, a model that cannot bind
tools, retries on 429, and a missing integration package stopping ``recagent serve``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.llm import LLMConfigError, make_chat_model
from agent.service import Agent
from api.admission import turn_limit
from recagent.settings import load_settings
from tests.agent.conftest import AgentFactory
from tests.ollama_stub import OllamaStub
from tests.openai_stub import OpenAIStub, StubError, StubReply

ROOT = Path(__file__).resolve().parents[2]
WESTERNS = StubReply(tool_calls=[("filter_items", {"categories_all": ["Western"]}),
                                 ("rank_by_popularity", {"by": "popularity"})])


async def test_ollama_provider_plans_and_writes_the_reply(make_agent: AgentFactory) -> None:
    with OllamaStub() as ollama:
        ollama.push(WESTERNS, StubReply(content="Ten westerns, the best known first."))
        agent: Agent = await make_agent(settings_overrides={
            "llm": "ollama:qwen-stub", "llm_base_url": ollama.base_url, "llm_max_tokens": 300})
        result = await agent.turn("some westerns")
    assert result.reply == "Ten westerns, the best known first."
    assert len(result.recommendations) == 10
    assert all("Western" in r.categories for r in result.recommendations)
    assert not result.trace["fallbacks"] and result.trace["backend"] == "ollama:qwen-stub"
    plan, reply = ollama.requests
    assert plan["model"] == "qwen-stub"
    assert {t["function"]["name"] for t in plan["tools"]} >= {"filter_items", "lookup_items"}
    assert plan["options"]["num_predict"] == 300 and not reply.get("tools")
    assert ollama.unexpected == 0 and set(ollama.paths) == {"/api/chat"}


async def test_ollama_tool_calls_written_as_text_are_run(make_agent: AgentFactory) -> None:
    tagged = ('<tool_call>{"name": "filter_items", "arguments": {"categories_all": '
              '["Western"]}}</tool_call>')
    with OllamaStub() as ollama:
        ollama.push(StubReply(content=tagged), StubReply(content="Some westerns for you."))
        agent: Agent = await make_agent(settings_overrides={
            "llm": "ollama:qwen-stub", "llm_base_url": ollama.base_url})
        result = await agent.turn("some westerns")
    assert result.reply == "Some westerns for you." and "tool_call" not in result.reply
    assert result.recommendations and all("Western" in r.categories
                                          for r in result.recommendations)


def _install_custom_model(root: Path, monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    """A package on sys.path exposing a factory under ``recagent.chat_models``: an
    OpenAI-compatible client whose ``bind_tools`` is not implemented (like many custom
    LangChain models)."""
    (root / "my_chat.py").write_text(textwrap.dedent(f"""
        from langchain_openai import ChatOpenAI

        class NoTools(ChatOpenAI):
            def bind_tools(self, tools, **kwargs):
                raise NotImplementedError

        def make(settings, model=None):
            return NoTools(model=model or "plain", base_url={base_url!r}, api_key="x",
                           max_retries=0, use_responses_api=False)
    """))
    dist = root / "my_chat-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-chat\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[recagent.chat_models]\nmine = my_chat:make\n")
    monkeypatch.syspath_prepend(str(root))


async def test_custom_model_without_tool_binding_plans_in_text(
        make_agent: AgentFactory, stub: OpenAIStub, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _install_custom_model(tmp_path, monkeypatch, stub.base_url)
    tagged = ('<tool_call>{"name": "filter_items", "arguments": {"categories_all": '
              '["Western"]}}</tool_call>')
    stub.push(StubReply(content=tagged), StubReply(content="Westerns, as asked."))
    agent: Agent = await make_agent(settings_overrides={"llm": "custom:mine:plain-7b"})
    result = await agent.turn("some westerns")
    assert result.reply == "Westerns, as asked."
    assert result.recommendations and all("Western" in r.categories
                                          for r in result.recommendations)
    plan = stub.requests[0]
    assert plan["model"] == "plain-7b" and "tools" not in plan
    assert any("<tool_call>" in str(m["content"]) and "filter_items" in str(m["content"])
               for m in plan["messages"] if m["role"] == "system")


def test_custom_name_not_registered_is_a_clear_error() -> None:
    with pytest.raises(LLMConfigError, match="recagent.chat_models"):
        make_chat_model(load_settings(llm="custom:nothing-here", plugins=""))


def test_a_provider_without_its_package_names_the_package() -> None:
    with pytest.raises(LLMConfigError, match="pip install langchain-anthropic"):
        make_chat_model(load_settings(llm="anthropic:claude-test", plugins=""))


def test_recagent_serve_without_the_provider_package_says_so_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECAGENT_")}
    env.update(RECAGENT_DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}",
               RECAGENT_LLM="anthropic:claude-test", RECAGENT_PLUGINS="",
               OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "recagent", "serve", "--port", "0"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install langchain-anthropic" in lines[0], done.stderr
    assert "Traceback" not in done.stdout + done.stderr


async def test_a_429_is_retried_with_backoff_not_given_up(make_agent: AgentFactory,
                                                          stub: OpenAIStub) -> None:
    stub.push(StubError(429, "rate limited"), WESTERNS, StubError(503),
              StubReply(content="Westerns it is."))
    agent: Agent = await make_agent(settings_overrides={
        "llm": "openai:stub-model", "llm_base_url": stub.base_url, "llm_max_retries": 2})
    result = await agent.turn("some westerns")
    assert result.reply == "Westerns it is." and not result.trace["fallbacks"]
    assert all("Western" in r.categories for r in result.recommendations)
    assert len(stub.requests) == 4 and stub.unexpected == 0


def test_turn_gate_follows_the_backend() -> None:
    assert turn_limit(load_settings(plugins="")) == 2  # the CPU-bound offline planner
    remote = turn_limit(load_settings(llm="ollama:qwen2.5", plugins=""))
    assert remote >= 32
    assert turn_limit(load_settings(llm="ollama:qwen2.5", max_concurrent_turns=5)) == 5
