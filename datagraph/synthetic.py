"""Generate realistic synthetic social posts for the sample data, tests and benchmarks.

The posts imitate what a hashtag crawl looks like: a Zipf-shaped vocabulary of concepts (a few
dozen LVIS-like objects and a long tail of common WordNet nouns), posts built around a scene
(pets, food, street, ...) so tags co-occur as they do in real data, and the surface forms people
type: run-together (#goldenretriever), camelCase (#GoldenRetriever), plural, misspelled,
decorated (#dogsofinstagram, #foodporn, #instadog), spelling variants (#donut), spam and
non-visual tags (#instagood, #tbt, #love), captions with inline hashtags and emoji, non-Latin
tags (#猫, #кошка). It also plants what the pipeline must catch: exact repeated rows, re-uploads
(same media hash), near-duplicate media (phash a few bits away), per-user spam (one user posting
the same tag set again and again) and a few malformed rows.

Everything derives from one seed through numpy's PCG64: the same arguments give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from datagraph.wordnet import WordNet

# (synset id, surface words people type for it, scene names). Words with spaces are multi-word
# tags; "jeans"/"sunglasses" are already plural.
CONCEPTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("dog.n.01", ("dog", "doggo"), ("pets", "street")),
    ("cat.n.01", ("cat",), ("pets", "home")),
    ("golden_retriever.n.01", ("golden retriever",), ("pets",)),
    ("puppy.n.01", ("puppy",), ("pets",)),
    ("kitten.n.01", ("kitten",), ("pets",)),
    ("brown_bear.n.01", ("brown bear", "ursus arctos", "grizzly"), ("wildlife",)),
    ("teddy.n.01", ("teddy bear",), ("home", "party")),
    ("horse.n.01", ("horse",), ("wildlife",)),
    ("bird.n.01", ("bird",), ("wildlife", "garden")),
    ("duck.n.01", ("duck",), ("wildlife",)),
    ("goose.n.01", ("goose",), ("wildlife",)),
    ("butterfly.n.01", ("butterfly",), ("garden", "wildlife")),
    ("car.n.01", ("car",), ("street",)),
    ("bicycle.n.01", ("bicycle", "bike"), ("street", "sport")),
    ("motorcycle.n.01", ("motorcycle",), ("street",)),
    ("bus.n.01", ("bus",), ("street", "travel")),
    ("airplane.n.01", ("airplane", "aeroplane"), ("travel",)),
    ("boat.n.01", ("boat",), ("travel",)),
    ("stop_sign.n.01", ("stop sign",), ("street",)),
    ("sunglasses.n.01", ("sunglasses", "shades"), ("style", "travel")),
    ("backpack.n.01", ("backpack",), ("travel", "street")),
    ("umbrella.n.01", ("umbrella",), ("street",)),
    ("bag.n.04", ("handbag", "purse"), ("style",)),
    ("shoe.n.01", ("shoe",), ("style",)),
    ("gym_shoe.n.01", ("sneaker",), ("style", "sport")),
    ("hat.n.01", ("hat",), ("style",)),
    ("watch.n.01", ("watch",), ("style",)),
    ("jean.n.01", ("jeans",), ("style",)),
    ("tattoo.n.02", ("tattoo",), ("style",)),
    ("guitar.n.01", ("guitar",), ("party", "home")),
    ("cellular_telephone.n.01", ("phone", "cell phone"), ("home",)),
    ("laptop.n.01", ("laptop",), ("home",)),
    ("camera.n.01", ("camera",), ("travel",)),
    ("book.n.01", ("book",), ("home",)),
    ("cup.n.01", ("cup",), ("food", "home")),
    ("bottle.n.01", ("bottle",), ("food",)),
    ("wineglass.n.01", ("wineglass", "wine glass"), ("party", "food")),
    ("pizza.n.01", ("pizza",), ("food",)),
    ("cake.n.03", ("cake",), ("food", "party")),
    ("doughnut.n.02", ("donut", "doughnut"), ("food",)),
    ("banana.n.02", ("banana",), ("food",)),
    ("apple.n.01", ("apple",), ("food",)),
    ("strawberry.n.01", ("strawberry",), ("food", "garden")),
    ("sushi.n.01", ("sushi",), ("food",)),
    ("hamburger.n.01", ("burger", "hamburger"), ("food",)),
    ("ice_cream.n.01", ("ice cream",), ("food", "party")),
    ("coffee.n.01", ("coffee",), ("food", "home")),
    ("beer.n.01", ("beer",), ("party",)),
    ("cupcake.n.01", ("cupcake",), ("food", "party")),
    ("rose.n.01", ("rose",), ("garden",)),
    ("sunflower.n.01", ("sunflower",), ("garden",)),
    ("tree.n.01", ("tree",), ("garden", "wildlife")),
    ("surfboard.n.01", ("surfboard",), ("sport", "travel")),
    ("skateboard.n.01", ("skateboard",), ("sport", "street")),
    ("ski.n.01", ("ski",), ("sport",)),
    ("kite.n.03", ("kite",), ("sport",)),
    ("balloon.n.01", ("balloon",), ("party",)),
    ("candle.n.01", ("candle",), ("home", "party")),
    ("pillow.n.01", ("pillow",), ("home",)),
    ("sofa.n.01", ("sofa", "couch"), ("home",)),
    ("clock.n.01", ("clock",), ("home",)),
    ("beach.n.01", ("beach",), ("travel",)),
    ("mountain.n.01", ("mountain",), ("travel", "wildlife")),
)
SCENES = (
    "pets",
    "food",
    "street",
    "travel",
    "home",
    "style",
    "wildlife",
    "garden",
    "sport",
    "party",
)

# Tags with no visual content: spam/engagement bait, meta, and abstract words.
SPAM_TAGS = (
    "instagood",
    "like4like",
    "likeforlike",
    "follow4follow",
    "followme",
    "f4f",
    "l4l",
    "tagsforlikes",
    "likes",
    "follow",
    "photooftheday",
    "picoftheday",
    "instadaily",
    "instalike",
    "tbt",
    "nofilter",
    "repost",
    "igers",
    "vscocam",
    "vsco",
    "ootd",
    "love",
    "happy",
    "cute",
    "beautiful",
    "fun",
    "summer",
    "weekend",
    "friends",
    "me",
    "style",
    "art",
    "photography",
    "2016",
    "2017",
    "2018",
    "2019",
    "selfie",
    "mood",
    "goals",
    "blessed",
)
# Non-Latin and accented tags (tag, language, English concept word or None).
WORLD_TAGS = (
    ("猫", "ja", "cat"),
    ("犬", "ja", "dog"),
    ("東京", "ja", None),
    ("寿司", "ja", "sushi"),
    ("кошка", "ru", "cat"),
    ("собака", "ru", "dog"),
    ("강아지", "ko", "puppy"),
    ("قطة", "ar", "cat"),
    ("café", "fr", "coffee"),
    ("crèmebrûlée", "fr", None),
    ("jalapeño", "es", None),
    ("Ñandú", "es", None),
)
EMOJI = ("🐶", "🐱", "☀️", "🍕", "❤️", "😍", "🌊", "✨", "🔥", "👟", "🎉", "📸", "👍🏽", "👨‍👩‍👧")
CAPTIONS = (
    "Sunday with my {word} {emoji}",
    "Can't stop looking at this {word} {emoji}",
    "{word} time!",
    "best {word} ever {emoji}{emoji}",
    "throwback to that {word}",
    "new {word} who dis",
    "",
)
_AFFIXES = {
    "animal": ("{w}sofinstagram", "insta{w}", "{w}stagram", "{w}lover", "{w}life"),
    "food": ("{w}porn", "insta{w}", "{w}lover", "{w}oftheday"),
    "other": ("{w}oftheday", "insta{w}", "{w}life", "{w}gram"),
}
_MALFORMED_LINES = (
    '{"post_id": "bad-1", "hashtags": ["#dog", "#cat"',  # truncated JSON
    '{"hashtags": ["#beach"], "caption": "no id here"}',  # missing post_id
    '{"post_id": null, "hashtags": ["#sunset"]}',
    '{"post_id": "bad-2", "hashtags": "#dog #cat"}',  # hashtags as a string
    '{"post_id": "bad-3", "hashtags": ["#dog", 7]}',
    '{"post_id": "bad-4", "created_at": "yesterday", "hashtags": ["#car"]}',
    '{"post_id": "bad-5", "media_sha256": "not-a-hash", "hashtags": ["#bus"]}',
    '{"post_id": "bad-6", "likes": NaN, "hashtags": ["#cake"]}',
    '["not", "an", "object"]',
    '{"post_id": "bad-7", "post_id": "bad-7b", "hashtags": ["#tree"]}',  # duplicate key
    '{"post_id": ["bad-8"], "hashtags": ["#kite"]}',
    '{"post_id": "bad-9", "media_phash": -5, "hashtags": ["#boat"]}',
)

RAW_POST_SCHEMA = pa.schema(
    [
        ("post_id", pa.string()),
        ("user_id", pa.string()),
        ("created_at", pa.string()),
        ("caption", pa.string()),
        ("hashtags", pa.list_(pa.string())),
        ("media_uri", pa.string()),
        ("media_sha256", pa.string()),
        ("media_phash", pa.uint64()),
        ("lang", pa.string()),
        ("likes", pa.int64()),
    ]
)


@dataclass(frozen=True)
class Concept:
    synset_id: str
    words: tuple[str, ...]
    scenes: tuple[str, ...]
    kind: str  # animal | food | other (for affixes)


class _WeightedPick:
    """``int(rng.choice(len(weights), p=weights))`` with the cumulative weights made once.

    Generator.choice rebuilds them on every call, which made generating n posts O(n^2) (its
    user weights grow with n). This draws the same one double and searches the same normalized
    cumulative sum, so it picks exactly what ``rng.choice`` would (the committed sample checks it).
    """

    def __init__(self, weights: np.ndarray):
        cdf = np.cumsum(weights)
        self.cdf = cdf / cdf[-1]

    def __call__(self, rng: np.random.Generator) -> int:
        return int(self.cdf.searchsorted(rng.random(), side="right"))


def _zipf_weights(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def _kind(lexname: str) -> str:
    return {"noun.animal": "animal", "noun.food": "food"}.get(lexname, "other")


def pluralize(word: str, wn: WordNet) -> str:
    """English plural of the last word, using WordNet's irregular forms first (goose -> geese)."""
    irregular = _irregular_plurals(wn)
    head = word.split(" ")[-1]
    if head in irregular:
        plural = irregular[head]
    elif head.endswith(("s", "x", "z", "ch", "sh")):
        plural = head + "es"
    elif head.endswith("y") and len(head) > 1 and head[-2] not in "aeiou":
        plural = head[:-1] + "ies"
    else:
        plural = head + "s"
    return word[: len(word) - len(head)] + plural


