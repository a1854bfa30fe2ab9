"""Fact checks for summaries and prose: what an embedding cannot see. "Acme must pay Globex" and "Globex must pay
Acme" score 0.995 cosine; so do "approved" and "rejected", "$2 million" and "two billion dollars".

Each check compares the candidate's answer with the incumbent's (the reference) and the request (the source
text a summary may cite). A flag sends the pair to human review and counts as a disagreement.

- ``quantity``: every number the candidate states (digits or words, scales, currencies, percent, the noun it
  counts) must be stated with the same unit in the incumbent's answer, or next to the same noun in the source.
  "52 patients" is flagged when the source has 52 only as "52 sites"; "$2 million" vs "EUR 2 million" too.
- ``date``: month and weekday names the candidate uses must be in the incumbent's answer or the source.
- ``order``: ordered pairs ("7-2", "3 to 1") must keep their order.
- ``roles``: a candidate clause that matches an incumbent clause but names its parties in the other
  order, in the same voice ("A must pay B" vs "B must pay A"; a passive rewrite is not flagged).
- ``names``: a capitalized name the candidate uses that is in neither the incumbent's answer nor the source.
- ``polarity``: a matched clause whose polarity word is the antonym of the incumbent's (approved/rejected,
  rose/fell, won/lost).
- ``unsupported``: a candidate sentence with four or more content words, most of them found in neither the
  incumbent's answer nor the source (a hallucinated claim).
- ``truncated``: the candidate stopped mid-sentence (``finish_reason: length``, or no closing punctuation
  where the incumbent had one) or kept less than 60% of the incumbent's words and ends mid-sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from evaluator.guards import STOPWORDS, Flag

MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
]
_SHORT_MONTHS = {"jan": 0, "feb": 1, "mar": 2, "apr": 3, "jun": 5, "jul": 6, "aug": 7, "sep": 8, "sept": 8,
                 "oct": 9, "nov": 10, "dec": 11}  # fmt: skip
_CURRENCIES = frozenset({"usd", "eur", "gbp", "jpy", "chf"})
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

_UNITS = {
    "$": "usd", "usd": "usd", "dollar": "usd", "dollars": "usd", "us$": "usd",
    "€": "eur", "eur": "eur", "euro": "eur", "euros": "eur",
    "£": "gbp", "gbp": "gbp", "pound": "gbp", "pounds": "gbp", "sterling": "gbp",
    "¥": "jpy", "jpy": "jpy", "yen": "jpy", "chf": "chf", "francs": "chf",
    "%": "percent", "percent": "percent", "per cent": "percent", "pct": "percent",
}  # fmt: skip
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9,
           "b": 1e9, "trillion": 1e12, "tn": 1e12}  # fmt: skip
_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}  # fmt: skip
WORD_NUMBERS: dict[str, float] = (
    {w: float(i) for i, w in enumerate(_ONES)}
    | {k: float(v) for k, v in _TENS.items()}
    | {"hundred": 100.0, "dozen": 12.0, "half": 0.5}
)

# Polarity pairs: each word maps to (concept, side). Inflections listed; the check is on whole words.
_ANTONYMS = (
    ("approve approved approves approval", "reject rejected rejects rejection deny denied denies"),
    ("rise rose risen rises rising increase increased increases grow grew grows growth gain gained gains "
     "climb climbed up higher raise raised raises lift lifted lifts expand expanded expands boost boosted",
     "fall fell fallen falls falling decrease decreased decreases shrink shrank shrinks decline declined "
     "declines drop dropped drops down lower lowered cut cuts reduce reduced reduces curb curbed trim trimmed"),
    ("win won wins beat beats defeated defeats", "lose lost loses"),
    ("profit profits profitable", "loss losses unprofitable"),
    ("accept accepted accepts", "refuse refused refuses"),
    ("guilty convicted", "innocent acquitted"),
    ("allow allowed allows permitted", "forbid forbade forbidden bans banned prohibit prohibited"),
    ("success successful succeeded succeeds", "failure failed fails unsuccessful"),
    ("open opened opens", "close closed closes shut"),
    ("buy bought buys purchase purchased upgraded upgrade", "sell sold sells downgraded downgrade"),
    ("before earlier", "after later"),
    ("more most", "less least fewer"),
    ("above over", "below under"),
    ("include included includes", "exclude excluded excludes"),
    ("hire hired hires", "fire fired fires laid"),
    ("positive", "negative"),
    ("safe", "unsafe dangerous"),
    ("legal lawful", "illegal unlawful"),
    ("start started starts begin began", "end ended ends stop stopped"),
    ("strong stronger", "weak weaker"),
    ("majority", "minority"),
)  # fmt: skip
POLARITY: dict[str, tuple[int, int]] = {
    word: (i, side)
    for i, pair in enumerate(_ANTONYMS)
    for side, words in enumerate(pair)
    for word in words.split()
}

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")
# Clauses: sentences cut at commas, semicolons and the conjunctions that join two statements.
_CLAUSE = re.compile(r"[;,:]\s*|\s+(?:and|but|while|whereas|after|before|as)\s+", re.IGNORECASE)
_PAIR = re.compile(r"(?<![\d.,])(\d+)\s*(?:-|–|—|\bto\b)\s*(\d+)(?![\d,]|\.\d)")
_NUMBER = re.compile(
    r"(?P<pre>[$€£¥]|US\$|USD|EUR|GBP|CHF)?\s?(?P<num>(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?|(?<![\w.])\d+(?:\.\d+)?)"
    r"(?:\s*(?P<scale>thousand|million|billion|trillion|bn|mn|tn|k|m|b)\b)?"
    r"(?:\s*(?P<post>%|(?:percent|per cent|pct|dollars?|euros?|pounds?|yen|francs|usd|eur|gbp|chf)\b))?",
    re.IGNORECASE,
)
JACCARD_MATCH = 0.5
UNSUPPORTED_CONTENT = 4
UNSUPPORTED_SHARE = 0.5
TRUNCATED_SHARE = 0.6


@dataclass(frozen=True)
class Quantity:
    value: float
    unit: str  # a currency or "percent", else ""
    nouns: frozenset[str] = frozenset()  # the content words right after it ("patients", "new stores")


def check(incumbent: str, candidate: str, source: str, *, finish_reason: str | None = None) -> list[Flag]:
    """Every fact check's flags for one pair (empty: nothing found that the rules can see)."""
    if candidate.strip() == incumbent.strip():
        return []
    flags: list[Flag] = []
    for guard, finding in (
        ("quantity", changed_quantities(incumbent, candidate, source)),
        ("date", changed_dates(incumbent, candidate, source)),
        ("order", changed_order(incumbent, candidate, source)),
        ("roles", swapped_roles(incumbent, candidate)),
        ("names", new_names(incumbent, candidate, source)),
        ("polarity", flipped_polarity(incumbent, candidate)),
        ("unsupported", unsupported(incumbent, candidate, source)),
        ("truncated", truncated(incumbent, candidate, finish_reason)),
    ):
        if finding:
            flags.append(Flag(guard, finding))
    return flags


