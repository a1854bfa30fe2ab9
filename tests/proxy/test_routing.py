from __future__ import annotations

import pytest

from proxy.routing import ModelMap, Target

MAP = ModelMap(
    models={"gpt-4o-mini": "classify", "gpt-3.5-turbo": "qwen:summarise", "gpt-4.1-mini": "other-model"},
    specialists={"classify": "qwen:classify", "summarise": "qwen:summarise"},
)


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("gpt-4o-mini", Target("qwen:classify", "classify")),
        ("classify", Target("qwen:classify", "classify")),
        ("gpt-3.5-turbo", Target("qwen:summarise", "summarise")),
        ("gpt-4.1-mini", Target("other-model", "")),
        ("gpt-4o", None),
        ("summarise", Target("qwen:summarise", "summarise")),
    ],
)
def test_resolve(requested: str, expected: Target | None) -> None:
    assert MAP.resolve(requested) == expected
