"""Guards for what embeddings miss: a negated sentence scores ~0.8 cosine to the original, and a changed
number barely moves it. Flagged pairs go to human review and count as disagreements in the similarity gate.

- ``negation``: a candidate sentence that shares most of its content words (Jaccard >= 0.6, at least 3 words)
  with an incumbent sentence but has the opposite negation parity ("is" vs "is not").
- ``numbers``: a number written in digits in the candidate's answer that is neither in the incumbent's answer nor in the request
  (a summary may cite the source; it may not invent or change a figure). Omitted numbers are not flagged.

Both are heuristics with known misses (antonyms such as "failed" vs "succeeded"; a changed number the
candidate writes in words) and false alarms (a paraphrase that moves a negation); the report lists every flagged pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NEGATIONS = (
    "not no never none nobody nothing neither nor nowhere cannot without hardly "
    "isnt arent wasnt werent dont doesnt didnt cant couldnt wont wouldnt shouldnt hasnt havent hadnt "
    "mustnt neednt aint"
)
_STOPWORDS = (
    "a an the and or but of to in on at by for with from as is are was were be been being it its this that "
    "these those there their they them he she his her we our you your i me my do does did has have had will "
    "would should could can may might must shall so than then also very"
)
_SMALL_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty"
)
NEGATIONS = frozenset(_NEGATIONS.split())
STOPWORDS = frozenset(_STOPWORDS.split())
NUMBER_WORDS = {w: float(i) for i, w in enumerate(_SMALL_NUMBERS.split())} | {
    "thirty": 30.0,
    "forty": 40.0,
    "fifty": 50.0,
    "hundred": 100.0,
    "dozen": 12.0,
}
SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "m": 1e6, "billion": 1e9, "bn": 1e9, "b": 1e9}

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
_JOINED = re.compile(r"[;]\s*|,\s+(?:and|but|while|whereas)\s+")
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
    r"(?:\s*(?i:(thousand|million|billion|bn|mn))\b|([kKMB])\b)?"
)
JACCARD_MIN = 0.6
CONTENT_MIN = 3


@dataclass(frozen=True)
class Flag:
    guard: str  # "negation" or "numbers"
    detail: str


def check(incumbent: str, candidate: str, request: str) -> list[Flag]:
    flags: list[Flag] = []
    negation = negation_flip(incumbent, candidate)
    if negation:
        flags.append(Flag("negation", negation))
    changed = changed_numbers(incumbent, candidate, request)
    if changed:
        flags.append(Flag("numbers", "not in the incumbent's answer or the request: " + ", ".join(changed)))
    return flags


def _words(sentence: str) -> list[str]:
    return _WORD.findall(sentence.casefold().replace("\u2019", "'"))


def _profile(sentence: str) -> tuple[frozenset[str], int]:
    words = _words(sentence)
    negations = sum(1 for w in words if w.replace("'", "") in NEGATIONS or w.endswith("n't"))
    content = frozenset(w for w in words if w not in STOPWORDS and w.replace("'", "") not in NEGATIONS)
    return content, negations % 2


def negation_flip(incumbent: str, candidate: str) -> str | None:
    """The first candidate sentence that says the opposite of its closest incumbent sentence, or None."""
    reference = [(s, *_profile(s)) for s in _sentences(incumbent)]
    for sentence in _sentences(candidate):
        content, parity = _profile(sentence)
        if len(content) < CONTENT_MIN:
            continue
        best = max(reference, key=lambda r: _jaccard(content, r[1]), default=None)
        if best is not None and _jaccard(content, best[1]) >= JACCARD_MIN and best[2] != parity:
            return f"{best[0].strip()[:120]!r} vs {sentence.strip()[:120]!r}"
    return None


def _sentences(text: str) -> list[str]:
    """Sentences, cut again at ", and" / ", but" / ";" so that two joined statements are compared one by one."""
    parts = (p for s in _SENTENCE.split(text) for p in _JOINED.split(s))
    return [p for p in parts if p.strip()]


def _jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    union = len(left | right)
    return len(left & right) / union if union else 0.0


def numbers_in(text: str, *, words: bool = True) -> set[str]:
    """Canonical numbers in ``text``: digits (with thousands separators and scale words), and with ``words``
    the number words up to twenty ("one" is too common in prose to count as a figure the candidate wrote)."""
    found: set[str] = set()
    for match in _NUMBER.finditer(text):
        scale = match.group(1) or match.group(2)
        number_text = (
            match.group(0)[: match.start(1 if match.group(1) else 2) - match.start()]
            if scale
            else match.group(0)
        )
        value = float(number_text.replace(",", "").strip())
        found.add(_canonical(value * (SCALES[scale.lower()] if scale else 1.0)))
    for word in _WORD.findall(text.casefold()) if words else ():
        if word in NUMBER_WORDS:
            found.add(_canonical(NUMBER_WORDS[word]))
    return found


def _canonical(value: float) -> str:
    return f"{abs(value):.9g}"


def changed_numbers(incumbent: str, candidate: str, request: str) -> list[str]:
    allowed = numbers_in(incumbent) | numbers_in(request)
    return sorted(numbers_in(candidate, words=False) - allowed, key=lambda n: float(n))[:5]
