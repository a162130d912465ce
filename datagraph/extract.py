"""Find hashtags in free text: ``extract_hashtags("hi #GoldenRetriever!") == ["#GoldenRetriever"]``.

A hashtag is '#' (or the full-width '＃') followed by letters of any script, combining marks,
digits or underscores. It must start the text or follow a character that cannot be part of a
word or URL (URLs are removed first, so ``https://x.org/page#section`` gives nothing, and
``C#`` is not a hashtag); it ends at punctuation, emoji or whitespace. ``#a#b`` gives both
``#a`` and ``#b``, as Instagram links them. Pure numbers (``#2019``) are hashtags here; the
normalizer marks them. Results keep case and order, duplicates included.
"""

from __future__ import annotations

import re

_TAG_CHARS = r"[\w\u0300-\u036f\u200c]+"
# A chain like "#a#b" is matched whole, then split: on Instagram both are hashtags.
_HASHTAG_CHAIN = re.compile(rf"(?<![\w/#＃&])((?:[#＃]{_TAG_CHARS})+)")
_SPLIT = re.compile(r"[#＃]")
_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)


def extract_hashtags(caption: str | None) -> list[str]:
    """Hashtags in a caption, in order of appearance, each as '#' + its characters."""
    if not caption or not isinstance(caption, str):
        return []
    text = _URL.sub(" ", caption)
    tags = []
    for match in _HASHTAG_CHAIN.finditer(text):
        for body in _SPLIT.split(match.group(1)):
            body = body.rstrip("\u200c")
            if body:
                tags.append("#" + body)
    return tags
