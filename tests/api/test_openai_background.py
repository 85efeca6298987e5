"""Background prompts of chat UIs are recognised by their structure, not one UI's wording."""

from __future__ import annotations

import json

import pytest

from api.openai_background import background_answer, is_background

HISTORY = "USER: a 90s thriller like Heat\nASSISTANT: Try Ronin (1998) and The Negotiator."

OPEN_WEBUI_TAGS = f"""### Task:
Generate 1-3 broad tags categorizing the main themes of the chat history, along with 1-3 \
more specific subtopic tags.

### Guidelines:
- Start with high-level domains (e.g. Science, Technology, Arts, Entertainment)

### Output:
JSON format: {{ "tags": ["tag1", "tag2", "tag3"] }}

### Chat History:
<chat_history>
{HISTORY}
</chat_history>"""

FOLLOW_UPS = OPEN_WEBUI_TAGS.replace('"tags": ["tag1", "tag2", "tag3"]',
                                     '"follow_ups": ["Question 1?"]')
LIBRECHAT_TITLE = """Please generate a concise, 5-word-or-less title for the conversation, \
using its same language, with no punctuation. Apply title case conventions.

||>User:
"a 90s thriller like Heat"
||>Response:
"Try Ronin (1998)."

||>Title:"""
PLAIN_TRANSCRIPT_TITLE = ("Name this chat in five words or less.\n\nUser: sci-fi from the "
                          "80s\nAI: Try Aliens (1986).")
TEMPLATE_QUERIES = """## Task
Decide whether the conversation needs a web search.
## Output
Return JSON: {"queries": ["query"]}
"""


@pytest.mark.parametrize("prompt", [OPEN_WEBUI_TAGS, FOLLOW_UPS, LIBRECHAT_TITLE,
                                    PLAIN_TRANSCRIPT_TITLE, TEMPLATE_QUERIES])
def test_background_prompts_are_recognised(prompt: str) -> None:
    assert is_background([prompt])


@pytest.mark.parametrize("message", [
    "a 90s thriller like Heat",
    "what is the title of that heist movie with De Niro?",
    "can you summarize our conversation so far?",
    "tag: comedy, 90s, no horror",
    "I liked Heat. User reviews say Ronin is good too: is it?",
    '{"title": "Heat"} -- films like this one please',
])
def test_people_are_not_background(message: str) -> None:
    assert not is_background([message])


def test_answers_take_the_shape_asked_for() -> None:
    assert json.loads(background_answer([OPEN_WEBUI_TAGS], "movies")) == {
        "tags": ["Movies", "Recommendations"]}
    assert json.loads(background_answer([FOLLOW_UPS], "movies")) == {"follow_ups": []}
    assert json.loads(background_answer([TEMPLATE_QUERIES], "movies")) == {"queries": []}
    assert background_answer([LIBRECHAT_TITLE], "movies") == "A 90s Thriller Like Heat"
    assert background_answer([PLAIN_TRANSCRIPT_TITLE], "movies") == "Sci-fi From The 80s"