_IRREGULAR_CACHE: dict[int, dict[str, str]] = {}


def _irregular_plurals(wn: WordNet) -> dict[str, str]:
    key = id(wn)
    if key not in _IRREGULAR_CACHE:
        table: dict[str, str] = {}
        for inflected, bases in sorted(wn.noun_exceptions.items()):
            for base in bases:
                table.setdefault(base, inflected)
        _IRREGULAR_CACHE[key] = table
    return _IRREGULAR_CACHE[key]


class PostGenerator:
    """Draws posts; one instance per (seed, size) so the random stream is reproducible."""

    def __init__(self, seed: int = 0, wordnet: WordNet | None = None, tail_size: int = 1500):
        self.wn = wordnet or WordNet.load()
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.concepts = [
            Concept(sid, words, scenes, _kind(self.wn.synset(sid).lexname))
            for sid, words, scenes in CONCEPTS
        ]
        self.concept_weights = _zipf_weights(len(self.concepts), 1.05)
        self.tail = self._tail_concepts(tail_size)
        self.tail_weights = _zipf_weights(len(self.tail), 1.0)
        self.by_scene = {
            scene: [i for i, c in enumerate(self.concepts) if scene in c.scenes] for scene in SCENES
        }

    def _tail_concepts(self, size: int) -> list[Concept]:
        """Common physical WordNet nouns (by tagged count), each its first lemma's first sense."""
        wn = self.wn
        ranked = []
        head = {c[0] for c in CONCEPTS}
        for synset_id in wn.wordnet_synset_ids:
            if synset_id in head or not wn.is_physical(synset_id):
                continue
            synset = wn.synset(synset_id)
            lemma = synset.lemmas[0]
            if (
                synset.tagged_count < 3
                or not lemma.replace("_", "").isalpha()
                or not lemma.islower()
            ):
                continue
            if wn.synsets_for_lemma(lemma)[0] != synset_id:
                continue
            ranked.append((-synset.tagged_count, synset_id, lemma, synset.lexname))
        ranked.sort()
        return [
            Concept(sid, (lemma.replace("_", " "),), (), _kind(lexname))
            for _, sid, lemma, lexname in ranked[:size]
        ]

    # --- surface forms -------------------------------------------------------------------
    def surface(self, concept: Concept) -> str:
        """One hashtag for a concept, in a form people actually type."""
        rng = self.rng
        words = concept.words
        word = (
            words[0]
            if len(words) == 1 or rng.random() < 0.7
            else words[int(rng.integers(1, len(words)))]
        )
        form = rng.random()
        if form < 0.15 and not word.endswith("s"):
            word = pluralize(word, self.wn)
        parts = word.split(" ")
        style = rng.random()
        if style < 0.55:
            tag = "".join(parts)
        elif style < 0.67:
            tag = "".join(p.capitalize() for p in parts)
        elif style < 0.71:
            tag = "_".join(parts)
        elif style < 0.73:
            tag = "".join(parts).upper()
        elif style < 0.80 and len("".join(parts)) >= 5:
            tag = self._misspell("".join(parts))
        elif style < 0.90:
            affixes = _AFFIXES[concept.kind]
            tag = affixes[int(rng.integers(len(affixes)))].format(w="".join(parts))
        else:
            tag = "".join(parts)
        return "#" + tag

    def _misspell(self, word: str) -> str:
        rng = self.rng
        i = int(rng.integers(1, len(word) - 1))
        op = int(rng.integers(4))
        if op == 0:
            return word[:i] + word[i + 1 :]  # drop a letter
        if op == 1:
            return word[:i] + word[i] + word[i:]  # double a letter
        if op == 2:
            return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]  # swap two
        vowels = "aeiou"
        replacement = vowels[int(rng.integers(5))]
        return word[:i] + replacement + word[i + 1 :] if word[i] in vowels else word

    # --- posts ---------------------------------------------------------------------------
    def _pick(self, pool: list[int]) -> Concept:
        weights = self.concept_weights[pool]
        return self.concepts[pool[int(self.rng.choice(len(pool), p=weights / weights.sum()))]]

    def hashtags(self) -> tuple[list[str], list[str], str]:
        """(hashtags, intended synset ids, language) for one post."""
        rng = self.rng
        scene = SCENES[int(rng.choice(len(SCENES), p=_zipf_weights(len(SCENES), 0.8)))]
        n_topical = 1 + int(rng.geometric(0.45)) - 1
        concepts = [self._pick(self.by_scene[scene]) for _ in range(min(n_topical, 6))]
        if rng.random() < 0.5:
            concepts.append(self.tail[int(rng.choice(len(self.tail), p=self.tail_weights))])
        if rng.random() < 0.2:  # an unrelated concept: label noise
            concepts.append(
                self.concepts[int(rng.choice(len(self.concepts), p=self.concept_weights))]
            )
        tags = [self.surface(c) for c in concepts]
        n_spam = int(rng.poisson(1.6))
        spam_weights = _zipf_weights(len(SPAM_TAGS), 1.0)
        tags += [
            "#" + SPAM_TAGS[int(rng.choice(len(SPAM_TAGS), p=spam_weights))] for _ in range(n_spam)
        ]
        lang = "en"
        if rng.random() < 0.04:
            tag, lang, _ = WORLD_TAGS[int(rng.integers(len(WORLD_TAGS)))]
            tags.append("#" + tag)
        order = rng.permutation(len(tags))
        return [tags[i] for i in order], [c.synset_id for c in concepts], lang

    def caption(self, tags: list[str]) -> str:
        rng = self.rng
        template = CAPTIONS[int(rng.integers(len(CAPTIONS)))]
        word = tags[0].lstrip("#").lower() if tags else "day"
        text = template.format(
            word=word,
            emoji=EMOJI[int(rng.integers(len(EMOJI)))],
        )
        inline = [t for t in tags if rng.random() < 0.6]
        return " ".join(part for part in (text, " ".join(inline)) if part)

    def posts(self, n_posts: int) -> tuple[list[dict], list[str]]:
        """``n_posts`` raw records (with planted duplicates) and malformed JSONL lines."""
        rng = self.rng
        n_users = max(10, n_posts // 7)
        pick_user = _WeightedPick(_zipf_weights(n_users, 0.9))
        start = datetime(2015, 1, 1, tzinfo=UTC)
        ids = rng.permutation(np.arange(10_000_000, 10_000_000 + n_posts * 2))
        spam_users = [f"u{n_users + i:06d}" for i in range(max(1, n_posts // 1500))]
        records: list[dict] = []
        next_id = 0
        while len(records) < n_posts:
            roll = rng.random()
            if records and roll < 0.010:  # exact repeat of an earlier row
                records.append(dict(records[int(rng.integers(len(records)))]))
                continue
            if records and roll < 0.025:  # re-upload: same media, new post
                source = records[int(rng.integers(len(records)))]
                copy = dict(source, post_id=str(ids[next_id]))
                copy["user_id"] = f"u{pick_user(rng):06d}"
                records.append(copy)
                next_id += 1
                continue
            if records and roll < 0.035:  # near duplicate: recompressed, phash a few bits off
                source = records[int(rng.integers(len(records)))]
                copy = dict(source, post_id=str(ids[next_id]))
                flips = rng.choice(64, size=int(rng.integers(1, 4)), replace=False)
                phash = source["media_phash"]
                for bit in flips:
                    phash ^= 1 << int(bit)
                copy["media_phash"] = phash
                copy["media_sha256"] = hashlib.sha256(
                    f"{self.seed}:near:{next_id}".encode()
                ).hexdigest()
                records.append(copy)
                next_id += 1
                continue
            tags, _, lang = self.hashtags()
            user = f"u{pick_user(rng):06d}"
            if roll > 0.985:  # per-user spam: the same tag set again
                user = spam_users[int(rng.integers(len(spam_users)))]
                tags = ["#follow4follow", "#dog", "#puppy", "#instagood", "#likeforlike"]
            created = start + timedelta(seconds=int(rng.integers(0, 6 * 365 * 86400)))
            sha = hashlib.sha256(f"{self.seed}:media:{next_id}".encode()).hexdigest()
            record = {
                "post_id": str(ids[next_id]),
                "user_id": user,
                "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            style = rng.random()
            if style < 0.5:
                record["caption"] = self.caption(tags)
                record["hashtags"] = tags
            elif style < 0.6:
                record["caption"] = self.caption(tags) + " " + " ".join(tags)  # caption only
            else:
                record["hashtags"] = tags
            record["media_uri"] = f"https://media.datagraph.invalid/{sha[:20]}.jpg"
            record["media_sha256"] = sha
            record["media_phash"] = int(rng.integers(0, 1 << 63)) * 2 + int(rng.integers(2))
            record["lang"] = lang
            if rng.random() < 0.3:
                record["likes"] = int(rng.geometric(0.01))
            records.append(record)
            next_id += 1
        records = [records[i] for i in rng.permutation(len(records))]
        n_bad = max(1, n_posts // 1000)
        malformed = [_MALFORMED_LINES[i % len(_MALFORMED_LINES)] for i in range(n_bad)]
        return records, malformed


def intended_concept_counts(records: list[dict], wn: WordNet) -> dict[str, int]:
    """Posts per head concept, by the concept words present in a post's tags (for image_count)."""
    counts: dict[str, int] = {}
    for synset_id, words, _ in CONCEPTS:
        forms = {w.replace(" ", "") for w in words}
        forms |= {pluralize(w, wn).replace(" ", "") for w in words}
        n = 0
        for record in records:
            tags = record.get("hashtags") or []
            if any(t.lstrip("#").lower().replace("_", "") in forms for t in tags):
                n += 1
        counts[synset_id] = n
    return counts


def lvis_style_categories(records: list[dict], wn: WordNet) -> dict:
    """A small LVIS-format categories file for the head concepts (ids sorted by name, like LVIS)."""
    counts = intended_concept_counts(records, wn)
    rows = []
    for synset_id, words, _ in CONCEPTS:
        synset = wn.synset(synset_id)
        name = words[0].replace(" ", "_")
        synonyms = [name] + [w.replace(" ", "_") for w in words[1:]]
        rows.append((name, synset_id, synonyms, synset.definition, counts[synset_id]))
    rows.sort()
    ranked = sorted(rows, key=lambda r: -r[4])
    third = len(ranked) // 3
    frequency = {
        r[0]: "f" if i < third else "c" if i < 2 * third else "r" for i, r in enumerate(ranked)
    }
    categories = [
        {
            "id": i + 1,
            "name": name,
            "synset": synset_id,
            "synonyms": synonyms,
            "def": definition,
            "frequency": frequency[name],
            "image_count": count,
        }
        for i, (name, synset_id, synonyms, definition, count) in enumerate(rows)
    ]
    return {
        "info": {
            "description": "datagraph sample LVIS-format categories, picked from WordNet 3.0 "
            "by datagraph.synthetic; image_count = sample posts tagged with the concept",
        },
        "categories": categories,
    }


def write_sample(out_dir: Path, n_posts: int = 20_000, seed: int = 0) -> dict[str, Path]:
    """Write posts.jsonl, posts.parquet and lvis_sample_categories.json into ``out_dir``.

    posts.jsonl holds every record plus the malformed lines (spread through the file);
    posts.parquet holds the same records typed (malformed lines cannot be Parquet rows).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wn = WordNet.load()
    generator = PostGenerator(seed=seed, wordnet=wn)
    records, malformed = generator.posts(n_posts)
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    step = max(1, len(lines) // (len(malformed) + 1))
    for i, bad in enumerate(malformed):
        lines.insert((i + 1) * step + i, bad)
    paths = {
        "jsonl": out_dir / "posts.jsonl",
        "parquet": out_dir / "posts.parquet",
        "categories": out_dir / "lvis_sample_categories.json",
    }
    paths["jsonl"].write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = pa.Table.from_pylist(records, schema=RAW_POST_SCHEMA)
    pq.write_table(table, paths["parquet"], compression="zstd", row_group_size=8192)
    categories = lvis_style_categories(records, wn)
    paths["categories"].write_text(json.dumps(categories, indent=1, ensure_ascii=False) + "\n")
    return paths
