"""Where the ground truth (OpenAI's spec and recorded exchanges) lives for the tests: in the repository.

``tests/data/openai/`` is a byte-for-byte copy of the project's shared folder; SOURCES.txt there names each
file's origin, commit and licence.
"""

from __future__ import annotations

from pathlib import Path

OPENAI = Path(__file__).resolve().parent / "data" / "openai"
FIXTURES = OPENAI / "fixtures"
OPENAPI = OPENAI / "openapi.yaml"
