"""The LLM seam: any LangChain ``BaseChatModel``; built from the settings here.

``RECAGENT_LLM`` selects it:

- ``rules`` -> the offline :class:`agent.rules.RulesPlanner` (needs the catalog's
  :class:`agent.vocabulary.Vocabulary`).
- ``<provider>:<model>`` -> LangChain's ``init_chat_model`` (``openai:gpt-4o-mini``,
  ``ollama:qwen2.5``, ``anthropic:claude-...``, ``groq:...``, ``mistralai:...``): any provider
  whose integration package is installed; when it is not, :class:`LLMConfigError` names the
  package to ``pip install``. ``openai:`` with ``RECAGENT_LLM_BASE_URL`` reaches any
  OpenAI-compatible server (vLLM, llama.cpp, LM Studio, Ollama's ``/v1``).
- ``custom:<name>[:<model>]`` -> the factory a package registers under the entry-point group
  ``recagent.chat_models`` as ``<name>``: ``factory(settings=..., model=...)`` returns a
  ``BaseChatModel``.

The model settings (``RECAGENT_LLM_BASE_URL``, ``RECAGENT_LLM_API_KEY``,
``RECAGENT_LLM_TIMEOUT_S``, ``RECAGENT_LLM_MAX_TOKENS``, ``RECAGENT_LLM_TEMPERATURE``,
``RECAGENT_LLM_MAX_RETRIES``) are passed as LangChain's standard chat-model parameters;
retries with exponential backoff on 429/5xx are the provider client's own (``max_retries``).
A model that cannot bind tools is still usable: the planner lists the tools in its prompt
and reads the tool calls the model writes as text (:mod:`agent.tool_text`).
"""

from __future__ import annotations

import importlib.metadata as importlib_metadata
import inspect
import logging
from typing import TYPE_CHECKING, Any

from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel

from agent.rules import RulesPlanner
from recagent.settings import Settings

if TYPE_CHECKING:
    from agent.vocabulary import Vocabulary

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "recagent.chat_models"
CUSTOM = "custom"

# what one call may generate by default: a plan is a few hundred tokens, a reply a few sentences
MAX_OUTPUT_TOKENS = 1024

_PROBE_TOOL = {
    "type": "function",
    "function": {"name": "probe", "description": "probe",
                 "parameters": {"type": "object", "properties": {}}},
}


class LLMConfigError(ValueError):
    """The configured model cannot be built; the message says what to change or install."""


def is_rules(model: BaseChatModel) -> bool:
    return isinstance(model, RulesPlanner)


_KINDS = {"openai-chat": "openai", "chat-ollama": "ollama", "anthropic-chat": "anthropic"}


def backend_name(model: BaseChatModel) -> str:
    """ "rules", "openai:<model>", "ollama:<model>", or ``<_llm_type>:<model>``."""
    if is_rules(model):
        return "rules"
    name = getattr(model, "model_name", None) or getattr(model, "model", None)
    kind = getattr(model, "_llm_type", type(model).__name__)
    kind = _KINDS.get(kind, kind)
    return f"{kind}:{name}" if isinstance(name, str) and name else str(kind)


def binds_tools(model: BaseChatModel) -> bool:
    """Whether ``model`` takes tool schemas natively (``bind_tools``)."""
    try:
        model.bind_tools([_PROBE_TOOL])
    except Exception:  # NotImplementedError from BaseChatModel, or a provider's refusal
        return False
    return True


def tool_calling_line(model: BaseChatModel) -> str:
    """One line for the start-up log: how this model's plans are read."""
    name = backend_name(model)
    if binds_tools(model):
        return f"LLM {name}: native tool calls (tool calls written as text are read too)"
    return (f"LLM {name}: cannot bind tools; the planner lists the tools in its prompt and "
            "reads the tool calls the model writes as text (<tool_call>{...}</tool_call> or "
            "JSON); a plan that cannot be read is replaced by the offline planner's")


def _api_key(settings: Settings, provider: str) -> str | None:
    key = settings.llm_api_key or (settings.openai_api_key if provider == "openai" else None)
    return key.get_secret_value() if key is not None else None


