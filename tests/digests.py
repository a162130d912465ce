"""sha256 of the files of an output directory: how the tests compare pipeline outputs bytewise."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digests(directory: Path, pattern: str = "**/*") -> dict[str, str]:
    """{path relative to ``directory``: sha256} of every file matching ``pattern``, sorted."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.glob(pattern))
        if p.is_file()
    }
