"""Verdicts on the app's own OpenAI keys, for pass-through auth (no ``alv_live_`` keys created).

In pass-through mode the app sends its OpenAI key and the incumbent checks it; the candidate checks nothing. So
that nobody can use the candidate with a key OpenAI would reject, an unseen key is checked once against the
incumbent (``GET /v1/models``) and the verdict is kept, by a hash of the key, for a bounded time; a request
whose key is not known to be good is not split (the incumbent serves it, and answers a bad key with its own 401).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

# Statuses of GET /v1/models that are a verdict on the key itself; others (429, 5xx, no answer) are not kept.
GOOD = 200
KEPT_REFUSALS = frozenset({400, 401, 403, 404})


def key_digest(authorization: str) -> str:
    """What the verdict is kept under: never the key itself."""
    return hashlib.blake2b(authorization.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()


class KeyVerdicts:
    """digest -> (good?, expiry), at most ``limit`` entries (the oldest go first)."""

    def __init__(
        self, ttl_s: float, limit: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s, self.limit, self.clock = ttl_s, limit, clock
        self._verdicts: OrderedDict[str, tuple[bool, float]] = OrderedDict()

    def get(self, digest: str) -> bool | None:
        """True: known good; False: known bad; None: unknown or expired (check it again)."""
        verdict = self._verdicts.get(digest)
        if verdict is None:
            return None
        if verdict[1] <= self.clock():
            del self._verdicts[digest]
            return None
        return verdict[0]

    def put(self, digest: str, status: int | None) -> bool | None:
        """Keep what the incumbent's answer ``status`` says about the key; returns the verdict (None: none)."""
        if status != GOOD and status not in KEPT_REFUSALS:
            return None
        good = status == GOOD
        self._verdicts[digest] = (good, self.clock() + self.ttl_s)
        self._verdicts.move_to_end(digest)
        while len(self._verdicts) > self.limit:
            self._verdicts.popitem(last=False)
        return good
