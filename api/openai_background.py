"""Background prompts of chat UIs: title, tag, follow-up and query generation.

Chat UIs (Open WebUI, LibreChat, LobeChat, ...) send, besides the conversation, requests of
their own: "give this chat a title", "tag it", "suggest follow-ups". They are not turns of
the conversation and must neither be answered with recommendations nor touch the session.

They are recognised by their *structure*, not by one UI's wording. A request is background
when its instructions (system messages + the last user message) show

* a **form**: they embed a chat transcript (a ``<chat_history>``-like tag, or at least two
  role-labelled lines such as ``USER:`` / ``ASSISTANT:`` / ``||>User:``), or are written as
  an instruction template (at least two markdown headings such as ``### Task:``); and
* a **purpose**: they ask for JSON output with a named key (``{"title": ...}``), or talk
  about naming, tagging or summarising the conversation itself.

A person's message rarely has both. The answer is short and plain: the JSON shape asked for
(a title made from the transcript's first user request, a few generic tags, an empty
list or string for anything else: no follow-ups, no search queries) or, without a JSON
key, the title as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

_HISTORY_TAG = re.compile(r"<\s*/?\s*(chat_history|chat history|conversation|history|"
                          r"transcript|messages)\s*>", re.I)
_ROLE_LINE = re.compile(r"^\s*(?:\|\|>|\*\*|-\s+)?\s*(user|assistant|human|ai|system|response|"
                        r"bot)\s*(?:\*\*)?\s*:", re.I | re.M)
_HEADING = re.compile(r"^\s{0,3}#{1,4}\s*[A-Za-z][\w /-]{0,40}:?\s*$", re.M)
_JSON_KEY = re.compile(r'\{\s*"([A-Za-z_][A-Za-z0-9_]{0,40})"\s*:')
_PURPOSE = re.compile(r"\b(titles?|tags?|follow[- ]?ups?|summar(?:y|ise|ize)|categori[sz]e|"
                      r"name (?:this|the) (?:chat|conversation))\b", re.I)
_ABOUT_CHAT = re.compile(r"\b(chat|conversation|dialogue|history|messages?)\b", re.I)
_USER_LINE = re.compile(r"^\s*(?:\|\|>|\*\*|-\s+)?\s*(?:user|human)\s*(?:\*\*)?\s*:\s*(.*)$",
                        re.I | re.M)


def is_background(instructions: Sequence[str]) -> bool:
    text = "\n".join(instructions)
    transcript = bool(_HISTORY_TAG.search(text)) or len(_ROLE_LINE.findall(text)) >= 2
    template = len(_HEADING.findall(text)) >= 2
    if not (transcript or template):
        return False
    wants_json = "json" in text.lower() and _JSON_KEY.search(text) is not None
    about_chat = bool(_PURPOSE.search(text)) and bool(_ABOUT_CHAT.search(text))
    return wants_json or about_chat


def _title(text: str, fallback: str) -> str:
    for line in _USER_LINE.findall(text):
        words = re.findall(r"[\w'-]+", line.strip().strip('"'))
        if words:
            return " ".join(w if w[:1].isupper() or w[:1].isdigit() else w.capitalize()
                            for w in words[:5])
    return fallback


def background_answer(instructions: Sequence[str], noun_plural: str) -> str:
    """The short plain answer to a background prompt."""
    text = "\n".join(instructions)
    fallback = noun_plural.capitalize() + " Recommendations"
    title = _title(text, fallback)
    match = _JSON_KEY.search(text) if "json" in text.lower() else None
    if match is None:
        return title
    key = match.group(1)
    if key == "title":
        return json.dumps({"title": title})
    if key == "tags":
        return json.dumps({"tags": [noun_plural.capitalize(), "Recommendations"]})
    return json.dumps({key: [] if key.endswith("s") else ""})
