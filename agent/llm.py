"""The LLM seam: any LangChain ``BaseChatModel``; built from the settings here.

``RECAGENT_LLM=openai:<model>`` -> ``langchain_openai.ChatOpenAI`` against
``RECAGENT_LLM_BASE_URL`` (OpenAI, vLLM, Ollama, llama.cpp, LM Studio: any OpenAI-compatible
server), Chat Completions API (``use_responses_api=False``), no client-side retries (a failed
call falls back to the rules planner for that turn instead), ``RECAGENT_LLM_TIMEOUT_S``.
``RECAGENT_LLM=rules`` -> the offline :class:`agent.rules.RulesPlanner`, which needs the
catalog's :class:`agent.vocabulary.Vocabulary`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel

from recagent.settings import Settings

if TYPE_CHECKING:
    from agent.vocabulary import Vocabulary


# what one call may generate: a plan is a few hundred tokens, a reply a few sentences
MAX_OUTPUT_TOKENS = 1024


def is_rules(model: BaseChatModel) -> bool:
    from agent.rules import RulesPlanner

    return isinstance(model, RulesPlanner)


def backend_name(model: BaseChatModel) -> str:
    """ "rules", "openai:<model>", or the LangChain ``_llm_type`` of anything else."""
    if is_rules(model):
        return "rules"
    name = getattr(model, "model_name", None) or getattr(model, "model", None)
    kind = getattr(model, "_llm_type", type(model).__name__)
    if kind == "openai-chat" and name:
        return f"openai:{name}"
    return f"{kind}:{name}" if isinstance(name, str) and name else str(kind)


def make_chat_model(settings: Settings, *, vocabulary: Vocabulary | None = None) -> BaseChatModel:
    """The chat model the settings ask for (``vocabulary`` is required for ``rules``)."""
    model = settings.llm_model
    if model is None:
        from agent.rules import RulesPlanner

        if vocabulary is None:
            raise ValueError("the rules planner needs the catalog vocabulary")
        return RulesPlanner(vocabulary=vocabulary)
    from langchain_openai import ChatOpenAI

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    # local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one
    return ChatOpenAI(
        model=model,
        base_url=settings.llm_base_url,
        api_key=key or "not-needed",  # type: ignore[arg-type]
        timeout=settings.llm_timeout_s,
        max_retries=0,
        use_responses_api=False,
        stream_usage=True,
        temperature=0,
        max_completion_tokens=MAX_OUTPUT_TOKENS,
    )
