"""Label noise scorer: finding injected hashtags on real Instagram posts, and throughput.

Usage: python benchmarks/noise.py [--data ../shared/data] [--fraction 0.2] [--seed 0]
                                  [--fit] [--explore] [--naive-labels 300] [--cache DIR]

Protocol (datagraph.noise_eval): HARRISON's harrison_posts_dev.tsv (28,857 posts; post id =
image_path, hashtags space-separated). On ``--fraction`` of the posts one hashtag is replaced by
one drawn from the global hashtag frequency distribution, never a tag already on the post
(seeded by ``--seed``, stable hashes of the post id). The noisy hashtags are mapped with the
"visual" taxonomy (HashtagMapper, each distinct tag once); a label is a (post, raw tag) whose
tag maps to a synset, and only those count. Co-occurrence counts come from the noisy posts
themselves (``NoiseScorer(cooccurrence=None)``: what a corpus-wide count would see, the wrong
tags included; each label leaves its own post out). No captions, no images: HARRISON has none.

Split: posts whose xxh64(post id, seed 1) falls in the lower half of stream 14 are the *dev*
half; weights are fitted there (``--fit`` refits and prints them; without it the library's
DEFAULT_WEIGHTS, fitted that way, are used) and every number in the table is measured on the
other, *test*, half (the AUROC on dev is shown beside it). "Alone" rows rank by one
component (a missing value takes the fill value of the weights, i.e. the dev mean):
-context_similarity, -npmi_sum, -corpus_similarity, -confidence; and each family of
components together (the embedding ones, the co-occurrence ones: npmi_* and corpus_*) in a
logistic model fitted on dev, the fairest
"component alone"; random = a stable hash of (post, tag). Unscored labels (no context: the
post's only tag) are left out and counted. A second table shows what ``--noise-policy drop:T``
would remove from the test half for T = 0.2 ... 0.9 (share of labels, precision, recall), after
the mean score beside the injected share: the score is a fitted probability, calibrated on data
like the fitting data.

Throughput (CPU, this machine): the scorer over all posts with a cold embedding cache (a fresh
temporary directory; model already loaded and warmed up on a few calls, that time shown apart:
torch builds its CPU kernels per input shape on first use) and with a warm one;
distinct texts/s = texts the model embedded / embedding seconds. The naive baseline embeds,
for each (post, label), the label's tag and the post's other tags in one model call with no
vocabulary and no cache, on ``--naive-labels`` labels after 100 untimed ones; its full-corpus
time is extrapolated from that rate and labelled so.

``--explore`` prints dev-half AUROCs of design variants (co-occurrence unit, label texts,
NPMI smoothing alpha, corpus embedding dimension (0: none), with and without the coherence,
label-relative and post-relative components), each with weights fitted on dev — how the
defaults were chosen — and exits.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SPLIT_SEED = 1
SPLIT_STREAM = 14
RANDOM_STREAM = 15
LABEL_VARIANTS = (("tag",), ("tag", "gloss"), ("tag", "gloss", "prompt"))


def read_posts(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()[1:]
    rows = [line.split("\t") for line in lines if line.strip()]
    return [r[0] for r in rows], [r[2].split() for r in rows]


def dev_half(post_ids: list[str]) -> np.ndarray:
    """True for posts in the dev half: xxh64(post id, seed 1), stream 14, below 0.5."""
    from datagraph.stable_hash import hash_strings, uniform

    return uniform(hash_strings(post_ids, SPLIT_SEED), SPLIT_STREAM) < 0.5


class Truth:
    """Which scored labels are injected, and which posts are in the dev half."""

    def __init__(self, post_ids: list[str], injected: pa.Array):
        self.index = {post: i for i, post in enumerate(post_ids)}
        self.injected = injected.to_pylist()
        self.dev_posts = dev_half(post_ids)

    def rows(self, scores: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """(is_noise, in_dev) per row of a score table."""
        posts = [self.index[p] for p in scores.column("post_id").to_pylist()]
        tags = scores.column("raw_tag").to_pylist()
        noise = [self.injected[p] == t for p, t in zip(posts, tags, strict=True)]
        return np.array(noise, dtype=bool), self.dev_posts[posts]


def metrics(score: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    from datagraph.noise_eval import auroc, precision_at_recall

    return auroc(score, y), precision_at_recall(score, y, 0.1), precision_at_recall(score, y, 0.2)


def table_rows(scores: pa.Table, y: np.ndarray, dev: np.ndarray, weights, fit: str | None):
    """(name, dev AUROC, test AUROC, P@10%R, P@20%R) for the full score and each component."""
    from datagraph.noise import components_of
    from datagraph.noise_weights import fit_weights
    from datagraph.stable_hash import hash_strings, uniform

    components = components_of(scores)
    n = len(y)
    if fit:
        weights = fit_weights(
            {k: v[dev] for k, v in components.items() if k != "image_similarity"},
            y[dev],
            source=f"benchmarks/noise.py --fit: dev half of HARRISON, {fit}",
            keep=weights,
        )
    groups = {
        "embeddings": ("context_similarity", "context_coherence", "context_similarity_relative"),
        "co-occurrence": tuple(
            name for name in components if name.startswith(("npmi_", "corpus_"))
        ),
    }
    group_weights = {
        group: fit_weights({k: components[k][dev] for k in names}, y[dev])
        for group, names in groups.items()
    }

    def filled(name: str) -> np.ndarray:
        values = components[name]
        return np.where(np.isnan(values), weights.fill[name], values)

    posts, tags = scores["post_id"].to_pylist(), scores["raw_tag"].to_pylist()
    keys = [f"{p}\x1f{t}" for p, t in zip(posts, tags, strict=True)]
    ranked = {
        "full scorer": weights.score(components, n),
        "embeddings alone: -context_similarity": -filled("context_similarity"),
        "embedding components (similarity, coherence, relative; fitted on dev)": group_weights[
            "embeddings"
        ].logit(components, n),
        "co-occurrence alone: -npmi_sum": -filled("npmi_sum"),
        "corpus embedding alone: -corpus_similarity": -filled("corpus_similarity"),
        "co-occurrence components (npmi_*, corpus_*; fitted on dev)": group_weights[
            "co-occurrence"
        ].logit(components, n),
        "mapping confidence alone: -confidence": -filled("confidence"),
        "random": uniform(hash_strings(keys, 0), RANDOM_STREAM),
    }
    rows = []
    for name, score in ranked.items():
        rows.append((name, metrics(score[dev], y[dev])[0], *metrics(score[~dev], y[~dev])))
    return rows, weights


def print_thresholds(score: np.ndarray, y: np.ndarray) -> None:
    """What ``--noise-policy drop:T`` would do to the test half: calibration and each T."""
    from datagraph.labels import DEFAULT_DROP_THRESHOLD

    print(
        f"calibration (test half): mean noise score {score.mean():.4f}, injected share "
        f"{y.mean():.4f}; drop alone is drop:{DEFAULT_DROP_THRESHOLD}"
    )
    print()
    print("| drop:T | labels dropped | share dropped | precision (injected) | recall |")
    print("|---:|---:|---:|---:|---:|")
    for threshold in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        dropped = score >= threshold
        n = int(dropped.sum())
        precision = f"{y[dropped].mean():.3f}" if n else "-"
        print(
            f"| {threshold} | {n:,} | {n / len(score):.2%} | {precision} | "
            f"{y[dropped].sum() / max(y.sum(), 1):.3f} |"
        )


def naive_seconds_per_label(embedder, scores: pa.Table, post_tags, canonical, limit: int):
    """Seconds per label of embedding each (post, label)'s texts with no vocabulary, no cache:
    one model call per label with its own tag and the post's other tags. The first 100 labels
    warm the model up (torch builds kernels per input shape on first use) and are not timed;
    the next ``limit`` are."""
    rows = scores.slice(0, 100 + limit).select(["post_id", "raw_tag"]).to_pylist()
    model = embedder.model

    def one(row: dict) -> None:
        own = canonical[row["raw_tag"]]
        others = [canonical[t] for t in post_tags[row["post_id"]] if canonical[t] not in ("", own)]
        vectors = model.encode([own, *others], normalize_embeddings=True, show_progress_bar=False)
        if others:
            context = vectors[1:].sum(axis=0)
            float(vectors[0] @ context / max(np.linalg.norm(context), 1e-12))

    for row in rows[:100]:
        one(row)
    start = time.perf_counter()
    for row in rows[100:]:
        one(row)
    return (time.perf_counter() - start) / max(len(rows) - 100, 1), len(rows) - 100


def warm_up(embedder) -> None:
    """A few model calls of assorted shapes, so the timed runs measure steady-state speed."""
    words = ["dog", "golden retriever", "sunset over the sea", "a photo of a cat on a sofa"]
    for size in (1, 3, 8, 32, 128):
        embedder.model.encode([f"{words[i % 4]} {i}" for i in range(size)], show_progress_bar=False)


def explore(posts: pa.Table, mapping: pa.Table, truth: Truth, cache: Path) -> None:
    """Dev-half AUROC of design variants, weights fitted on dev for each: how the defaults
    (unit, label texts, alpha, the coherence and label-relative components) were chosen."""
    from datagraph.noise import NoiseScorer, components_of
    from datagraph.noise_eval import auroc
    from datagraph.noise_weights import fit_weights

    print(
        "| variant (dev half only) | full AUROC | without relative | without coherence "
        "| without post-relative | context similarity alone | NPMI sum alone |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    variants = [(unit, texts, 0.25, 32) for unit in ("tag", "synset") for texts in LABEL_VARIANTS]
    variants += [("tag", ("tag",), alpha, 32) for alpha in (0.1, 0.5, 1.0, 2.0)]
    variants += [("tag", ("tag",), 0.25, dim) for dim in (0, 16, 64, 100)]
    for unit, texts, alpha, dim in variants:
        scorer = NoiseScorer(
            device="cpu",
            cache_dir=cache,
            unit=unit,
            label_texts=texts,
            alpha=alpha,
            corpus_dim=dim,
        )
        scores = scorer.score(posts, mapping)
        scores = scores.filter(pc.is_valid(scores.column("noise_score")))
        y, dev = truth.rows(scores)
        comps = components_of(scores)
        names = [k for k in comps if k != "image_similarity"]
        aurocs = []
        for drop in ("", "_relative", "coherence", "_post_"):
            kept = [k for k in names if not drop or drop not in k]
            w = fit_weights({k: comps[k][dev] for k in kept}, y[dev])
            aurocs.append(auroc(w.score(comps, len(y))[dev], y[dev]))
        sim = np.nan_to_num(comps["context_similarity"], nan=w.fill["context_similarity"])
        npmi = np.nan_to_num(comps["npmi_sum"], nan=w.fill["npmi_sum"])
        aurocs += [auroc(-sim[dev], y[dev]), auroc(-npmi[dev], y[dev])]
        name = f"unit={unit}, label_texts={'+'.join(texts)}, alpha={alpha}, corpus_dim={dim}"
        print(f"| {name} | " + " | ".join(f"{a:.4f}" for a in aurocs) + " |")


def timed_score(scorer, posts: pa.Table, mapping: pa.Table) -> tuple[pa.Table, dict[str, float]]:
    """The three steps of NoiseScorer.score, each timed."""
    timings = {}
    start = time.perf_counter()
    batch = scorer.prepare(posts, mapping)
    timings["prepare"] = time.perf_counter() - start
    start = time.perf_counter()
    vectors, prompts = scorer.embed(batch, mapping)
    timings["embed"] = time.perf_counter() - start
    start = time.perf_counter()
    scores = scorer.score_prepared(batch, vectors, prompts)
    timings["score"] = time.perf_counter() - start
    return scores, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit", action="store_true", help="refit the weights on the dev half")
    parser.add_argument("--explore", action="store_true", help="dev-half design variants")
    parser.add_argument("--naive-labels", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache to reuse")
    args = parser.parse_args()
    source = args.data / "harrison" / "harrison_posts_dev.tsv"
    if not source.is_file():
        print(f"skipped: HARRISON posts not found at {source} (pass --data)")
        sys.exit(0)

    from datagraph.mapping import HashtagMapper
    from datagraph.noise import NoiseScorer
    from datagraph.noise_eval import inject_noise
    from datagraph.noise_weights import DEFAULT_WEIGHTS

    post_ids, clean_tags = read_posts(source)
    noise = inject_noise(post_ids, clean_tags, fraction=args.fraction, seed=args.seed)
    posts = pa.table({"post_id": pa.array(post_ids, pa.string()), "hashtags": noise.hashtags})
    vocabulary = sorted(set(pc.list_flatten(noise.hashtags).to_pylist()))
    mapping = HashtagMapper("visual").map(vocabulary)
    truth = Truth(post_ids, noise.injected)
    if args.explore:
        explore(posts, mapping, truth, args.cache or Path(tempfile.mkdtemp(prefix="noise-")))
        return

    with tempfile.TemporaryDirectory(prefix="noise-bench-") as tmp:
        cache = args.cache or Path(tmp)
        start = time.perf_counter()
        scorer = NoiseScorer(device="cpu", cache_dir=cache)
        warm_up(scorer.embedder)  # load and warm up now: reported apart
        load_s = time.perf_counter() - start
        gc.collect()
        scores, timings = timed_score(scorer, posts, mapping)
        cold = dict(scorer.stats)
        start = time.perf_counter()
        NoiseScorer(device="cpu", cache_dir=cache).score(posts, mapping)
        warm_s = time.perf_counter() - start
        raw, forms = mapping["raw_tag"].to_pylist(), mapping["canonical"].to_pylist()
        canonical = dict(zip(raw, forms, strict=True))
        post_tags = dict(zip(post_ids, noise.hashtags.to_pylist(), strict=True))
        per_label, naive_n = naive_seconds_per_label(
            scorer.embedder, scores, post_tags, canonical, args.naive_labels
        )

    scored = scores.filter(pc.is_valid(scores.column("noise_score")))
    y, dev = truth.rows(scored)
    all_y, _ = truth.rows(scores)
    fit = f"{args.fraction:.0%} injected noise, seed {args.seed}" if args.fit else None
    rows, weights = table_rows(scored, y, dev, DEFAULT_WEIGHTS, fit)
    n_posts, labels = len(post_ids), scores.num_rows
    print(
        f"HARRISON dev file: {n_posts:,} posts, {n_posts - noise.injected.null_count:,} with an "
        f"injected tag ({args.fraction:.0%}, seed {args.seed}); {labels:,} mapped labels "
        f"({int(all_y.sum()):,} injected); {labels - scored.num_rows:,} unscored (no context; "
        f"{int(all_y.sum() - y.sum()):,} of them injected); scored: dev {int(dev.sum()):,} "
        f"({int(y[dev].sum()):,} injected), test {int((~dev).sum()):,} ({int(y[~dev].sum()):,})"
    )
    print()
    print("| ranking by | AUROC dev | AUROC test | precision @10% recall | precision @20% recall |")
    print("|---|---:|---:|---:|---:|")
    for name, dev_auc, test_auc, p10, p20 in rows:
        print(f"| {name} | {dev_auc:.3f} | {test_auc:.3f} | {p10:.3f} | {p20:.3f} |")
    print()
    print_thresholds(scored.column("noise_score").to_numpy()[~dev], y[~dev])
    print()
    total = sum(timings.values())
    embedded = cold.get("texts_embedded", 0)
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    naive_total = per_label * labels
    print("| throughput (CPU, 2 cores) | seconds | posts/s | distinct texts/s | labels/s |")
    print("|---|---:|---:|---:|---:|")
    print(f"| model load and warm-up (once) | {load_s:.1f} | | | |")
    print(
        f"| scorer, cold cache ({embedded:,} texts embedded; {steps}) | {total:.1f} | "
        f"{n_posts / total:,.0f} | {embedded / max(timings['embed'], 1e-9):,.0f} | "
        f"{labels / total:,.0f} |"
    )
    print(
        f"| scorer, warm cache | {warm_s:.1f} | {n_posts / warm_s:,.0f} | | "
        f"{labels / warm_s:,.0f} |"
    )
    print(
        f"| naive per-(post, label) embedding, no cache: EXTRAPOLATED from {naive_n} labels "
        f"({per_label * 1000:.1f} ms each) to {labels:,} labels | {naive_total:,.0f} | "
        f"{n_posts / naive_total:,.1f} | | {1 / per_label:,.1f} |"
    )
    print()
    print("weights fitted on the dev half:" if args.fit else "weights used (DEFAULT_WEIGHTS):")
    print(weights.to_json())


if __name__ == "__main__":
    main()
