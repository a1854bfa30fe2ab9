"""Where the shared ground truth (OpenAI's spec and recorded exchanges) lives, for tests.

CI runs from a clean clone with the shared folder beside the repository (``<repo>/../shared``);
``ALVEARE_SHARED`` points elsewhere when it is not there.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("ALVEARE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
FIXTURES = SHARED / "openai" / "fixtures"
OPENAPI = SHARED / "openai" / "openapi.yaml"
