"""Every environment variable the command line reads, named once.

Config keys have theirs derived from the key (``ALVEARE_`` + dotted path upper-cased, see ``core.config``); the
others are here, and each option that reads one shows it in its help.
"""

from __future__ import annotations

from core.config import env_name

LOG_LEVEL = "ALVEARE_LOG_LEVEL"  # a number (10 debug ... 40 error); beats -v
STORE = env_name("store")  # the store URL; the --store flag beats it, it beats the config file
CHECK_API_KEY = (
    "ALVEARE_CHECK_API_KEY"  # `check`'s key: never OPENAI_API_KEY, a real key to an endpoint under test
)
BACKEND_FILE = "ALVEARE_BACKEND_FILE"  # `backend`'s spec file
DEMO_INCUMBENT_KEY = "ALVEARE_DEMO_INCUMBENT_KEY"  # the demo's stand-in incumbent key (not a real one)
