"""One exception hierarchy for everything datagraph reports to a user.

Every message names what was being read (file, line, field where known) and what to do, so the
CLI can print it as one line and exit with code 2 instead of showing a traceback.
"""

from __future__ import annotations


class DatagraphError(Exception):
    """Base class: a problem the user can fix (bad input, bad option, missing data)."""


class TaxonomyError(DatagraphError):
    """A taxonomy or the WordNet snapshot could not be loaded or does not resolve."""


class InputDataError(DatagraphError):
    """Input posts could not be read at all (missing file, unknown format, empty input)."""


class ConfigError(DatagraphError):
    """An option or configuration value is invalid."""


def location(path: object, line: int | None = None, field: str | None = None) -> str:
    """Format ``file:line (field)`` for error messages; missing parts are left out.

    >>> location("posts.jsonl", 12, "hashtags")
    'posts.jsonl:12 (field hashtags)'
    """
    text = str(path)
    if line is not None:
        text += f":{line}"
    if field is not None:
        text += f" (field {field})"
    return text