# --- quantities ------------------------------------------------------------------------------------------


def quantities(text: str, *, skip_dates: bool = False) -> list[Quantity]:
    """Numbers in digits or words with their scale and unit (currency, percent) and the noun they count.
    ``skip_dates``: leave out days next to a month and the numbers of ordered pairs (checked on their own)."""
    return [*_digit_quantities(text, skip_dates), *_word_quantities(text)]


def _digit_quantities(text: str, skip_dates: bool) -> Iterable[Quantity]:
    for match in _NUMBER.finditer(text):
        if skip_dates and _is_date_or_pair(text, match.start("num"), match.end("num")):
            continue
        value = float(match.group("num").replace(",", ""))
        scale = match.group("scale")
        if scale:
            value *= _SCALES[scale.lower()]
        unit = _UNITS.get((match.group("pre") or match.group("post") or "").lower(), "")
        yield Quantity(value, unit, _nouns_after(text[match.end() : match.end() + 40]))


def _is_date_or_pair(text: str, start: int, end: int) -> bool:
    """Part of "7-2" (checked for order) or a day next to a month name (checked as a date)."""
    window = text[max(0, start - 12) : end + 12].casefold()
    near_month = any(re.search(rf"\b{m}\b", window) for m in MONTHS)
    pairs = _PAIR.finditer(text[max(0, start - 8) : end + 8])
    offset = max(0, start - 8)
    in_pair = any(m.start() + offset <= start and end <= m.end() + offset for m in pairs)
    return (near_month and end - start <= 2) or in_pair


def _nouns_after(text: str) -> frozenset[str]:
    """The counted noun: the first two content words after the number, within its phrase."""
    phrase = re.split(r"[,.;:()]", text, maxsplit=1)[0]
    words = [w for w in _WORD.findall(phrase.casefold()) if w not in STOPWORDS and not w.isdigit()]
    return frozenset(_stem(w) for w in words[:2] if w not in _UNITS)


