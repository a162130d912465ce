"""Hashtag -> synset mapping: accuracy on four checks, coverage, speed, beside a naive baseline.

Usage: python benchmarks/mapping.py [--data ../shared/data] [--show 50]

Checks (each also scored for the baseline "first WordNet noun sense that is visual", applied to
the same normalized form and projected onto the taxonomy the same way):
  (a) HARRISON coverage: share of tag occurrences in harrison_posts_dev.tsv mapped to "visual" and
      to LVIS v1, with the most frequent unmapped tags and mappings (--show N of each);
  (b) LVIS round trip: every LVIS v1 synonym written as a hashtag (run together, plural run
      together, CamelCase) must map to its own category, with the LVIS taxonomy;
  (c) ImageNet-1k: each class's first lemma, run together, must map to its wnid (classes sharing
      that lemma, like the two cranes, count as either), with the ImageNet taxonomy;
  (d) the hand-checked HARRISON gold (tests/data/harrison_gold.tsv): top-1 accuracy with the
      visual taxonomy (a NONE row is right when the tag is unmapped);
  (e) speed: distinct tags per second of a fresh HashtagMapper (WordNet and word model loaded,
      caches empty; with --embeddings, the embedding cache warm) over HARRISON's distinct tags
      plus the LVIS round-trip tags.
Options: --embeddings CACHE_DIR ranks with the sentence embedder; --corpus-context (with
--embeddings) also with each tag's co-occurrence neighbours in harrison_posts_dev.tsv
(datagraph.corpus_context); --max-abstract-mass and
--max-adjective-share set the mapper's gates; --gold-half dev|test scores one half of the
gold (odd / even rows).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import Counter
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
GOLD = Path(__file__).resolve().parents[1] / "tests" / "data" / "harrison_gold.tsv"


class FirstVisualSense:
    """The baseline: the first WordNet noun sense of the canonical form under physical_entity."""

    def __init__(self, mapper):
        self.mapper = mapper

    def map(self, tags: list[str]) -> list[tuple[str | None, int | None]]:
        wn = self.mapper.wordnet
        out = []
        for tag in self.mapper.normalizer.normalize_many(tags):
            synset = None
            if tag.usable:
                senses = wn.lemma_senses(tag.canonical)
                synset = next((s for s, _, _ in senses if wn.is_physical(s)), None)
            cls = self.mapper.project(synset) if synset else None
            out.append((synset if cls else None, cls.class_id if cls else None))
        return out


def harrison_posts(data: Path) -> list[list[str]]:
    lines = (data / "harrison" / "harrison_posts_dev.tsv").read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[2].split() for line in lines[1:]]


def harrison_neighbours(data: Path):
    """Corpus neighbours of every canonical tag of harrison_posts_dev.tsv (the posts the gold's
    tags come from), counted as pipelines.count_tags counts a corpus
    (``noise_batch.post_tag_units``: every non-empty canonical form, stopwords included)."""
    import pyarrow as pa

    from datagraph.corpus_context import TagNeighbours
    from datagraph.noise_batch import post_tag_units
    from datagraph.noise_counts import CooccurrenceCounts
    from datagraph.normalize import default_normalizer

    posts = harrison_posts(data)
    table = pa.table({"post_id": [str(i) for i in range(len(posts))], "hashtags": posts})
    units = post_tag_units(table, default_normalizer())
    counts = CooccurrenceCounts.from_post_units(units, unit="tag", total_posts=len(posts))
    return TagNeighbours.from_counts(counts)


def ours(mapper, tags: list[str]) -> list[tuple[str | None, int | None]]:
    table = mapper.map(tags)
    return list(
        zip(
            table.column("synset_id").to_pylist(), table.column("class_id").to_pylist(), strict=True
        )
    )


def coverage(mapper, posts, show: int) -> tuple[float, float, list, list]:
    counts = Counter(tag for tags in posts for tag in tags)
    tags = sorted(counts)
    total = sum(counts.values())
    result = dict(zip(tags, ours(mapper, tags), strict=True))
    base = dict(zip(tags, FirstVisualSense(mapper).map(tags), strict=True))
    mapped = sum(n for t, n in counts.items() if result[t][0]) / total
    base_mapped = sum(n for t, n in counts.items() if base[t][0]) / total
    unmapped = [(t, n) for t, n in counts.most_common() if not result[t][0]][:show]
    mappings = [(t, n, result[t][0]) for t, n in counts.most_common() if result[t][0]][:show]
    return mapped, base_mapped, unmapped, mappings


def lvis_round_trip(mapper, wn) -> tuple[list[tuple[str, set[int]]], int]:
    """(hashtag, acceptable class ids): run together, plural (unless the synonym already ends in
    s), CamelCase. A parenthesized qualifier ("bow_(weapon)") is dropped, as no hashtag has one,
    and then every class with that bare synonym is acceptable."""
    import re

    from datagraph.synthetic import pluralize

    bare = {}
    for cls in mapper.taxonomy.classes:
        for synonym in cls.synonyms or (cls.name,):
            words = re.sub(r"\(.*?\)", " ", synonym).replace("-", "_").replace("_", " ").split()
            bare.setdefault(tuple(words), set()).add(cls.class_id)
    cases = []
    for words, ids in bare.items():
        cases.append(("".join(words), ids))
        if not words[-1].endswith("s"):
            cases.append((pluralize(" ".join(words), wn).replace(" ", ""), ids))
        cases.append(("".join(w.capitalize() for w in words), ids))
    return cases, len(mapper.taxonomy)


def imagenet_cases(mapper, wn) -> list[tuple[str, set[str]]]:
    by_lemma: dict[str, set[str]] = {}
    firsts = []
    for cls in mapper.taxonomy.classes:
        lemma = wn.synset(cls.synset_id).lemmas[0]
        firsts.append(lemma)
        by_lemma.setdefault(lemma.lower(), set()).add(cls.synset_id)
    return [(lemma.replace("_", "").replace("-", ""), by_lemma[lemma.lower()]) for lemma in firsts]


def score_cases(mapper, cases, field: int) -> tuple[float, float, list]:
    """Accuracy of ours and of the baseline on (tag, acceptable answers) cases, and our errors.

    ``field`` picks what is compared: 0 = the synset id, 1 = the taxonomy class id.
    """
    tags = [tag for tag, _ in cases]
    got = [pair[field] for pair in ours(mapper, tags)]
    base = [pair[field] for pair in FirstVisualSense(mapper).map(tags)]
    errors = [(t, ok, g) for (t, ok), g in zip(cases, got, strict=True) if g not in ok]
    base_right = sum(b in ok for (_, ok), b in zip(cases, base, strict=True))
    return 1 - len(errors) / len(cases), base_right / len(cases), errors


def read_gold(path: Path) -> list[tuple[str, set[str] | None]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("tag\t"):
            continue
        tag, acceptable = line.split("\t")[:2]
        rows.append((tag, None if acceptable == "NONE" else set(acceptable.split("|"))))
    return rows


def gold_accuracy(predicted: list[str | None], gold) -> float:
    right = 0
    for (_, acceptable), synset in zip(gold, predicted, strict=True):
        right += (synset is None) if acceptable is None else (synset in acceptable)
    return right / len(gold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--show", type=int, default=50)
    parser.add_argument("--errors", action="store_true", help="list every error of (b)-(d)")
    parser.add_argument(
        "--embeddings",
        type=Path,
        default=None,
        metavar="CACHE_DIR",
        help="rank with the default sentence embedder, caching vectors in CACHE_DIR",
    )
    parser.add_argument(
        "--corpus-context",
        action="store_true",
        help="with --embeddings: rank with each tag's HARRISON co-occurrence neighbours",
    )
    parser.add_argument("--max-abstract-mass", type=float, default=None)
    parser.add_argument("--max-adjective-share", type=float, default=None)
    parser.add_argument("--gold-half", choices=("all", "dev", "test"), default="all")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"data not found at {args.data}")

    from datagraph.mapping import HashtagMapper
    from datagraph.taxonomy import load_taxonomy
    from datagraph.wordnet import WordNet

    wn = WordNet.load()
    lvis = load_taxonomy("lvis", args.data / "taxonomies" / "lvis_v1_categories.json")
    imagenet = load_taxonomy("imagenet1k", args.data / "taxonomies" / "imagenet1k_wnids.txt")
    options = {}
    if args.embeddings is not None:
        from datagraph.embeddings import TextEmbedder

        options["embedder"] = TextEmbedder(cache_dir=args.embeddings)
    if args.corpus_context:
        if args.embeddings is None:
            raise SystemExit("--corpus-context needs --embeddings CACHE_DIR")
        options["corpus"] = harrison_neighbours(args.data)
    if args.max_abstract_mass is not None:
        options["max_abstract_mass"] = args.max_abstract_mass
    if args.max_adjective_share is not None:
        options["max_adjective_share"] = args.max_adjective_share

    def new_mapper(taxonomy):
        return HashtagMapper(taxonomy, **options)

    visual_mapper = new_mapper("visual")
    lvis_mapper = new_mapper(lvis)
    imagenet_mapper = new_mapper(imagenet)
    posts = harrison_posts(args.data)
    rows = []

    visual_cov, visual_base, unmapped, mappings = coverage(visual_mapper, posts, args.show)
    lvis_cov, lvis_base, _, _ = coverage(lvis_mapper, posts, args.show)
    rows.append(("(a) HARRISON tag occurrences mapped, visual", visual_cov, visual_base, ""))
    rows.append(("(a) HARRISON tag occurrences mapped, LVIS v1", lvis_cov, lvis_base, ""))

    cases, n_classes = lvis_round_trip(lvis_mapper, wn)
    acc, base_acc, lvis_errors = score_cases(lvis_mapper, cases, field=1)
    rows.append(
        (f"(b) LVIS round trip ({len(cases)} tags, {n_classes} classes)", acc, base_acc, "")
    )
    cases = imagenet_cases(imagenet_mapper, wn)
    acc, base_acc, in_errors = score_cases(imagenet_mapper, cases, field=0)
    rows.append((f"(c) ImageNet-1k first lemma ({len(cases)} classes)", acc, base_acc, ""))

    gold_errors = []
    if GOLD.is_file():
        gold = read_gold(GOLD)
        if args.gold_half != "all":  # dev = rows 1, 3, 5...; test = rows 2, 4, 6... (file order)
            gold = gold[args.gold_half == "test" :: 2]
        tags = [t for t, _ in gold]
        got = [s for s, _ in ours(visual_mapper, tags)]
        base = [s for s, _ in FirstVisualSense(visual_mapper).map(tags)]
        acc, base_acc = gold_accuracy(got, gold), gold_accuracy(base, gold)
        gold_errors = [
            (t, ok, g)
            for (t, ok), g in zip(gold, got, strict=True)
            if (g is not None if ok is None else g not in ok)
        ]
        rows.append((f"(d) HARRISON hand-checked gold ({len(gold)} tags)", acc, base_acc, ""))

    round_trip = {t for t, _ in lvis_round_trip(lvis_mapper, wn)[0]}
    vocabulary = sorted({t for tags in posts for t in tags} | round_trip)
    best = 0.0
    if "embedder" in options:
        new_mapper(lvis).map(vocabulary)  # warm the embedding cache: its cost is excluded
    for _ in range(3):
        mapper = new_mapper(lvis)
        mapper.normalizer._cache.clear()
        gc.disable()
        start = time.perf_counter()
        mapper.map(vocabulary)
        best = max(best, len(vocabulary) / (time.perf_counter() - start))
        gc.enable()

    print("| check | datagraph | first visual sense (baseline) |")
    print("|---|---:|---:|")
    for name, value, baseline, _ in rows:
        print(f"| {name} | {value:.3f} | {baseline:.3f} |")
    print(
        f"| (e) speed, distinct tags/s ({len(vocabulary):,} tags, LVIS taxonomy) | {best:,.0f} | |"
    )
    print()
    print(f"Most frequent unmapped HARRISON tags (visual): {_fmt(unmapped)}")
    print()
    print(
        "Most frequent HARRISON mappings (visual): "
        + ", ".join(f"{t} {n} -> {s}" for t, n, s in mappings)
    )
    for title, errors in (
        ("LVIS round-trip errors", lvis_errors),
        ("ImageNet errors", in_errors),
        ("gold errors", gold_errors),
    ):
        print()
        shown = errors if args.errors else errors[:25]
        print(
            f"{title} ({len(errors)}): " + "; ".join(f"{t} want {w} got {g}" for t, w, g in shown)
        )


def _fmt(pairs) -> str:
    return ", ".join(f"{t} {n}" for t, n in pairs)


if __name__ == "__main__":
    main()
