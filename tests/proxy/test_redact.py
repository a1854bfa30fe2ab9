from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.redact import is_phone, redact_pii, redact_text


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # e-mail addresses
        ("write to jane.doe@example.com today", "write to [EMAIL] today"),
        ("<john+tag@mail.co.uk>", "<[EMAIL]>"),
        ("a_b-c@sub-domain.example.org, x@y.io", "[EMAIL], [EMAIL]"),
        ("user1234567@example.com", "[EMAIL]"),
        # phones: international, US, EU
        ("call +1 (555) 123-4567 now", "call [PHONE] now"),
        ("+44 20 7946 0958", "[PHONE]"),
        ("+33 6 12 34 56 78.", "[PHONE]."),
        ("0049 30 1234567", "[PHONE]"),
        ("+49-30-12345678", "[PHONE]"),
        ("+14155552671", "[PHONE]"),
        ("(555) 123-4567", "[PHONE]"),
        ("555-123-4567", "[PHONE]"),
        ("555.123.4567", "[PHONE]"),
        ("1-800-555-0199", "[PHONE]"),
        ("tel 555-1234", "tel [PHONE]"),
        ("06 12 34 56 78", "[PHONE]"),
        ("030 1234567", "[PHONE]"),
        ("030/1234567", "[PHONE]"),
        ("phone: 555-123-4567, email: a@b.com", "phone: [PHONE], email: [EMAIL]"),
        ("line1\n555-123-4567\nline3", "line1\n[PHONE]\nline3"),
        # look-alikes that stay
        ("Total: 1,299.00 USD", "Total: 1,299.00 USD"),
        ("$1,234,567.89", "$1,234,567.89"),
        ("12345.67 EUR", "12345.67 EUR"),
        ("1.234.567,00 €", "1.234.567,00 €"),
        ("on 2024-01-15 at 10:30", "on 2024-01-15 at 10:30"),
        ("15.01.2024", "15.01.2024"),
        ("01/15/2024", "01/15/2024"),
        ("2024/01/15", "2024/01/15"),
        ("from 2019-2024", "from 2019-2024"),
        ("in 1999 2000 2001", "in 1999 2000 2001"),
        ("order ORD-123456 shipped", "order ORD-123456 shipped"),
        ("ticket #1234567", "ticket #1234567"),
        ("INV-2024-0001234", "INV-2024-0001234"),
        ("order 123456789", "order 123456789"),
        ("ts 1718000000123", "ts 1718000000123"),
        ("host 192.168.100.200", "host 192.168.100.200"),
        ("version 1.2.3.4567", "version 1.2.3.4567"),
        ("ref 2024-123456", "ref 2024-123456"),
        ("uuid 123e4567-e89b-12d3-a456-426614174000", "uuid 123e4567-e89b-12d3-a456-426614174000"),
        ("card 4111 1111 1111 1111", "card 4111 1111 1111 1111"),
        ("I have 3 cats", "I have 3 cats"),
        ("year 2024", "year 2024"),
        ("", ""),
    ],
)
def test_redact_text(text: str, want: str) -> None:
    assert redact_text(text) == want


@pytest.mark.parametrize(
    ("candidate", "phone"),
    [
        ("555-1234", True),
        ("555-12", False),
        ("+1234567890123456", False),
        ("2024-01-15", False),
        ("12.34.56.78", False),
        ("1 234 567", False),
        ("12345 678", True),
    ],
)
def test_is_phone(candidate: str, phone: bool) -> None:
    assert is_phone(candidate) is phone


def test_redact_pii_deep_copies_json_like_data() -> None:
    data: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": "I'm bob@example.com, call +1 555 123 4567"},
            {"role": "user", "content": [{"type": "text", "text": "order ORD-123456 for 1,299.00"}]},
        ],
        "n": 5551234567,
        "ok": True,
        "none": None,
        "pair": ("x@y.com", 1.5),
    }
    original = copy.deepcopy(data)
    got = redact_pii(data)
    assert got == {
        "messages": [
            {"role": "user", "content": "I'm [EMAIL], call [PHONE]"},
            {"role": "user", "content": [{"type": "text", "text": "order ORD-123456 for 1,299.00"}]},
        ],
        "n": 5551234567,
        "ok": True,
        "none": None,
        "pair": ("[EMAIL]", 1.5),
    }
    assert data == original
    assert got["messages"] is not data["messages"]


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=15,
)


@given(_json)
def test_redaction_keeps_shape_and_is_idempotent(value: Any) -> None:
    once = redact_pii(value)
    assert redact_pii(once) == once

    def shape(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: shape(x) for k, x in v.items()}
        if isinstance(v, list):
            return [shape(x) for x in v]
        return type(v).__name__

    assert shape(once) == shape(value)


@given(st.text(alphabet=st.characters(blacklist_characters="@+0123456789"), max_size=60))
def test_text_without_digits_or_at_signs_is_untouched(text: str) -> None:
    assert redact_text(text) == text


@given(
    st.sampled_from(
        ["+1 555 123 4567", "(555) 123-4567", "555-123-4567", "+44 20 7946 0958", "a.b@example.com"]
    ),
    st.text(alphabet="abc ,;:!?\n", max_size=10),
    st.text(alphabet="abc ,;:!?\n", max_size=10),
)
def test_pii_is_found_in_any_surroundings(pii: str, before: str, after: str) -> None:
    got = redact_text(f"{before} {pii} {after}")
    assert pii not in got
    assert got.count("[PHONE]") + got.count("[EMAIL]") == 1
