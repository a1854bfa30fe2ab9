"""Typed reads from one YAML mapping that reject the keys nobody read.

``alveare.yaml``, policies and ``backend.yaml`` are all parsed this way; each passes its own :class:`ReadRules`
(the error it raises and where its messages send the reader), so every message is one line: the file, the
dotted key, what is wrong and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml


def read_yaml(path: Path, error: type[Exception], *, missing: str) -> Any:
    """The file's YAML as plain data; a missing file or bad syntax raises ``error`` naming the file, in one line
    (YAML's multi-line detail is folded). ``missing`` is the fix suggested for a missing file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: {missing}") from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise error(f"{path}: not valid YAML ({detail}); fix the syntax") from None


@dataclass(frozen=True)
class ReadRules:
    """What differs between the files: the error raised and the hints that point at their documentation.

    ``null_is_missing``: a required key written with no value (``key:``) reads as missing rather than as a
    value of the wrong type.
    """

    error: type[Exception]
    unknown_hint: str
    mapping_hint: str = ""
    null_is_missing: bool = False


class MappingReader:
    """Typed reads from one mapping, remembering which keys were read so the rest can be rejected by name."""

    def __init__(self, raw: Any, source: str, rules: ReadRules, prefix: str = "") -> None:
        if raw is None:
            raw = {}
        self.source = source
        self.rules = rules
        self.prefix = prefix
        if not isinstance(raw, Mapping):
            self.fail(
                f"{source}: {prefix.rstrip('.') or '<top>'}: must be a mapping of keys{rules.mapping_hint}"
            )
        self.raw: Mapping[Any, Any] = raw
        self.seen: set[str] = set()

    def fail(self, message: str) -> NoReturn:
        raise self.rules.error(message)

    def where(self, key: str) -> str:
        return f"{self.source}: {self.prefix}{key}"

    def where_self(self) -> str:
        return f"{self.source}: {self.prefix.rstrip('.')}"

    def child(self, raw: Any, prefix: str) -> MappingReader:
        """A reader for a nested mapping (a list item, a named entry) under the same rules."""
        return MappingReader(raw, self.source, self.rules, prefix)

    def section(self, key: str) -> MappingReader:
        self._mark(key)
        return self.child(self.raw.get(key), f"{self.prefix}{key}.")

    def get(self, key: str, default: Any) -> Any:
        """The value as written; a ``None`` default makes the key required."""
        self._mark(key)
        value = self.raw.get(key, default)
        if value is None and default is None and (self.rules.null_is_missing or key not in self.raw):
            self.fail(f"{self.where(key)}: required key is missing; add it")
        return value

    def optional(self, key: str) -> Any:
        self._mark(key)
        return self.raw.get(key)

    def text(self, key: str, default: str | None) -> str:
        value = self.get(key, default)
        if not isinstance(value, str) or not value:
            self.fail(f"{self.where(key)}: {value!r} must be a non-empty string")
        return value

    def optional_text(self, key: str) -> str | None:
        """None when absent or null, else a non-empty string."""
        return None if self.optional(key) is None else self.text(key, None)

    def str_or_none(self, key: str, default: str | None = None) -> str | None:
        """A string, with an empty one read as unset (so an empty env variable clears the default)."""
        self._mark(key)
        value = self.raw.get(key, default)
        if value is not None and not isinstance(value, str):
            self.fail(f"{self.where(key)}: {value!r} must be a string")
        return value or None

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in choices:
            self.fail(f"{self.where(key)}: {value!r} is not one of {', '.join(choices)}")
        return value

    def number(
        self, key: str, default: float | None, *, minimum: float, maximum: float | None = None
    ) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            self.fail(f"{self.where(key)}: {value!r} must be a number >= {minimum}")
        if maximum is not None and value > maximum:
            self.fail(f"{self.where(key)}: {value!r} must be at most {maximum}")
        return float(value)

    def optional_number(self, key: str, *, minimum: float, maximum: float | None = None) -> float | None:
        if self.optional(key) is None:
            return None
        return self.number(key, None, minimum=minimum, maximum=maximum)

    def fraction(self, key: str) -> float | None:
        """None when absent, else strictly between 0 and 1."""
        value = self.optional(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            self.fail(f"{self.where(key)}: {value!r} must be a fraction between 0 and 1, e.g. 0.85")
        return float(value)

    def whole(self, key: str, default: int | None, *, minimum: int, maximum: int | None = None) -> int:
        value = self.get(key, default)
        bad = isinstance(value, bool) or not isinstance(value, int) or value < minimum
        if bad or (maximum is not None and value > maximum):
            limit = f" and <= {maximum}" if maximum is not None else ""
            self.fail(f"{self.where(key)}: {value!r} must be a whole number >= {minimum}{limit}")
        return int(value)

    def optional_whole(self, key: str, *, minimum: int) -> int | None:
        return None if self.optional(key) is None else self.whole(key, None, minimum=minimum)

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{self.where(key)}: {value!r} must be true or false")
        return value

    def parsed(self, key: str, default: Any, parse: Callable[[Any], Any]) -> Any:
        """``parse(value)``, its ValueError becoming this file's error."""
        value = self.get(key, default)
        try:
            return parse(value)
        except ValueError as exc:
            self.fail(f"{self.where(key)}: {exc}")

    def str_map(self, key: str) -> dict[str, str]:
        self._mark(key)
        value = self.raw.get(key) or {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
        ):
            self.fail(f"{self.where(key)}: must map names to names, e.g. gpt-4o-mini: classify")
        return dict(value)

    def str_list(self, key: str) -> tuple[str, ...]:
        """A list of words (numbers are taken as text); empty when absent."""
        value = self.optional(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
            self.fail(f"{self.where(key)}: must be a list of strings, e.g. [--log-level, info]")
        return tuple(str(v) for v in value)

    def reject_unknown(self) -> None:
        unknown = sorted(set(map(str, self.raw)) - self.seen)
        if unknown:
            self.fail(
                f"{self.where(unknown[0])}: unknown key; remove it or check the spelling {self.rules.unknown_hint}"
            )

    def _mark(self, key: str) -> None:
        self.seen.add(str(key))  # YAML keys may be numbers; unknown keys are compared as text
