"""Read-only access to the compiled WordNet 3.0 noun snapshot (no NLTK at run time).

The snapshot is three Parquet tables made by :mod:`datagraph.wordnet_build`. Loading reads them
with Arrow and builds only the id index; the lemma index, hypernym children and Python lists of
lemmas are built the first time something asks for them, so ``WordNet.load()`` stays well under a
second (see benchmarks/taxonomy_load.py).

>>> wn = WordNet.load()
>>> wn.synset("dog.n.01").wnid
'n02084071'
>>> wn.synsets_for_lemma("dog")[:2]
['dog.n.01', 'frump.n.01']
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from datagraph.errors import TaxonomyError
from datagraph.resources import taxonomy_dir, wordnet_snapshot_dir
from datagraph.wordnet_build import (
    LEMMAS_SCHEMA,
    SNAPSHOT_FILES,
    SNAPSHOT_FORMAT_VERSION,
    SYNSETS_SCHEMA,
)

PHYSICAL_ENTITY = "physical_entity.n.01"


@dataclass(frozen=True)
class Synset:
    """One WordNet noun synset as stored in the snapshot."""

    synset_id: str
    offset: int | None  # None for project extensions (not in WordNet 3.0)
    wnid: str | None
    lexname: str
    definition: str
    lemmas: tuple[str, ...]
    lemma_counts: tuple[int, ...]
    hypernyms: tuple[str, ...]
    instance_hypernyms: tuple[str, ...]

    @property
    def parents(self) -> tuple[str, ...]:
        """Class and instance hypernyms together (Paris -> national_capital)."""
        return self.hypernyms + self.instance_hypernyms

    @property
    def tagged_count(self) -> int:
        """Sum of the SemCor tagged counts of this synset's lemmas (a sense-frequency signal)."""
        return sum(self.lemma_counts)


@dataclass(frozen=True)
class PosCounts:
    """How a lemma is used across parts of speech in WordNet's sense-tagged corpus."""

    noun_count: int
    verb_count: int
    adj_count: int
    adv_count: int
    noun_senses: int
    verb_senses: int
    adj_senses: int
    adv_senses: int

    @property
    def adjective_share(self) -> float:
        """Share of the noun + adjective uses that are adjectives, add-one smoothed.

        Colour and quality words are mostly adjectives: pink 13/16, black 69/74; dog 1/44.
        """
        return (self.adj_count + 1) / (self.adj_count + self.noun_count + 2)

    @property
    def modifier_share(self) -> float:
        """Share of the noun + adjective + adverb uses that are adjectives or adverbs, add-one
        smoothed: what the mapper's ``adjective`` gate reads. daily 37/37 (adverbs; WordNet's
        only noun "daily" is a newspaper), pink 12/14, dog 0/42.
        """
        modifiers = self.adj_count + self.adv_count
        return (modifiers + 1) / (modifiers + self.noun_count + 2)