def provider_kwargs(settings: Settings, provider: str) -> dict[str, Any]:
    """The constructor arguments for ``provider``: LangChain's standard chat-model
    parameters, translated where an integration names them differently."""
    key = _api_key(settings, provider)
    if provider == "openai":
        return {
            "base_url": settings.llm_base_url,
            # local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one
            "api_key": key or "not-needed",
            "timeout": settings.llm_timeout_s,
            "max_retries": settings.llm_max_retries,
            "use_responses_api": False,
            "stream_usage": True,
            "temperature": settings.llm_temperature,
            "max_completion_tokens": settings.llm_max_tokens,
        }
    if provider == "ollama":  # ChatOllama: num_predict, httpx client options, no retries
        client: dict[str, Any] = {"timeout": settings.llm_timeout_s}
        if key:
            client["headers"] = {"Authorization": f"Bearer {key}"}
        out: dict[str, Any] = {
            "temperature": settings.llm_temperature,
            "num_predict": settings.llm_max_tokens,
            "client_kwargs": client,
        }
        if settings.llm_base_url:
            out["base_url"] = settings.llm_base_url
        return out
    out = {
        "temperature": settings.llm_temperature,
        "max_tokens": settings.llm_max_tokens,
        "timeout": settings.llm_timeout_s,
        "max_retries": settings.llm_max_retries,
    }
    if key:
        out["api_key"] = key
    if settings.llm_base_url:
        out["base_url"] = settings.llm_base_url
    return out


def _custom(settings: Settings) -> BaseChatModel:
    name, _, model = (settings.llm_model or "").partition(":")
    eps = {ep.name: ep for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)}
    ep = eps.get(name)
    if ep is None:
        installed = ", ".join(sorted(eps)) or "none"
        raise LLMConfigError(
            f"RECAGENT_LLM={settings.llm}: no chat model {name!r} registered under the entry "
            f"point group {ENTRY_POINT_GROUP!r} (installed: {installed})")
    try:
        factory = ep.load()
        built = factory(settings=settings, model=model or None)
    except Exception as exc:
        raise LLMConfigError(
            f"RECAGENT_LLM={settings.llm}: the factory {ep.value} failed: "
            f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(built, BaseChatModel):
        raise LLMConfigError(
            f"RECAGENT_LLM={settings.llm}: the factory {ep.value} returned "
            f"{type(built).__name__}, not a LangChain BaseChatModel")
    return built


def make_chat_model(settings: Settings, *, vocabulary: Vocabulary | None = None) -> BaseChatModel:
    """The chat model the settings ask for (``vocabulary`` is required for ``rules``).
    Raises :class:`LLMConfigError` naming the package to install or the setting to fix."""
    provider, model = settings.llm_provider, settings.llm_model
    if provider is None or model is None:
        if vocabulary is None:
            raise ValueError("the rules planner needs the catalog vocabulary")
        return RulesPlanner(vocabulary=vocabulary)
    if provider == CUSTOM:
        return _custom(settings)
    try:
        built = init_chat_model(model, model_provider=provider,
                                **provider_kwargs(settings, provider))
    except ImportError as exc:
        # LangChain's message names the package ("pip install langchain-ollama")
        raise LLMConfigError(f"RECAGENT_LLM={settings.llm}: {exc}") from None
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0]
        raise LLMConfigError(
            f"RECAGENT_LLM={settings.llm}: {first} (see docs/llm.md; or register a "
            f"factory under the entry point group {ENTRY_POINT_GROUP!r} and use "
            f"custom:<name>)") from None
    if not isinstance(built, BaseChatModel):
        raise LLMConfigError(f"RECAGENT_LLM={settings.llm}: not a chat model")
    return built


# where integrations keep their HTTP clients: ChatOpenAI (root_/async_client), ChatOllama
# (_async_client/_client wrapping an httpx client in ``_client``)
_CLIENT_ATTRS = ("root_async_client", "async_client", "_async_client", "root_client", "client",
                 "_client")


async def close_chat_model(model: BaseChatModel) -> None:
    """Close the connection pools a chat model holds (best effort, sync or async close)."""
    seen: set[int] = set()
    for attr in _CLIENT_ATTRS:
        client = getattr(model, attr, None)
        for obj in (client, getattr(client, "_client", None)):
            if obj is None or id(obj) in seen or isinstance(obj, (str, int, dict)):
                continue
            seen.add(id(obj))
            close = getattr(obj, "aclose", None) or getattr(obj, "close", None)
            if not callable(close):
                continue
            try:
                done = close()
                if inspect.isawaitable(done):
                    await done
            except Exception as exc:  # closing is best effort
                log.debug("closing %s failed: %s", attr, exc)