def _word_quantities(text: str) -> list[Quantity]:
    """'two billion dollars', 'forty-five patients', 'a dozen'."""
    words = _WORD.findall(text.casefold().replace("-", " "))
    out: list[Quantity] = []
    i = 0
    while i < len(words):
        if words[i] not in WORD_NUMBERS or words[i] in ("one", "half", "zero"):
            i += 1
            continue
        value, j = 0.0, i
        while j < len(words) and words[j] in WORD_NUMBERS:
            value = (
                value * WORD_NUMBERS[words[j]] if words[j] == "hundred" else value + WORD_NUMBERS[words[j]]
            )
            j += 1
        if j < len(words) and words[j] in _SCALES and len(words[j]) > 2:
            value *= _SCALES[words[j]]
            j += 1
        unit = _UNITS.get(words[j], "") if j < len(words) else ""
        nouns = " ".join(words[j + (1 if unit else 0) : j + 3])
        out.append(Quantity(value, unit, _nouns_after(nouns)))
        i = j
    return out


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def changed_quantities(incumbent: str, candidate: str, source: str) -> str | None:
    """The candidate's quantities not stated with that unit in the incumbent's answer or the source."""
    known = quantities(incumbent) + quantities(source)
    wrong = [q for q in quantities(candidate, skip_dates=True) if not any(_same(q, k) for k in known)]
    if not wrong:
        return None
    return ", ".join(
        f"{q.value:g}{' ' + q.unit if q.unit else ''} {' '.join(sorted(q.nouns))}" for q in wrong[:5]
    )


def _same(mine: Quantity, known: Quantity) -> bool:
    """The same number with no contradicting unit: currencies and percent must agree where both say one;
    the counted nouns must share a word where both name one and neither is money or a percentage."""
    if abs(mine.value - known.value) > 1e-9 * max(abs(known.value), 1.0):
        return False
    if mine.unit and known.unit:
        return mine.unit == known.unit
    if mine.unit == "percent" or known.unit == "percent":
        return False  # 12% is not 12 of something
    if mine.unit or known.unit:
        return True
    return not mine.nouns or not known.nouns or bool(mine.nouns & known.nouns)


# --- dates and ordered pairs -------------------------------------------------------------------------------


def _dates(text: str) -> set[str]:
    words = {w.removesuffix("'s") for w in _WORD.findall(text.casefold().replace("\u2019", "'"))}
    months = {_month(w) for w in words if w in MONTHS and (w != "may" or _may_is_month(text))}
    return {m for m in months if m} | (words & set(WEEKDAYS))


def _month(word: str) -> str:
    index = _SHORT_MONTHS.get(word, MONTHS.index(word) if word in MONTHS[:12] else -1)
    return MONTHS[index] if index >= 0 else ""


def _may_is_month(text: str) -> bool:
    return bool(re.search(r"\bMay\b(?=\s+\d|\s*,?\s*\d{4})|\b\d{1,2}\s+May\b|\bin May\b", text))


def changed_dates(incumbent: str, candidate: str, source: str) -> str | None:
    extra = _dates(candidate) - _dates(incumbent) - _dates(source)
    return ", ".join(sorted(extra)) if extra else None


def changed_order(incumbent: str, candidate: str, source: str) -> str | None:
    """Ordered pairs ("7-2") the candidate reverses: its pair is stated only the other way round."""
    known = set(_PAIR.findall(incumbent)) | set(_PAIR.findall(source))
    for pair in _PAIR.findall(candidate):
        if pair not in known and (pair[1], pair[0]) in known:
            return f"{pair[1]}-{pair[0]} became {pair[0]}-{pair[1]}"
    return None


# --- sentences: roles, polarity, support, truncation ---------------------------------------------------------


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def _content(sentence: str) -> frozenset[str]:
    return frozenset(_stem(w) for w in _WORD.findall(sentence.casefold()) if w not in STOPWORDS)


def _jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    union = len(left | right)
    return len(left & right) / union if union else 0.0


def _closest(sentence: str, reference: list[str], ignore: frozenset[str] = frozenset()) -> tuple[str, float]:
    mine = _content(sentence) - ignore
    scored = [(r, _jaccard(mine, _content(r) - ignore)) for r in reference]
    return max(scored, key=lambda x: x[1], default=("", 0.0))


def _clauses(text: str) -> list[str]:
    return [c.strip() for sentence in _sentences(text) for c in _CLAUSE.split(sentence) if c.strip()]


