"""Evaluator fixtures: a store in tmp_path, and the embedding model loaded once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'pairs.sqlite'}")
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def embedding_model() -> Any:
    """Loads all-MiniLM-L6-v2 (about 5 s) once; the evaluator's module cache then shares it."""
    from evaluator.embed import load_model

    return load_model(threads=1)
