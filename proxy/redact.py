"""Blank e-mail addresses and phone numbers out of recorded requests and answers before they are stored.

Phones are found by shape, then checked: 7 to 15 digits, an international prefix, an area code in parentheses or
phone-like grouping. Numbers that only look similar stay: amounts (``1,299.00``, ``12345.67``), dates
(``2024-01-15``, ``15.01.2024``), year ranges, IPv4 addresses, version strings, ids glued to letters
(``ORD-123456``) and bare digit runs (order numbers, timestamps).
"""

from __future__ import annotations

import re
from typing import Any

EMAIL_MARK = "[EMAIL]"
PHONE_MARK = "[PHONE]"

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
# Shape only: starts at a "+", "(" or digit that is not glued to a word, id or number; ends at a digit.
_PHONE_SHAPE = re.compile(r"(?<![\w+\-./,$€£¥#])(?:\+|\()?\d[\d ().\-/]{5,24}\d(?!\w)(?![.,\-/]\d)")
_SEPARATORS = re.compile(r"[ ().\-/]+")
_DATE = re.compile(r"\d{4}[\-/.]\d{1,2}[\-/.]\d{1,2}|\d{1,2}[\-/.]\d{1,2}[\-/.]\d{2,4}")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_YEAR = re.compile(r"(?:19|20)\d\d")


def redact_pii(value: Any) -> Any:
    """A deep copy of JSON-like ``value`` with every e-mail and phone number in its strings replaced."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_pii(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_pii(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact_pii(item) for item in value)
    return value


def redact_text(text: str) -> str:
    """``text`` with e-mail addresses and phone numbers replaced by their marks."""
    text = _EMAIL.sub(EMAIL_MARK, text)
    return _PHONE_SHAPE.sub(_phone_or_keep, text)


def _phone_or_keep(match: re.Match[str]) -> str:
    return PHONE_MARK if is_phone(match.group()) else match.group()


def is_phone(candidate: str) -> bool:
    """Does this digit-and-separator run read as a phone number rather than another kind of number?"""
    digits = sum(ch.isdigit() for ch in candidate)
    if not 7 <= digits <= 15 or _DATE.fullmatch(candidate) or _IPV4.fullmatch(candidate):
        return False
    groups = [g for g in _SEPARATORS.split(candidate.lstrip("+")) if g]
    if all(_YEAR.fullmatch(g) for g in groups):
        return False  # "2019-2024", "2019 2020 2021"
    if candidate.startswith("+") or candidate.startswith("00") or "(" in candidate:
        return True
    return _grouped_like_a_phone(candidate, groups)


def _grouped_like_a_phone(candidate: str, groups: list[str]) -> bool:
    """Without a prefix, a phone is 2+ groups of 2+ digits (a leading "1" trunk digit aside), not an amount."""
    if len(groups) < 2 or any(len(g) < 2 for g in groups[1:]):
        return False
    if len(groups) == 2 and ("." in candidate or _YEAR.fullmatch(groups[0])):
        return False  # "12345.67", "2024-123456"
    if len(groups[0]) == 1:  # only a "1" trunk prefix, and not "1 234 567" (thousands)
        return groups[0] == "1" and not all(len(g) == 3 for g in groups[1:])
    return True
