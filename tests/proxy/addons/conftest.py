"""The addon tests' fixture: a Runtime over a fresh store, mapping gpt-4o-mini to the candidate."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import parse_config
from proxy.runtime import Runtime


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    config = parse_config(
        {
            "store": f"sqlite:///{tmp_path / 's.sqlite'}",
            "incumbent": {"url": "https://api.openai.com", "key_env": "OPENAI_API_KEY"},
            "candidate": {"url": "http://10.0.0.5:30000/root", "key_env": "SGLANG_KEY"},
            "models": {"gpt-4o-mini": "classify"},
            "specialists": {"classify": "qwen:classify"},
        },
        source="test",
    )
    return Runtime(config, {"OPENAI_API_KEY": "sk-real", "SGLANG_KEY": "sg-key"})
