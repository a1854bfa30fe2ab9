"""The recorder's spool: pairs the store could not take (database unreachable), kept on local disk until it can.

Each failed batch becomes one JSON-lines file, written to a temporary name and renamed, so a crash leaves either
a whole file or none. :meth:`Spool.drain` writes the oldest files back through the store and deletes each only
after its write committed; the store inserts by ``pair_id``, so a file written twice (a crash between the write
and the delete) is still stored once. The spool is bounded (``max_bytes``): beyond it a batch is dropped and
counted, as the recorder's queue does, so a long outage cannot fill the disk.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from core.pair import Pair
from core.store import pair_from_row, pair_row


class Spool:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.jsonl"))

    def size(self) -> int:
        return sum(path.stat().st_size for path in self.files())

    def add(self, pairs: Sequence[Pair]) -> bool:
        """Keep ``pairs`` for later; False (nothing kept) when the spool is full or the disk refuses."""
        data = "".join(json.dumps(pair_row(p), separators=(",", ":")) + "\n" for p in pairs).encode()
        if not pairs or self.size() + len(data) > self.max_bytes:
            return False
        name = f"{_now_ns():020d}-{uuid.uuid4().hex[:8]}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self.folder / f"{name}.tmp"
            temporary.write_bytes(data)
            os.replace(temporary, self.folder / f"{name}.jsonl")
        except OSError:
            return False
        return True

    def drain(self, write: Callable[[list[Pair]], int]) -> int:
        """Write every spooled file through ``write``, oldest first; stops at the first failure (raised)."""
        written = 0
        for path in self.files():
            pairs = [pair_from_row(json.loads(line)) for line in path.read_text().splitlines() if line]
            written += write(pairs)
            path.unlink()
        return written


def _now_ns() -> int:
    import time

    return time.time_ns()
