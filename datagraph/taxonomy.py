"""Taxonomies: the ordered class lists that labels are projected onto.

A taxonomy is a list of classes, each tied to one WordNet 3.0 noun synset. Loaders:

- ``"wordnet"``: every noun synset (82,115 classes, class_id = WordNet offset).
- ``"visual"``: nouns that name something one can see (``WordNet.is_visual``): physical_entity.n.01
  and everything below it through hypernyms and instance hypernyms (46,162 synsets), plus the
  depictable senses below the roots of taxonomy/depictable.tsv (1,129: a smile, a wedding, yoga, a
  heart shape); 47,291 in all. Abstractions such as love.n.01, undertakings such as travel.n.01
  and time words are outside. People and places are physical entities and stay in; the mapping
  stage decides how to treat them.
- ``"lvis"``: categories from a user's LVIS annotation JSON (``{"categories": [...]}``, the
  official shape; class_id = LVIS category id).
- ``"imagenet1k"``: a wnid list (one class a line; ``n01440764``, optionally with an index and
  names); class_id = the class index.
- ``"synsets"``: a plain list of synset ids or wnids, one a line; class_id = line order.

Classes whose synset does not resolve in the snapshot are kept aside in ``Taxonomy.unresolved``
with their names (and raise with ``strict=True``) rather than disappearing silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from datagraph.errors import TaxonomyError
from datagraph.wordnet import WordNet

TAXONOMY_NAMES = ("wordnet", "visual", "lvis", "imagenet1k", "synsets")
_NEEDS_PATH = {
    "lvis": "an LVIS annotation or categories JSON",
    "imagenet1k": "a wnid list",
    "synsets": "a file with one synset id a line",
}
_WNID = re.compile(r"^n\d{8}$")
_SYNSET_ID = re.compile(r"^.+\.n\.\d{2}$")

TAXONOMY_CLASS_SCHEMA = pa.schema(
    [
        ("index", pa.int32()),
        ("class_id", pa.int64()),
        ("name", pa.string()),
        ("synset_id", pa.string()),
        ("wnid", pa.string()),
        ("synonyms", pa.list_(pa.string())),
        ("frequency", pa.string()),
    ]
)


@dataclass(frozen=True)
class TaxonomyClass:
    """One class of a taxonomy: its own id, a name, and the WordNet synset it stands for."""

    class_id: int
    name: str
    synset_id: str
    wnid: str | None  # None for project extension synsets
    synonyms: tuple[str, ...] = ()
    frequency: str | None = None  # LVIS r/c/f


@dataclass(frozen=True)
class UnresolvedClass:
    """A class from a taxonomy file whose synset is not a WordNet 3.0 noun."""

    name: str
    given: str
    reason: str


@dataclass
class Taxonomy:
    """An ordered list of classes (index = training label), with a lookup from synsets."""

    name: str
    classes: list[TaxonomyClass]
    unresolved: list[UnresolvedClass] = field(default_factory=list)
    source: str | None = None

    def __post_init__(self) -> None:
        self._by_synset: dict[str, int] = {}
        self._by_class_id: dict[int, int] = {}
        for index, cls in enumerate(self.classes):
            self._by_synset.setdefault(cls.synset_id, index)
            if cls.class_id in self._by_class_id:
                raise TaxonomyError(
                    f"{self.source or self.name}: class id {cls.class_id} appears twice "
                    f"({self.classes[self._by_class_id[cls.class_id]].name!r} and {cls.name!r})"
                )
            self._by_class_id[cls.class_id] = index

    def __len__(self) -> int:
        return len(self.classes)

    def __contains__(self, synset_id: object) -> bool:
        return synset_id in self._by_synset

    @property
    def synset_ids(self) -> frozenset[str]:
        return frozenset(self._by_synset)

    def class_for_synset(self, synset_id: str) -> TaxonomyClass | None:
        """The class whose synset is exactly ``synset_id`` (no hypernym climbing), or None."""
        index = self._by_synset.get(synset_id)
        return None if index is None else self.classes[index]

    def index_of_synset(self, synset_id: str) -> int | None:
        """0-based label index of the class for this synset, or None."""
        return self._by_synset.get(synset_id)

    def index_of_class_id(self, class_id: int) -> int | None:
        """0-based label index of the class with this taxonomy id, or None."""
        return self._by_class_id.get(class_id)

    @property
    def fingerprint(self) -> str:
        """sha256 of the ordered (class_id, synset, name) list: identifies the label space."""
        digest = hashlib.sha256()
        for cls in self.classes:
            digest.update(f"{cls.class_id}\t{cls.synset_id}\t{cls.name}\n".encode())
        return digest.hexdigest()

    def to_table(self) -> pa.Table:
        """The class list as an Arrow table (index, class_id, name, synset_id, wnid, ...)."""
        return pa.Table.from_pydict(
            {
                "index": list(range(len(self.classes))),
                "class_id": [c.class_id for c in self.classes],
                "name": [c.name for c in self.classes],
                "synset_id": [c.synset_id for c in self.classes],
                "wnid": [c.wnid for c in self.classes],
                "synonyms": [list(c.synonyms) for c in self.classes],
                "frequency": [c.frequency for c in self.classes],
            },
            schema=TAXONOMY_CLASS_SCHEMA,
        )

    def summary(self) -> dict:
        """Counts for reports and the CLI."""
        return {
            "name": self.name,
            "source": self.source,
            "classes": len(self.classes),
            "unresolved": len(self.unresolved),
            "unresolved_names": [u.name for u in self.unresolved],
            "fingerprint": self.fingerprint,
        }


def load_taxonomy(
    name: str,
    path: str | Path | None = None,
    *,
    wordnet: WordNet | None = None,
    strict: bool = False,
) -> Taxonomy:
    """Load a taxonomy by name; ``lvis``, ``imagenet1k`` and ``synsets`` read ``path``.

    >>> load_taxonomy("visual").class_for_synset("dog.n.01").name
    'dog'
    """
    if name not in TAXONOMY_NAMES:
        raise TaxonomyError(
            f"unknown taxonomy {name!r}; choose one of: {', '.join(TAXONOMY_NAMES)}"
        )
    wn = wordnet or WordNet.load()
    if name in _NEEDS_PATH:
        if path is None:
            raise TaxonomyError(f"taxonomy {name!r} needs a path to {_NEEDS_PATH[name]}")
        path = Path(path)
        if not path.is_file():
            raise TaxonomyError(f"{path}: taxonomy file not found ({_NEEDS_PATH[name]})")
    if name == "wordnet":
        taxonomy = _from_synsets("wordnet", wn.wordnet_synset_ids, wn, None)
    elif name == "visual":
        ids = [s for s in wn.wordnet_synset_ids if wn.is_visual(s)]
        taxonomy = _from_synsets("visual", ids, wn, None)
    elif name == "lvis":
        taxonomy = _load_lvis(path, wn)
    elif name == "imagenet1k":
        taxonomy = _load_wnid_list(path, wn)
    else:
        taxonomy = _load_synset_list(path, wn)
    if strict and taxonomy.unresolved:
        names = ", ".join(f"{u.name} ({u.given}: {u.reason})" for u in taxonomy.unresolved[:20])
        raise TaxonomyError(
            f"{taxonomy.source or name}: {len(taxonomy.unresolved)} classes do not resolve to "
            f"WordNet 3.0 nouns: {names}"
        )
    if not taxonomy.classes:
        raise TaxonomyError(f"{taxonomy.source or name}: taxonomy has no usable classes")
    return taxonomy


def _from_synsets(
    name: str, synset_ids: Iterable[str], wn: WordNet, source: str | None
) -> Taxonomy:
    offsets = wn._offsets
    lemma_names = wn._lemma_names
    classes = []
    for synset_id in synset_ids:
        row = wn._row[synset_id]
        classes.append(
            TaxonomyClass(
                class_id=offsets[row],
                name=lemma_names[row][0],
                synset_id=synset_id,
                wnid=f"n{offsets[row]:08d}",
            )
        )
    return Taxonomy(name=name, classes=classes, source=source)


def _read_json(path: Path) -> object:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaxonomyError(
            f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})"
        ) from None


def _load_lvis(path: Path, wn: WordNet) -> Taxonomy:
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
        raise TaxonomyError(
            f'{path}: expected an LVIS annotation file, a JSON object with a "categories" list'
        )
    classes, unresolved = [], []
    for position, category in enumerate(data["categories"]):
        where = f"{path}: categories[{position}]"
        if not isinstance(category, dict):
            raise TaxonomyError(f"{where}: expected an object, got {type(category).__name__}")
        for key, kind in (("id", int), ("name", str), ("synset", str)):
            value = category.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise TaxonomyError(
                    f'{where}: field "{key}" must be {kind.__name__}, got {value!r}'
                )
        synset_id = category["synset"]
        if synset_id not in wn:
            unresolved.append(
                UnresolvedClass(category["name"], synset_id, "not a WordNet 3.0 noun synset")
            )
            continue
        synonyms = category.get("synonyms") or []
        if not isinstance(synonyms, list) or not all(isinstance(s, str) for s in synonyms):
            raise TaxonomyError(f'{where}: field "synonyms" must be a list of strings')
        frequency = category.get("frequency")
        classes.append(
            TaxonomyClass(
                class_id=category["id"],
                name=category["name"],
                synset_id=synset_id,
                wnid=wn.synset(synset_id).wnid,
                synonyms=tuple(synonyms),
                frequency=frequency if isinstance(frequency, str) else None,
            )
        )
    classes.sort(key=lambda c: c.class_id)
    return Taxonomy(name="lvis", classes=classes, unresolved=unresolved, source=str(path))


def _text_lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty, non-comment lines with their 1-based line numbers."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append((number, stripped))
    return lines


def _load_wnid_list(path: Path, wn: WordNet) -> Taxonomy:
    """Accepts ``wnid``, ``wnid names...`` (LOC_synset_mapping) or ``index<TAB>wnid<TAB>names``."""
    classes, unresolved = [], []
    for position, (number, line) in enumerate(_text_lines(path)):
        fields = line.split("\t") if "\t" in line else line.split(None, 1)
        wnid_at = next((i for i, f in enumerate(fields) if _WNID.match(f.strip())), None)
        if wnid_at is None:
            raise TaxonomyError(f"{path}:{number}: no wnid (like n01440764) on this line")
        wnid = fields[wnid_at].strip()
        index = int(fields[0]) if wnid_at == 1 and fields[0].strip().isdigit() else position
        names = fields[wnid_at + 1].strip() if len(fields) > wnid_at + 1 else ""
        synset_id = wn.by_wnid(wnid)
        name = names.split(",")[0].strip() if names else (synset_id or wnid)
        if synset_id is None:
            unresolved.append(UnresolvedClass(name, wnid, "wnid is not a WordNet 3.0 noun offset"))
            continue
        classes.append(TaxonomyClass(index, name, synset_id, wnid))
    return Taxonomy(name="imagenet1k", classes=classes, unresolved=unresolved, source=str(path))


def _load_synset_list(path: Path, wn: WordNet) -> Taxonomy:
    classes, unresolved = [], []
    for position, (number, line) in enumerate(_text_lines(path)):
        given = line.split()[0]
        synset_id = wn.by_wnid(given) if _WNID.match(given) else given
        if synset_id is None or synset_id not in wn:
            reason = "not a WordNet 3.0 noun synset"
            if not _WNID.match(given) and not _SYNSET_ID.match(given):
                reason = f"line {number}: expected a synset id like dog.n.01 or a wnid"
            unresolved.append(UnresolvedClass(given, given, reason))
            continue
        classes.append(
            TaxonomyClass(
                position, wn.synset(synset_id).lemmas[0], synset_id, wn.synset(synset_id).wnid
            )
        )
    return Taxonomy(name="synsets", classes=classes, unresolved=unresolved, source=str(path))
