"""Which hashtags are never labels, and why: a listed stoplist plus a few pattern rules.

``Stoplist.default().reason("like4like") == "spam"``; ``reason("golden retriever") is None``.

Tags are matched by their compact form (lower case, letters and digits only), so "#Like4Like",
"like_4_like" and "like 4 like" are one entry. The listed part is data
(``taxonomy/stoplist.tsv``, one ``tag<TAB>reason`` a line) that users extend with their own files
or a mapping; the rules catch what no list can enumerate:

- ``numeric``: digits only ("2015", "365"); years are numbers too;
- ``spam``: engagement bait built from a verb, a link word and a verb or object, like
  "like4like", "follow4follow", "likesforlikes", "tagsforlikes", "l4l", "f4f", "s4s", "followme",
  "followback", "teamfollowback"; and follower-growth schemes: "gainpost", "followtrain",
  "gaintrick", "likeparty".

Reasons are short lower-case words; the project uses spam, meta, non_visual, brand, celebrity,
numeric (and the normalizer adds empty, not_text, too_short, too_long). A user's file may
introduce its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

from datagraph.errors import ConfigError, location
from datagraph.resources import taxonomy_dir

_VERB = r"(?:like|follow|tag|comment|share|shoutout|spam|sub|view|vote|kik|snap)s?"
_LINK = r"(?:4|for|to|2|and)"
_OBJECT = _VERB + r"|back|all|me|us|follower|followers|likers?"
_SPAM_PATTERNS = (
    re.compile(rf"(?:{_VERB}){_LINK}(?:{_OBJECT})+"),
    re.compile(r"[lfcs]4[lfcs]"),
    re.compile(r"(?:team|insta|ig)?(?:follow|like)(?:me|back|all|us|everyone|4follow|s4likes)+"),
    re.compile(r"(?:gain|follow|like|comment|shoutout)s?(?:train|trick|post|party|spree|group)"),
)
_REASON = re.compile(r"[a-z][a-z0-9_]*")


def compact(text: str) -> str:
    """Lower-case letters and digits only: the key a stoplist is matched on."""
    if text.isascii() and text.isalnum():
        return text.lower()
    return "".join(ch for ch in text.casefold() if ch.isalnum())


class Stoplist:
    """Tags that are not labels, each with a reason; see the module docstring."""

    def __init__(self, entries: Mapping[str, str] | None = None):
        self._entries: dict[str, str] = {}
        for tag, reason in (entries or {}).items():
            self.add(tag, reason)

    @classmethod
    def default(cls) -> Stoplist:
        """The project's list (taxonomy/stoplist.tsv)."""
        return cls(read_stoplist(taxonomy_dir() / "stoplist.tsv"))

    def add(self, tag: str, reason: str) -> None:
        """Stop ``tag`` (any spelling; matched compact) for ``reason``."""
        key = compact(tag)
        if not key:
            raise ConfigError(f"stoplist entry {tag!r} has no letters or digits")
        if not _REASON.fullmatch(reason):
            raise ConfigError(f"stoplist reason {reason!r} for {tag!r} must be a lower-case word")
        self._entries[key] = reason

    def update(self, entries: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
        items = entries.items() if isinstance(entries, Mapping) else entries
        for tag, reason in items:
            self.add(tag, reason)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, tag: object) -> bool:
        return isinstance(tag, str) and self.reason(tag) is not None

    def reason(self, tag: str) -> str | None:
        """Why ``tag`` is stopped, or None when it may be a label."""
        key = compact(tag)
        listed = self._entries.get(key)
        if listed is not None:
            return listed
        if key.isdigit() and key.isascii():
            return "numeric"
        if any(pattern.fullmatch(key) for pattern in _SPAM_PATTERNS):
            return "spam"
        return None

    def entries(self) -> dict[str, str]:
        """The listed entries (compact tag -> reason); rules are not listed."""
        return dict(self._entries)


def read_stoplist(path: Path | str) -> dict[str, str]:
    """Read a ``tag<TAB>reason`` file ('#' starts a comment line); errors name file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read stoplist {path}: {error}") from error
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[0].strip() or not _REASON.fullmatch(fields[1].strip()):
            raise ConfigError(
                f"{location(str(path), number)}: expected 'tag<TAB>reason' with a lower-case "
                f"reason, got {line!r}"
            )
        key = compact(fields[0])
        if not key:
            raise ConfigError(f"{location(str(path), number)}: tag {fields[0]!r} has no letters")
        entries[key] = fields[1].strip()
    return entries


@lru_cache(maxsize=1)
def default_stoplist() -> Stoplist:
    """The project's stoplist, read once per process."""
    return Stoplist.default()
