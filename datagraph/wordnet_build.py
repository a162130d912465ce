"""Compile WordNet 3.0 nouns into the Parquet snapshot the library reads at run time.

Build time only: this is the one module that imports NLTK. It reads WordNet 3.0 with NLTK's own
reader, from NLTK data when the user has it (``nltk.download("wordnet")``) or else from Debian's
``wordnet-base`` + ``wordnet-sense-index`` packages under /usr/share/wordnet. Debian ships no
``lexnames`` file, which NLTK needs, so we stage the Debian files in a temporary NLTK data root
together with the 45 fixed lexname lines of WordNet 3.0.

The snapshot (``taxonomy/wordnet30/``) holds three tables and a small JSON header:

- ``synsets.parquet``: one row per noun synset, sorted by offset: synset_id (dog.n.01), offset,
  wnid (n02084071), lexname, definition, lemmas, lemma_counts (tagged sense counts, parallel to
  lemmas), hypernyms, instance_hypernyms.
- ``lemmas.parquet``: the noun index: lemma (lower case, underscores), sense_number (1 = most
  frequent, WordNet's order), synset_id, tagged_count.
- ``exceptions.parquet``: noun.exc, irregular plural -> base form (geese -> goose).
- ``pos_counts.parquet``: for each noun lemma that is also a verb, adjective or adverb, the
  summed tagged counts and the number of senses in each part of speech (pink: adjective 12,
  noun 2), so the mapper can tell a colour word from a noun.
- ``snapshot.json``: format version, WordNet version, row counts, source file checksums.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from datagraph.errors import TaxonomyError

SNAPSHOT_FORMAT_VERSION = 2
DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")

# WordNet 3.0's lexicographer file names, in file-number order (dict/lexnames upstream).
LEXNAMES = [
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
]
_LEXNAME_SYNTACTIC_CATEGORY = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}
_REQUIRED_FILES = ("index.noun", "data.noun", "noun.exc", "index.sense")

SYNSETS_SCHEMA = pa.schema(
    [
        ("synset_id", pa.string()),
        ("offset", pa.int32()),
        ("wnid", pa.string()),
        ("lexname", pa.string()),
        ("definition", pa.string()),
        ("lemmas", pa.list_(pa.string())),
        ("lemma_counts", pa.list_(pa.int32())),
        ("hypernyms", pa.list_(pa.string())),
        ("instance_hypernyms", pa.list_(pa.string())),
    ]
)
LEMMAS_SCHEMA = pa.schema(
    [
        ("lemma", pa.string()),
        ("sense_number", pa.int16()),
        ("synset_id", pa.string()),
        ("tagged_count", pa.int32()),
    ]
)
EXCEPTIONS_SCHEMA = pa.schema([("inflected", pa.string()), ("base", pa.string())])
POS_COUNTS_SCHEMA = pa.schema(
    [
        ("lemma", pa.string()),
        ("noun_count", pa.int32()),
        ("verb_count", pa.int32()),
        ("adj_count", pa.int32()),  # adjectives and satellite adjectives
        ("adv_count", pa.int32()),
        ("noun_senses", pa.int16()),
        ("verb_senses", pa.int16()),
        ("adj_senses", pa.int16()),
        ("adv_senses", pa.int16()),
    ]
)
SNAPSHOT_FILES = ("synsets.parquet", "lemmas.parquet", "exceptions.parquet", "pos_counts.parquet")


def lexnames_file_text() -> str:
    """The ``lexnames`` file NLTK expects: ``NN<TAB>name<TAB>category`` per line (45 lines)."""
    lines = []
    for number, name in enumerate(LEXNAMES):
        category = _LEXNAME_SYNTACTIC_CATEGORY[name.split(".")[0]]
        lines.append(f"{number:02d}\t{name}\t{category}\n")
    return "".join(lines)


def _open_wordnet(source_dir: Path | None, staging: Path):
    """Return an NLTK WordNetCorpusReader over WordNet 3.0, staged under ``staging``."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    if source_dir is None:
        try:
            nltk.data.find("corpora/wordnet")
            from nltk.corpus import wordnet

            wordnet.ensure_loaded()
            return wordnet
        except (LookupError, OSError):
            source_dir = DEBIAN_WORDNET_DIR
    missing = [name for name in _REQUIRED_FILES if not (source_dir / name).is_file()]
    if missing:
        raise TaxonomyError(
            f"WordNet 3.0 not found in {source_dir} (missing {', '.join(missing)}). Install it "
            "with `apt-get install wordnet-base wordnet-sense-index`, or pass --wordnet-dir "
            "pointing at a WordNet 3.0 dict/ directory."
        )
    corpus_dir = staging / "corpora" / "wordnet"
    corpus_dir.mkdir(parents=True)
    for path in source_dir.iterdir():
        if path.is_file():
            shutil.copyfile(path, corpus_dir / path.name)  # copies: NLTK refuses symlinks out
    if not (corpus_dir / "lexnames").exists():
        (corpus_dir / "lexnames").write_text(lexnames_file_text())
    if str(staging) not in nltk.data.path:
        nltk.data.path.insert(0, str(staging))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "multilingual functions are not available"
        return WordNetCorpusReader(str(corpus_dir), None)


