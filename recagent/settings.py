"""Settings: the one place that reads the environment (prefix ``RECAGENT_``).

Read once, at start-up, with :func:`load_settings`. Nothing reads the environment at
import time. An unusable value raises :class:`SettingsError` naming the variable.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "RECAGENT_"


class SettingsError(ValueError):
    """A configuration value cannot be used; the message names the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False, frozen=True
    )

    database_url: str = "sqlite:///var/recagent.db"
    redis_url: str | None = None
    llm: str = "rules"
    llm_base_url: str | None = None
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("RECAGENT_OPENAI_API_KEY", "OPENAI_API_KEY"),
    )
    llm_timeout_s: float = Field(default=20.0, gt=0)
    # the model behind RECAGENT_LLM=<provider>:<model> (agent/llm.py, docs/llm.md): a key for
    # any provider (OPENAI_API_KEY stays the fallback of openai:), what one call may generate,
    # sampling temperature, retries with backoff on 429/5xx where the provider's client has them
    llm_api_key: SecretStr | None = None
    llm_max_tokens: int = Field(default=1024, ge=16, le=32_768)
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    # turns running at once per process (api/admission.py); unset: by backend
    max_concurrent_turns: int | None = Field(default=None, ge=1, le=4096)
    model_dir: Path = Path("var/models")
    admin_api_key: SecretStr | None = None
    # identity (api/identity.py): server-to-server keys, kept only as sha256 digests
    # ((tenant, hex digest) pairs); the widget's HMAC secret; consent to serve without either
    # on a non-loopback address
    api_keys: Annotated[tuple[tuple[str, str], ...], NoDecode] = ()
    widget_secret: SecretStr | None = None
    allow_unauthenticated: bool = False
    plugins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_message_chars: int = Field(default=2000, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)  # any request body, while read
    max_reflections: int = Field(default=2, ge=0, le=10)
    session_ttl_s: int = Field(default=86_400, ge=1)
    session_max_bytes: int = Field(default=65_536, ge=4096)
    rate_limit_per_minute: int = Field(default=120, ge=0)
    recommendations_per_turn: int = Field(default=10, ge=1, le=100)
    # what the catalog holds, in the words replies use ("movie", "book", "product")
    item_noun: str = Field(default="item", min_length=1, max_length=40)
    item_noun_plural: str | None = Field(default=None, max_length=40)
    # what one does with an item ("watch", "read", "buy"); unset: from the noun
    # (agent/item_verbs.json), "try" for a noun not listed there
    item_verb: str | None = Field(default=None, max_length=40)
    # the language messages are read in (word frequencies of the offline planner)
    language: str = Field(default="en", min_length=2, max_length=8)
    demonstrations_k: int = Field(default=3, ge=0, le=20)
    learn_demonstrations: bool = False
    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    seed: int = 42

    @field_validator("plugins", "cors_origins", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _hash_keys(cls, value: Any) -> Any:
        """``tenant:key`` or ``key`` (tenant ``default``), comma separated; a key may be
        given as ``sha256:<64 hex>`` (its digest) so that the plain key is never in the
        environment. Only digests are kept."""
        if value is None or value == "":
            return ()
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        out: list[tuple[str, str]] = []
        for entry in value:
            if isinstance(entry, (tuple, list)):  # already parsed (tenant, digest)
                out.append((str(entry[0]), str(entry[1])))
                continue
            text = str(entry)
            tenant, key = "default", text
            if text.count(":") >= 1 and not text.startswith("sha256:"):
                tenant, key = text.split(":", 1)
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", tenant):
                raise ValueError("a tenant is 1-64 of A-Za-z0-9_.-")
            if key.startswith("sha256:") and re.fullmatch(r"[0-9a-f]{64}", key[7:]):
                out.append((tenant, key[7:]))
                continue
            if len(key) < 16:
                raise ValueError("an API key must have at least 16 characters")
            out.append((tenant, hashlib.sha256(key.encode()).hexdigest()))
        return tuple(out)

    @field_validator("widget_secret")
    @classmethod
    def _check_widget_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 16:
            raise ValueError("the widget secret must have at least 16 characters")
        return value

    @property
    def identity_configured(self) -> bool:
        """API keys or a widget secret are set: user ids must be proven."""
        return bool(self.api_keys) or self.widget_secret is not None

    @field_validator("llm")
    @classmethod
    def _check_llm(cls, value: str) -> str:
        """``rules``, ``<provider>:<model>`` (any provider LangChain's ``init_chat_model``
        knows; whether its package is installed is checked when the model is built), or
        ``custom:<entry point name>[:<model>]``."""
        value = value.strip()
        if value == "rules" or re.fullmatch(r"[a-z][a-z0-9_-]*:\S.*", value):
            return value
        raise ValueError("expected 'rules', '<provider>:<model>' (openai:gpt-4o-mini, "
                         "ollama:qwen2.5) or 'custom:<name>'")

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("expected a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis:// URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value

    @property
    def llm_provider(self) -> str | None:
        """``openai``, ``ollama``, ``custom``, ...; None for the rules planner."""
        return None if self.llm == "rules" else self.llm.split(":", 1)[0]

    @property
    def llm_model(self) -> str | None:
        """The model name after the provider (None for the rules planner)."""
        return None if self.llm == "rules" else self.llm.split(":", 1)[1]

    def plugin_selected(self, name: str) -> bool:
        return "*" in self.plugins or name in self.plugins


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (plus explicit overrides), once, at the edge."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            var = field if field.isupper() else ENV_PREFIX + field.upper()
            problems.append(f"{var}: {err['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
