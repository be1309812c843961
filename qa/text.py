"""Keyword analysis shared by indexing and querying: normalise, tokenise, stem."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer

# A compact English stop list: function words only, so "not", "no" and numbers survive.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself nor of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will
    with would you your yours yourself yourselves s t don shall may might must also per via whose whats
    tell say says said""".split()
)

# American spellings and variants folded to the report's British forms before stemming.
_SPELLING = [
    (re.compile(r"(?<=[a-z]{3})iz(e|es|ed|er|ers|ing|ation|ations)\b"), r"is\1"),  # not seize, size
    (re.compile(r"(?<=[a-z])yz(e|es|ed|ing)\b"), r"ys\1"),
    (re.compile(r"\bprograms?\b"), "programme"),
    (re.compile(r"\b(off|def)ense(s)?\b"), r"\1ence\2"),
    (re.compile(r"\bcent(er)(s)?\b"), r"centre\2"),
    (re.compile(r"\b(behavi|neighb|lab|hon|fav|col)or(?=s?\b|ed\b|ing\b|ful|ite|able\b|hood)"), r"\1our"),
    (re.compile(r"\bco-?operat"), "cooperat"),
    (re.compile(r"\bco-?ordinat"), "coordinat"),
    (re.compile(r"\bre-?offend"), "reoffend"),
]

_MONEY_SUFFIX = re.compile(r"£\s?(\d+(?:\.\d+)?)\s?(m|bn|k)\b")
_DIGIT_GROUPS = re.compile(r"(?<=\d),\s?(?=\d{3}\b)")
_TOKEN = re.compile(r"[a-z0-9]+(?:[.\-/][a-z0-9]+)*")
_MULTIPLIERS = {"m": "million", "bn": "billion", "k": "thousand"}

_stemmer = Stemmer.Stemmer("english")


# A question's words are normalised and tokenized a dozen times an answer (analysis, decline rules,
# table answers): short texts are worked out once. Long ones (passages, at build) are not kept.
CACHED_CHARS = 1000


def normalise(text: str) -> str:
    """Lowercase, fold Unicode and spelling variants, write money and numbers one way."""
    return _normalised(text) if len(text) <= CACHED_CHARS else _normalise(text)


@lru_cache(maxsize=8192)
def _normalised(text: str) -> str:
    return _normalise(text)


# An acronym's plural names what the acronym names ('XPRs' -> XPR): the stemmer keeps the 's' of a
# word with no vowel, so a name check would miss 'XPR' for 'XPRs'.
_ACRONYM_PLURAL = re.compile(r"\b([A-Z]{2,})s\b")


def singular_acronyms(text: str) -> str:
    """The text with each acronym's plural written as the acronym ('three XPRs' -> 'three XPR')."""
    return _ACRONYM_PLURAL.sub(r"\1", text)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    text = _MONEY_SUFFIX.sub(lambda m: f"£{m.group(1)} {_MULTIPLIERS[m.group(2)]}", text)
    text = _DIGIT_GROUPS.sub("", text)
    for pattern, replacement in _SPELLING:
        text = pattern.sub(replacement, text)
    return text


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def _expand_token(token: str) -> list[str]:
    """'new-adam' -> new-adam, new, adam; 'scd3' -> scd3, scd, 3; '6.1' stays whole."""
    forms = [token]
    if re.search(r"[\-/]", token):
        parts = [p for p in re.split(r"[\-/]", token) if p]
        forms.extend(parts)
    for form in list(forms):
        split = re.fullmatch(r"([a-z]+)(\d+)", form)
        if split:
            forms.extend(split.groups())
    return forms


def tokenize(text: str) -> list[str]:
    """Keyword tokens: stop words dropped, stemmed, compounds also split into their parts."""
    return list(_tokenized(text)) if len(text) <= CACHED_CHARS else _tokenize(text)