class WordNet:
    """The WordNet 3.0 noun hierarchy: synsets, lemma index, hypernyms, noun exceptions."""

    def __init__(
        self,
        synsets: pa.Table,
        lemmas: pa.Table,
        exceptions: pa.Table,
        pos_counts: pa.Table,
        header: dict,
        extensions: list[dict] | None = None,
        depictable_roots: Iterable[str] = (),
    ):
        self.header = header
        self.depictable_roots: tuple[str, ...] = tuple(depictable_roots)
        self.wordnet_synset_count = synsets.num_rows
        if extensions:
            synsets, lemmas = _with_extensions(synsets, lemmas, extensions)
        self._synsets = synsets
        self._lemmas = lemmas
        self._exceptions = exceptions
        self._pos_counts_table = pos_counts
        ids = synsets.column("synset_id").to_pylist()
        self._ids: list[str] = ids
        self._row: dict[str, int] = {synset_id: i for i, synset_id in enumerate(ids)}

    @classmethod
    def load(
        cls,
        path: Path | str | None = None,
        extensions: Path | str | bool | None = True,
        depictable: Path | str | bool | None = True,
    ) -> WordNet:
        """Load a snapshot directory (default: the project's taxonomy/wordnet30/), cached.

        ``extensions`` adds project-owned synsets that taxonomies name but WordNet 3.0 lacks
        (taxonomy/synset_extensions.json by default; False for pure WordNet). ``depictable``
        names the roots of the non-physical senses a photo can show (taxonomy/depictable.tsv
        by default; False for physical_entity.n.01 alone), see ``is_visual``.
        """
        if extensions is True:
            extensions = synset_extensions_path()
        if depictable is True:
            depictable = depictable_roots_path()
        return _load_cached(
            str(Path(path) if path else wordnet_snapshot_dir()),
            str(extensions) if extensions else None,
            str(depictable) if depictable else None,
        )

    # --- synsets -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, synset_id: object) -> bool:
        return synset_id in self._row

    @property
    def synset_ids(self) -> list[str]:
        """All noun synset ids: WordNet's in offset order, then project extensions."""
        return list(self._ids)

    @property
    def wordnet_synset_ids(self) -> list[str]:
        """The 82,115 WordNet 3.0 noun synsets only, in offset order."""
        return self._ids[: self.wordnet_synset_count]

    def is_extension(self, synset_id: str) -> bool:
        """True for synsets the project added (taxonomy/synset_extensions.json)."""
        return self._require(synset_id) >= self.wordnet_synset_count

    @property
    def table(self) -> pa.Table:
        """The synsets table itself (for vectorized work)."""
        return self._synsets

    def synset(self, synset_id: str) -> Synset:
        """The synset with this id; raises TaxonomyError naming the id when it does not exist."""
        row = self._row.get(synset_id)
        if row is None:
            raise TaxonomyError(f"unknown WordNet 3.0 noun synset {synset_id!r}")
        offset = self._offsets[row]
        return Synset(
            synset_id=synset_id,
            offset=offset,
            wnid=None if offset is None else f"n{offset:08d}",
            lexname=self._lexnames[row],
            definition=self._definitions[row],
            lemmas=tuple(self._lemma_names[row]),
            lemma_counts=tuple(self._lemma_counts[row]),
            hypernyms=tuple(self._hypernyms[row]),
            instance_hypernyms=tuple(self._instance_hypernyms[row]),
        )

    def by_wnid(self, wnid: str) -> str | None:
        """Synset id for an ImageNet-style wnid (n02084071 -> dog.n.01), or None."""
        if len(wnid) != 9 or wnid[0] != "n" or not wnid[1:].isdigit():
            return None
        return self._by_offset.get(int(wnid[1:]))

    def by_offset(self, offset: int) -> str | None:
        """Synset id for a noun offset, or None."""
        return self._by_offset.get(offset)

    # --- lemmas and morphology -----------------------------------------------------------
    def synsets_for_lemma(self, lemma: str) -> list[str]:
        """Noun synsets of a lemma in WordNet's sense order; lemma is matched lower-cased with
        spaces as underscores ("golden retriever" finds golden_retriever.n.01)."""
        return [sense[0] for sense in self.lemma_senses(lemma)]

    def lemma_senses(self, lemma: str) -> list[tuple[str, int, int]]:
        """(synset_id, sense_number, tagged_count) for each noun sense of a lemma."""
        return self._lemma_index.get(lemma.strip().lower().replace(" ", "_"), [])

    def has_lemma(self, lemma: str) -> bool:
        return lemma.strip().lower().replace(" ", "_") in self._lemma_index

    @property
    def lemma_names(self) -> list[str]:
        """All noun lemmas (lower case, underscores), sorted."""
        return sorted(self._lemma_index)

    @cached_property
    def noun_exceptions(self) -> dict[str, list[str]]:
        """WordNet's noun.exc: irregular inflected form -> base forms (geese -> [goose])."""
        table: dict[str, list[str]] = {}
        inflected = self._exceptions.column("inflected").to_pylist()
        for form, base in zip(inflected, self._exceptions.column("base").to_pylist(), strict=True):
            table.setdefault(form, []).append(base)
        return table

    @cached_property
    def _pos_counts(self) -> dict[str, tuple[int, ...]]:
        table = self._pos_counts_table
        columns = [table.column(name).to_pylist() for name in table.column_names[1:]]
        return dict(zip(table.column("lemma").to_pylist(), zip(*columns, strict=True), strict=True))

    def pos_counts(self, lemma: str) -> PosCounts:
        """Tagged counts and sense counts of a noun lemma in every part of speech.

        >>> WordNet.load().pos_counts("pink").adj_count
        12
        """
        key = lemma.strip().lower().replace(" ", "_")
        row = self._pos_counts.get(key)
        if row is not None:
            return PosCounts(*row)
        senses = self._lemma_index.get(key, [])
        return PosCounts(sum(s[2] for s in senses), 0, 0, 0, len(senses), 0, 0, 0)

    # --- hierarchy -----------------------------------------------------------------------
    def parents(self, synset_id: str) -> list[str]:
        """Class and instance hypernyms of a synset."""
        row = self._require(synset_id)
        return self._hypernyms[row] + self._instance_hypernyms[row]

    def children(self, synset_id: str) -> list[str]:
        """Direct hyponyms and instances of a synset."""
        self._require(synset_id)
        return self._children.get(synset_id, [])

    def ancestors(self, synset_id: str) -> set[str]:
        """Every synset reachable upwards through (instance) hypernyms, excluding itself."""
        return self._walk([synset_id], self.parents)

    def descendants(self, synset_id: str) -> set[str]:
        """Every synset reachable downwards through hyponyms and instances, excluding itself."""
        return self._walk([synset_id], self.children)

    def depth(self, synset_id: str) -> int:
        """Length of the shortest hypernym path from entity.n.01 (entity has depth 0)."""
        return self._depths[self._require(synset_id)]

    def is_visual(self, synset_id: str) -> bool:
        """True for what a photo can show: physical_entity.n.01 and everything below it, and
        the depictable non-physical senses below ``depictable_roots`` (a smile, a wedding, a
        kiss, yoga, a heart shape, a shadow: see taxonomy/depictable.tsv)."""
        return synset_id in self._visual

    def is_physical(self, synset_id: str) -> bool:
        """True for physical_entity.n.01 and its descendants."""
        return synset_id in self._physical

    def is_depictable(self, synset_id: str) -> bool:
        """True for the visual synsets that are not physical entities (see ``is_visual``)."""
        return synset_id in self._depictable

    @property
    def visual_synsets(self) -> frozenset[str]:
        """Every visual synset: physical_entity.n.01, its descendants, the depictable ones."""
        return self._visual

    # --- internals -----------------------------------------------------------------------
    def _require(self, synset_id: str) -> int:
        row = self._row.get(synset_id)
        if row is None:
            raise TaxonomyError(f"unknown WordNet 3.0 noun synset {synset_id!r}")
        return row

    def _walk(self, start: Iterable[str], step) -> set[str]:
        seen: set[str] = set()
        queue = deque(start)
        while queue:
            for nxt in step(queue.popleft()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return seen.difference(start)

    def _column(self, name: str) -> list:
        return self._synsets.column(name).to_pylist()

    @cached_property
    def _offsets(self) -> list[int]:
        return self._column("offset")

    @cached_property
    def _by_offset(self) -> dict[int, str]:
        return {o: s for o, s in zip(self._offsets, self._ids, strict=True) if o is not None}

    @cached_property
    def _lexnames(self) -> list[str]:
        return self._column("lexname")

    @cached_property
    def _definitions(self) -> list[str]:
        return self._column("definition")

    @cached_property
    def _lemma_names(self) -> list[list[str]]:
        return self._column("lemmas")

    @cached_property
    def _lemma_counts(self) -> list[list[int]]:
        return self._column("lemma_counts")

    @cached_property
    def _hypernyms(self) -> list[list[str]]:
        return self._column("hypernyms")

    @cached_property
    def _instance_hypernyms(self) -> list[list[str]]:
        return self._column("instance_hypernyms")

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        children: dict[str, list[str]] = {}
        for synset_id, hyper, inst in zip(
            self._ids, self._hypernyms, self._instance_hypernyms, strict=True
        ):
            for parent in hyper + inst:
                children.setdefault(parent, []).append(synset_id)
        return children

    @cached_property
    def _depths(self) -> list[int]:
        depth = {"entity.n.01": 0}
        queue = deque(["entity.n.01"])
        while queue:
            node = queue.popleft()
            for child in self._children.get(node, []):
                if child not in depth:
                    depth[child] = depth[node] + 1
                    queue.append(child)
        return [depth.get(synset_id, 0) for synset_id in self._ids]

    @cached_property
    def _physical(self) -> frozenset[str]:
        return frozenset(self.descendants(PHYSICAL_ENTITY) | {PHYSICAL_ENTITY})

    @cached_property
    def _depictable(self) -> frozenset[str]:
        below = set(self.depictable_roots)
        below |= self._walk(self.depictable_roots, self.children)
        return frozenset(below - self._physical)

    @cached_property
    def _visual(self) -> frozenset[str]:
        return self._physical | self._depictable

    @cached_property
    def _lemma_index(self) -> dict[str, list[tuple[str, int, int]]]:
        index: dict[str, list[tuple[str, int, int]]] = {}
        columns = [self._lemmas.column(n).to_pylist() for n in self._lemmas.column_names]
        for lemma, sense_number, synset_id, count in zip(*columns, strict=True):
            index.setdefault(lemma, []).append((synset_id, sense_number, count))
        return index


def synset_extensions_path() -> Path:
    """The project's extension synsets file (taxonomy/synset_extensions.json)."""
    return taxonomy_dir() / "synset_extensions.json"


def depictable_roots_path() -> Path:
    """The project's depictable roots file (taxonomy/depictable.tsv)."""
    return taxonomy_dir() / "depictable.tsv"


def _read_depictable_roots(path: Path) -> list[tuple[int, str]]:
    """(line number, synset id) of each root in a depictable roots file: the first column of
    every line that is neither blank nor a ``#`` comment."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TaxonomyError(f"{path}: cannot read depictable roots ({exc})") from None
    roots = []
    for number, line in enumerate(lines, start=1):
        if line.strip() and not line.startswith("#"):
            roots.append((number, line.split("\t")[0].strip()))
    return roots


def _read_extensions(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TaxonomyError(f"{path}: cannot read synset extensions ({exc})") from None
    entries = data.get("synsets") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise TaxonomyError(f'{path}: expected an object with a "synsets" list')
    required = ("synset_id", "lemmas", "definition", "hypernyms", "lexname", "source")
    for position, entry in enumerate(entries):
        missing = [key for key in required if key not in entry]
        if missing:
            raise TaxonomyError(f"{path}: synsets[{position}] lacks {', '.join(missing)}")
    return entries


def _with_extensions(
    synsets: pa.Table, lemmas: pa.Table, extensions: list[dict]
) -> tuple[pa.Table, pa.Table]:
    """Append extension synsets (no offset/wnid) and their lemma senses to the snapshot."""
    known = set(synsets.column("synset_id").to_pylist())
    for entry in extensions:
        if entry["synset_id"] in known:
            raise TaxonomyError(f"synset extension {entry['synset_id']} is already in WordNet")
        unknown = [h for h in entry["hypernyms"] if h not in known]
        if unknown:
            raise TaxonomyError(
                f"synset extension {entry['synset_id']}: unknown hypernyms {unknown}"
            )
    extra = pa.Table.from_pylist(
        [
            {
                "synset_id": e["synset_id"],
                "offset": None,
                "wnid": None,
                "lexname": e["lexname"],
                "definition": e["definition"],
                "lemmas": e["lemmas"],
                "lemma_counts": [0] * len(e["lemmas"]),
                "hypernyms": e["hypernyms"],
                "instance_hypernyms": [],
            }
            for e in extensions
        ],
        schema=SYNSETS_SCHEMA,
    )
    senses: dict[str, int] = {}
    for lemma in lemmas.column("lemma").to_pylist():
        senses[lemma] = senses.get(lemma, 0) + 1
    rows = []
    for entry in extensions:
        for name in entry["lemmas"]:
            key = name.lower()
            senses[key] = senses.get(key, 0) + 1
            rows.append((key, senses[key], entry["synset_id"], 0))
    extra_lemmas = pa.Table.from_pylist(
        [dict(zip(LEMMAS_SCHEMA.names, row, strict=True)) for row in rows], schema=LEMMAS_SCHEMA
    )
    return pa.concat_tables([synsets, extra]), pa.concat_tables([lemmas, extra_lemmas])


@lru_cache(maxsize=4)
def _load_cached(path: str, extensions: str | None, depictable: str | None) -> WordNet:
    directory = Path(path)
    header_path = directory / "snapshot.json"
    if not header_path.is_file():
        raise TaxonomyError(
            f"WordNet snapshot not found at {directory}: run `datagraph taxonomy build` "
            "(needs WordNet 3.0 from NLTK data or Debian's wordnet-base + wordnet-sense-index)."
        )
    try:
        header = json.loads(header_path.read_text())
    except json.JSONDecodeError as exc:
        raise TaxonomyError(
            f"{header_path}: not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from None
    version = header.get("format_version")
    if version != SNAPSHOT_FORMAT_VERSION:
        raise TaxonomyError(
            f"{header_path}: snapshot format version {version!r}, this datagraph reads version "
            f"{SNAPSHOT_FORMAT_VERSION}; rebuild it with `datagraph taxonomy build`."
        )
    try:
        tables = [pq.read_table(directory / name) for name in SNAPSHOT_FILES]
    except (OSError, pa.ArrowInvalid) as exc:
        raise TaxonomyError(f"WordNet snapshot at {directory} is unreadable: {exc}") from None
    entries = _read_extensions(Path(extensions)) if extensions else None
    roots = _read_depictable_roots(Path(depictable)) if depictable else []
    wordnet = WordNet(
        *tables, header=header, extensions=entries, depictable_roots=[s for _, s in roots]
    )
    for number, synset_id in roots:
        if synset_id not in wordnet:
            raise TaxonomyError(
                f"{depictable}, line {number}: unknown WordNet 3.0 noun synset {synset_id!r}"
            )
    return wordnet