def _synset_rows(wn) -> dict[str, list]:
    columns: dict[str, list] = {name: [] for name in SYNSETS_SCHEMA.names}
    synsets = sorted(wn.all_synsets("n"), key=lambda s: s.offset())
    for synset in synsets:
        lemmas = synset.lemmas()
        columns["synset_id"].append(synset.name())
        columns["offset"].append(synset.offset())
        columns["wnid"].append(f"n{synset.offset():08d}")
        columns["lexname"].append(synset.lexname())
        columns["definition"].append(synset.definition())
        columns["lemmas"].append([lemma.name() for lemma in lemmas])
        columns["lemma_counts"].append([lemma.count() for lemma in lemmas])
        columns["hypernyms"].append(sorted(h.name() for h in synset.hypernyms()))
        columns["instance_hypernyms"].append(sorted(h.name() for h in synset.instance_hypernyms()))
    return columns


def _lemma_rows(wn, synsets: dict[str, list]) -> dict[str, list]:
    """The noun index in WordNet's sense order, with each (lemma, synset) tagged count."""
    by_offset = dict(zip(synsets["offset"], synsets["synset_id"], strict=True))
    counts: dict[tuple[str, str], int] = {}
    for synset_id, names, lemma_counts in zip(
        synsets["synset_id"], synsets["lemmas"], synsets["lemma_counts"], strict=True
    ):
        for name, count in zip(names, lemma_counts, strict=True):
            key = (name.lower(), synset_id)
            counts[key] = counts.get(key, 0) + count
    columns: dict[str, list] = {name: [] for name in LEMMAS_SCHEMA.names}
    for lemma in sorted(wn.all_lemma_names("n")):
        offsets = wn._lemma_pos_offset_map[lemma]["n"]  # index.noun order = sense order
        for sense_number, offset in enumerate(offsets, start=1):
            synset_id = by_offset[offset]
            columns["lemma"].append(lemma)
            columns["sense_number"].append(sense_number)
            columns["synset_id"].append(synset_id)
            columns["tagged_count"].append(counts.get((lemma, synset_id), 0))
    return columns


def _exception_rows(wn) -> dict[str, list]:
    rows = sorted(
        (inflected, base) for inflected, bases in wn._exception_map["n"].items() for base in bases
    )
    return {"inflected": [r[0] for r in rows], "base": [r[1] for r in rows]}


def _pos_count_rows(wn, noun_lemmas: list[str]) -> dict[str, list]:
    columns: dict[str, list] = {name: [] for name in POS_COUNTS_SCHEMA.names}
    for name in sorted(set(noun_lemmas)):
        counts, senses = {}, {}
        for pos in "nvar":
            lemmas = wn.lemmas(name, pos)  # "a" includes satellite adjectives
            counts[pos] = sum(lemma.count() for lemma in lemmas)
            senses[pos] = len(lemmas)
        if senses["v"] + senses["a"] + senses["r"] == 0:
            continue
        for prefix, pos in (("noun", "n"), ("verb", "v"), ("adj", "a"), ("adv", "r")):
            columns[f"{prefix}_count"].append(counts[pos])
            columns[f"{prefix}_senses"].append(senses[pos])
        columns["lemma"].append(name)
    return columns


def _write_parquet(columns: dict[str, list], schema: pa.Schema, path: Path) -> None:
    table = pa.Table.from_pydict(columns, schema=schema)
    pq.write_table(table, path, compression="zstd", row_group_size=1 << 20)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_snapshot(out_dir: Path, wordnet_dir: Path | None = None) -> dict:
    """Compile WordNet 3.0 nouns into ``out_dir``; return the snapshot header (counts, hashes).

    Files are written to a temporary directory first and moved into place only when all of them
    are complete, so an interrupted build never leaves a half-written snapshot.
    """
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="datagraph-wordnet-") as tmp:
        staging = Path(tmp)
        wn = _open_wordnet(Path(wordnet_dir) if wordnet_dir else None, staging / "nltk_data")
        version = wn.get_version()
        if version != "3.0":
            raise TaxonomyError(f"expected WordNet 3.0, found version {version!r}")
        synsets = _synset_rows(wn)
        lemmas = _lemma_rows(wn, synsets)
        exceptions = _exception_rows(wn)
        pos_counts = _pos_count_rows(wn, lemmas["lemma"])
        build_dir = staging / "snapshot"
        build_dir.mkdir()
        _write_parquet(synsets, SYNSETS_SCHEMA, build_dir / "synsets.parquet")
        _write_parquet(lemmas, LEMMAS_SCHEMA, build_dir / "lemmas.parquet")
        _write_parquet(exceptions, EXCEPTIONS_SCHEMA, build_dir / "exceptions.parquet")
        _write_parquet(pos_counts, POS_COUNTS_SCHEMA, build_dir / "pos_counts.parquet")
        header = {
            "format_version": SNAPSHOT_FORMAT_VERSION,
            "wordnet_version": version,
            "pos": "n",
            "counts": {
                "synsets": len(synsets["synset_id"]),
                "lemma_senses": len(lemmas["lemma"]),
                "lemmas": len(set(lemmas["lemma"])),
                "exceptions": len(exceptions["inflected"]),
                "lemmas_with_other_pos": len(pos_counts["lemma"]),
            },
            "files": {name: _sha256(build_dir / name) for name in SNAPSHOT_FILES},
        }
        (build_dir / "snapshot.json").write_text(
            json.dumps(header, indent=2, sort_keys=True) + "\n"
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(build_dir.iterdir()):
            tmp_target = out_dir / f".{path.name}.tmp"
            shutil.copyfile(path, tmp_target)
            tmp_target.replace(out_dir / path.name)
    return header
