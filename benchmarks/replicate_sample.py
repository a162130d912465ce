"""A large benchmark input made from a generated one: k relabelled copies, streamed.

Usage: python benchmarks/replicate_sample.py --source /tmp/datagraph-bench/posts-1000000-seed0
           --copies 5 [--workdir /tmp/datagraph-bench]

The sample generator holds every post in memory (5M posts do not fit in 24 GiB), so a bigger
input for benchmarks/pipeline.py is built from a generated one, line by line: copy c gets
post_id, user_id and media_sha256 prefixed or re-hashed with c, and media_phash XORed with a
fixed random 64-bit mask of c (Hamming distances within a copy are kept, copies stay ~32 bits
apart), so each copy has the source's duplicates, spam and near duplicates and none crosses
copies. Malformed lines are copied as they are. The result goes where benchmarks/pipeline.py
looks for a sample of that size (``posts-<n>-seed<seed>/posts.jsonl``), with the source's
LVIS categories, so ``--sizes <n>`` then uses it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np


def relabel(record: dict, copy: int, mask: int) -> dict:
    """One record of copy ``copy``: ids and media hashes made distinct from other copies."""
    record = dict(record)
    for key in ("post_id", "user_id"):
        if isinstance(record.get(key), str | int) and not isinstance(record.get(key), bool):
            record[key] = f"c{copy}-{record[key]}"
    sha = record.get("media_sha256")
    if isinstance(sha, str):
        record["media_sha256"] = hashlib.sha256(f"{copy}:{sha}".encode()).hexdigest()
    phash = record.get("media_phash")
    if isinstance(phash, int) and not isinstance(phash, bool) and 0 <= phash < 1 << 64:
        record["media_phash"] = phash ^ mask
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/datagraph-bench"))
    args = parser.parse_args()

    source = args.source / "posts.jsonl"
    n_source = int(args.source.name.split("-")[1])
    seed = args.source.name.split("seed")[-1]
    target = args.workdir / f"posts-{n_source * args.copies}-seed{seed}"
    masks = np.random.default_rng(12345).integers(0, 2**63, size=args.copies, dtype=np.int64)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=args.workdir))
    from datagraph.readers import parse_json_line

    with (temp / "posts.jsonl").open("w", encoding="utf-8", errors="surrogateescape") as out:
        for copy in range(args.copies):
            mask = (int(masks[copy]) << 1) | 1 if copy else 0  # copy 0 is the source itself
            with source.open("rb") as lines:
                for raw in lines:
                    try:  # the readers' own strict parse: malformed lines stay malformed
                        record = parse_json_line(raw.rstrip(b"\r\n"))
                    except ValueError:
                        record = None
                    if copy == 0 or not isinstance(record, dict):
                        out.write(raw.decode("utf-8", "surrogateescape"))
                        continue
                    record = relabel(record, copy, mask)
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    shutil.copy(args.source / "lvis_sample_categories.json", temp)
    temp.chmod(0o755)
    temp.rename(target)
    print(target)


if __name__ == "__main__":
    main()