@lru_cache(maxsize=8192)
def _tokenized(text: str) -> tuple[str, ...]:
    return tuple(_tokenize(text))


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for raw in _TOKEN.findall(normalise(text)):
        for form in _expand_token(raw.strip(".-/")):
            if form in STOPWORDS or not form:
                continue
            tokens.append(form if form[0].isdigit() else _stem(form))
    return tokens


# ---------------------------------------------------------------------------
# Years a text speaks of.

YEAR = r"(?:19|20)\d\d"  # a year a report of ours can speak of
NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    "seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|"
    "million|dozen|half"
)
MONTH_NAMES = "january february march april may june july august september october november december".split()
_FINANCIAL_YEAR = re.compile(rf"\b({YEAR})\s?[/\-]\s?(\d\d(?:\d\d)?)\b")
_YEAR_RANGE = re.compile(rf"\b({YEAR})\s+(?:to|until|-|–)\s+(?:[a-z]+\s+)?({YEAR})\b")
_ONE_YEAR = re.compile(rf"\b{YEAR}\b")
_SINCE_YEAR = re.compile(rf"\bsince\s+(?:[a-z]+\s+)?({YEAR})\b")
_RELATIVE_YEAR = re.compile(r"\b(this|last|next|previous|current)\s+(?:financial\s+)?year\b")
_RELATIVE_OFFSET = {"this": 0, "current": 0, "last": -1, "previous": -1, "next": 1}


def relative_year(text: str) -> int | None:
    """'this year' -> 0, 'last financial year' -> -1, 'next year' -> 1: the year a text speaks of,
    counted from its own; None when it names none."""
    match = _RELATIVE_YEAR.search(normalise(text))
    return _RELATIVE_OFFSET[match.group(1)] if match else None


def years_in(text: str, present: int | None = None) -> set[int]:
    """Years a text speaks of: '2004', '2006/07' (both), '1999 to 2002' (all between), and, when
    the text's own year is known, 'this year', 'last year', 'next year' and 'since 1999' (to then)."""
    text = normalise(text)
    years = {int(y) for y in _ONE_YEAR.findall(text)}
    for first, second in _FINANCIAL_YEAR.findall(text):
        start = int(first)
        end = int(second) if len(second) == 4 else start // 100 * 100 + int(second)
        if end == start + 1:
            years.add(end)
    for first, last in _YEAR_RANGE.findall(text):
        if 0 < int(last) - int(first) <= 50:
            years.update(range(int(first), int(last) + 1))
    if present is not None:
        years.update(present + _RELATIVE_OFFSET[word] for word in _RELATIVE_YEAR.findall(text))
        for first in _SINCE_YEAR.findall(text):
            years.update(range(int(first), present + 1))
    return years


# A month as written in a report or a question: 'July', 'Sept', 'Jul' (capitalised: 'may' is a verb).
_MONTH_WORD = r"\b((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*)\b"
_MONTH_NAME = re.compile(_MONTH_WORD)
_MONTH_SPAN = re.compile(
    rf"(?:between\s+{_MONTH_WORD}(?:\s+{YEAR})?\s+and|{_MONTH_WORD}(?:\s+{YEAR})?\s*(?:-|–|to|until|till))"
    rf"\s*{_MONTH_WORD}"
)


def months_in(text: str) -> frozenset[int]:
    """The months a text names (1-12), each month of a span included: 'July to September' -> 7, 8, 9."""
    months = {month_number(name) for name in _MONTH_NAME.findall(text)} - {0}
    for between, first, last in _MONTH_SPAN.findall(text):
        start, end = month_number(between or first), month_number(last)
        if start and end:
            months.update(range(start, end + 1) if start <= end else [*range(start, 13), *range(1, end + 1)])
    return frozenset(months)


def month_number(name: str) -> int:
    """'Sept' -> 9; 0 for a word that only starts like a month ('Marks', 'Mayor')."""
    lowered = name.lower()
    for number, month in enumerate(MONTH_NAMES, start=1):
        if month.startswith(lowered) and len(lowered) >= 3:
            return number
    return 0