def _names(clause: str, proper: frozenset[str] = frozenset()) -> list[str]:
    """Capitalized words in order of first use, less months, weekdays and stopwords: the parties a clause
    talks about. A clause's first word counts only if it is a known name (``proper``) or a name follows."""
    tokens = [
        t.removesuffix("'s").removesuffix("\u2019s") for t in re.findall(r"[A-Za-z][\w&'\u2019-]*", clause)
    ]
    out: list[str] = []
    for i, word in enumerate(tokens):
        if not word[0].isupper() or word.casefold() in STOPWORDS or word.casefold() in MONTHS + WEEKDAYS:
            continue
        starts = i == 0 and word not in proper
        if starts and (word.casefold() in _ROLE_WORDS or not (len(tokens) > 1 and tokens[1][0].isupper())):
            continue
        if word not in out:
            out.append(word)
    return out


def _proper(*texts: str) -> frozenset[str]:
    """Words written capitalized somewhere other than at the start of a clause: names."""
    return frozenset(n for text in texts for clause in _clauses(text) for n in _names(clause))


# Capitalized only because they start a sentence ("Tenant David Park", "Landlord Maria Chen").
_ROLE_WORDS = frozenset(
    ["landlord", "tenant", "coach", "striker", "buyer", "seller", "plaintiff", "defendant", "judge", "chief"]
)


def swapped_roles(incumbent: str, candidate: str) -> str | None:
    """A clause that names the same parties as its closest incumbent clause, in another order, same voice."""
    reference, proper = _clauses(incumbent), _proper(incumbent, candidate)
    for clause in _clauses(candidate):
        mine = _names(clause, proper)
        if len(mine) < 2:
            continue
        match, similarity = _closest(clause, reference)
        theirs = [n for n in _names(match, proper) if n in mine]
        if similarity < JACCARD_MATCH or len(theirs) < 2 or theirs == [n for n in mine if n in theirs]:
            continue
        if _passive(clause) != _passive(match):
            continue  # "B is paid by A" says the same as "A pays B"
        return f"{match[:120]!r} vs {clause[:120]!r}"
    return None


def new_names(incumbent: str, candidate: str, source: str) -> str | None:
    """Names (capitalized words past a clause's start) in neither the incumbent's answer nor the source."""
    known = {w.casefold() for w in re.findall(r"[A-Za-z][A-Za-z0-9&'-]*", incumbent + " " + source)}
    known |= {w.removesuffix("'s") for w in known}
    extra = [n for c in _clauses(candidate) for n in _names(c) if n.casefold() not in known]
    return ", ".join(dict.fromkeys(extra)) if extra else None


def _passive(sentence: str) -> bool:
    return bool(re.search(r"\b(?:is|are|was|were|be|been|being|get|got)\s+\w+\b.*\bby\b", sentence))


def flipped_polarity(incumbent: str, candidate: str) -> str | None:
    """A clause whose polarity word is the antonym of the one in its closest incumbent clause."""
    reference = _clauses(incumbent)
    polar = frozenset(_stem(w) for w in POLARITY)
    for clause in _clauses(candidate):
        mine = {POLARITY[w] for w in _WORD.findall(clause.casefold()) if w in POLARITY}
        if not mine:
            continue
        match, similarity = _closest(clause, reference, ignore=polar)
        if similarity < JACCARD_MATCH:
            continue
        theirs = {POLARITY[w] for w in _WORD.findall(match.casefold()) if w in POLARITY}
        if any((c, 1 - side) in theirs and (c, side) not in theirs for c, side in mine):
            return f"{match[:120]!r} vs {clause[:120]!r}"
    return None


def unsupported(incumbent: str, candidate: str, source: str) -> str | None:
    known = _content(incumbent) | _content(source)
    for sentence in _sentences(candidate):
        content = _content(sentence)
        if len(content) < UNSUPPORTED_CONTENT:
            continue
        if len(content - known) / len(content) > UNSUPPORTED_SHARE:
            return repr(sentence[:160])
    return None


def truncated(incumbent: str, candidate: str, finish_reason: str | None) -> str | None:
    if finish_reason == "length":
        return "the candidate hit its token limit (finish_reason: length)"
    text, reference = candidate.rstrip(), incumbent.rstrip()
    if not text:
        return None
    ends_open = text[-1] not in ".!?)\"'”’:…]*" and not text[-1].isdigit()
    closed_reference = bool(reference) and reference[-1] in ".!?)\"'”’"
    if ends_open and closed_reference:
        return f"ends mid-sentence: {text[-60:]!r}"
    if ends_open and len(text.split()) < TRUNCATED_SHARE * len(reference.split()):
        return f"ends mid-sentence with {len(text.split())} of {len(reference.split())} words"
    return None
