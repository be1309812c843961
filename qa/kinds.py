"""What kind of answer a text holds (a number, an amount, a date, a person's name) and what it counts."""

from __future__ import annotations

import re

from qa.corpus import Passage
from qa.text import MONTH_NAMES, NUMBER_WORDS, STOPWORDS, YEAR

_HAS_NUMBER = re.compile(rf"\d|\b(?:{NUMBER_WORDS})\b", re.I)
# "Recommendation 61", "Chart 3", "section 8": numbers that label something rather than count it.
_LABEL_NUMBER = re.compile(
    r"\b(?:recommendation|paragraph|para|chart|table|section|report|paper|question|q|scd|phase|article|"
    r"schedule|part|page|level|tier|category|grade|class)\s*['‘’]?\d+(?:\s*\(\d+\))?",
    re.I,
)
_HAS_PERSON = re.compile(  # a title and a name: "Chief Inspector Hale", "Sir John Smith"
    r"\b(?:Sir|Lord|Lady|Baroness|Dame|Mr|Mrs|Ms|Miss|Dr|Professor|Commissioner|Secretary|Minister|"
    r"Mayor|Chair|Chairman|Director|Commander|Superintendent|Inspector|Sergeant|Constable)\.?\s+"
    r"(?!(?:Sir|Lord|Commissioner|Secretary|Minister|Director|Inspector|Sergeants?|Constables?|"
    r"General|Team|Unit|Office|Department|Directorate)\b)[A-Z][a-z][A-Za-z'\-]+"
)
# A name given with the role it holds: "Jane Doe as Vice Chairman", "John Smith, Director of ...",
# "Ann Lee as one of the Assistant Directors".
_NAME_WITH_ROLE = re.compile(
    r"\b[A-Z][a-z][A-Za-z'\-]+(?:\s+[A-Z][a-z][A-Za-z'\-]+)+"
    r"(?:,\s+(?:as\s+)?|\s+as\s+(?:the\s+|one\s+of\s+the\s+)?)"
    r"(?:(?:Deputy|Vice|Acting|Interim|Assistant|Chief|Executive)\s+)*"
    r"(?:Chair|Chairman|Chairwoman|Chairperson|Director|Clerk|Treasurer|Solicitor|Secretary|Officer|"
    r"Commissioner|Head|Leader|President|Manager)s?\b"
)
# A length of time: 'two years', '6 months', 'a fortnight', or up to a point: 'until the next meeting'.
_HAS_DURATION = re.compile(
    rf"\b(?:\d[\d,.]*|{NUMBER_WORDS}|a|an|several|few|many)\s+(?:[a-z\-]+\s+)?"
    r"(?:seconds?|minutes?|hours?|days?|weeks?|fortnights?|months?|years?|decades?)\b"
    r"|\b(?:until|till|for the (?:last|past|next))\b",
    re.I,
)
# How often: 'quarterly', 'twice a year', 'every six months', 'on a regular cycle'.
_HAS_FREQUENCY = re.compile(
    r"\b(?:daily|weekly|fortnightly|monthly|quarterly|annually|yearly|biannually|hourly|every|each|"
    r"twice|once|regular(?:ly)?|times\s+(?:a|per|each))\b|\bper\s+(?:day|week|month|year|annum)\b",
    re.I,
)
_HAS_MONEY = re.compile(r"£|\$|€|\b(?:million|billion|pounds)\b", re.I)
_WEEKDAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_DATE_WORDS = "|".join([*MONTH_NAMES, "spring", "summer", "autumn", "winter", *_WEEKDAYS])
_TIME_OF_DAY = r"\b\d{1,2}(?:[.:]\d\d)?\s?(?:am|pm|a\.m\.|p\.m\.)(?![\w.])|\bnoon\b|\bmidnight\b|\bo'clock\b"
_HAS_DATE = re.compile(rf"\b{YEAR}\b|\b(?:{_DATE_WORDS})\b|{_TIME_OF_DAY}", re.I)

_TITLED_NAME = re.compile(_HAS_PERSON.pattern + r"(?:\s+[A-Z][a-z][A-Za-z'\-]+)?")


def titled_names(text: str) -> list[str]:
    """The names a text gives after a title, without it: 'Sir John Smith' -> 'John Smith'."""
    return [match.group(0).split(None, 1)[1].strip() for match in _TITLED_NAME.finditer(text)]


_PERSON_NAME = re.compile(r"[A-Z][a-z]+(?:\s+[A-Z][a-z'\-]+)+")  # 'Jane Smith': two or more capitalised words


def people_named(text: str, author_name: str = "") -> tuple[str, ...]:
    """The people a passage names as people: after a title ('Sir John Smith' -> 'John Smith'), and
    its report's author where it names them ('Jane Doe' of 'Jane Doe, Director of ...')."""
    names = [*titled_names(text), *([author_name] if author_name and author_name in text else [])]
    return tuple(sorted({name for name in names if _PERSON_NAME.fullmatch(name)}))


KIND_NAMES = {
    "number": "number",
    "money": "amount of money",
    "date": "date",
    "person": "person's name",
    "duration": "length of time",
    "frequency": "frequency",
}


def holds_kind(text: str, kind: str) -> bool:
    """Does the text hold an answer of this kind? Any text holds an answer of no particular kind."""
    if kind == "money":
        return _HAS_MONEY.search(text) is not None
    if kind == "number":
        return _HAS_NUMBER.search(_LABEL_NUMBER.sub(" ", text)) is not None
    if kind == "person":
        return _HAS_PERSON.search(text) is not None or _NAME_WITH_ROLE.search(text) is not None
    if kind == "date":
        return _HAS_DATE.search(text) is not None
    if kind == "duration":
        return _HAS_DURATION.search(text) is not None
    if kind == "frequency":
        return _HAS_FREQUENCY.search(text) is not None
    return True


# A figure as the reports print it: '72', '30,000', '15%', 'twelve', 'seventy-two', and the digits
# repeated in brackets after the words ('seventy-two (72) officers').
_COUNT = re.compile(rf"\(?\d[\d,.]*%?\)?|(?:{NUMBER_WORDS})(?:-(?:{NUMBER_WORDS}))*", re.I)
_YEAR_NUMBER = re.compile(YEAR)
_WORD_OR_NUMBER = re.compile(r"£?\d[\d,.]*%?|[A-Za-z][A-Za-z'\-]*|\(\d+\)")


def counted_words(passage: Passage, after: int = 3, before: int = 1) -> list[str]:
    """What a passage's figures count: the content words next to each number, in its sentence
    ('300 fire engines' -> fire, engines; 'stations (of which there are 40 in the county)'
    -> stations, county). A table counts what its caption and header name."""
    if passage.kind == "table":
        return _WORD_OR_NUMBER.findall(" ".join(passage.text.split("\n")[:2]))
    words: list[str] = []
    for sentence in re.split(r"(?<=[.;:!?])\s+|\n", _LABEL_NUMBER.sub(" ", passage.text)):
        tokens = _WORD_OR_NUMBER.findall(sentence)
        for position, token in enumerate(tokens):
            if _COUNT.fullmatch(token) and not _YEAR_NUMBER.fullmatch(token):
                words += _content_words(tokens[position + 1 :], after)
                words += _content_words(tokens[:position][::-1], before)
    return words


def _content_words(tokens: list[str], most: int) -> list[str]:
    words = [t for t in tokens if not (_COUNT.fullmatch(t) or t[0] in "(£" or t.lower() in STOPWORDS)]
    return words[:most]
