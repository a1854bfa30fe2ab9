"""Every environment variable the command line reads, named once.

Config keys have theirs derived from the key (``ALVEARE_`` + dotted path upper-cased, see ``core.config``); the
others are here, and each option that reads one shows it in its help.
"""

from __future__ import annotations

LOG_LEVEL = "ALVEARE_LOG_LEVEL"  # a number (10 debug ... 40 error); beats -v
STORE = "ALVEARE_STORE"  # the store URL; the --store flag beats it, it beats the config file
OPENAI_API_KEY = "OPENAI_API_KEY"  # the incumbent's key, read by the proxy (incumbent.key_env names it)
