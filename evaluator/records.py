"""Reading pairs from the store for a report, tolerant of rows that cannot be decoded.

``Store.iter_pairs`` stops at the first row it cannot decode (a hand-edited or truncated file); a report must
count such a row and go on. :func:`read_pairs` streams the same rows in pages and yields a :class:`BadRecord`
for each one that fails, which the scorer counts in the bad-input section.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.pair import Pair

if TYPE_CHECKING:
    from core.store import Store

PAGE = 500


@dataclass(frozen=True)
class BadRecord:
    """A stored row that is not a readable pair."""

    pair_id: str
    reason: str


def read_pairs(
    store: Store, *, since: float | None = None, model: str | None = None, source: str | None = "live"
) -> Iterator[Pair | BadRecord]:
    """Live pairs by default; ``source="replay"`` for those ``alveare-migrate replay`` recorded, None for all."""
    from core.store import pair_from_row

    after: tuple[float, str] | None = None
    while True:
        rows = store.pair_rows(after=after, since=since, model=model, source=source, limit=PAGE)
        if not rows:
            return
        for row in rows:
            yield _decode(row, pair_from_row)
        after = (rows[-1]["ts"], rows[-1]["pair_id"])


def _decode(row: Mapping[str, Any], decode: Any) -> Pair | BadRecord:
    try:
        pair = decode(row)
    except (ValueError, TypeError, KeyError) as exc:  # bad JSON, wrong fields
        return BadRecord(str(row["pair_id"]), f"unreadable record ({type(exc).__name__})")
    return pair if isinstance(pair, Pair) else BadRecord(str(row["pair_id"]), "unreadable record")
