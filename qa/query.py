"""Understand a question from the report itself: citations, acronyms, everyday words, what it asks."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz, process

from qa.corpus import Corpus, Passage, Report, canonical_id
from qa.scoping import ReportNames, without_phrases
from qa.text import (
    MONTH_NAMES,
    STOPWORDS,
    YEAR,
    month_number,
    months_in,
    normalise,
    relative_year,
    singular_acronyms,
    tokenize,
    years_in,
)
from qa.thesaurus import everyday_phrases, in_report_terms, report_terms


@dataclass(frozen=True)
class Expansions:
    """Which of the report's own expansions are added to the embedded text and the keyword query."""

    acronyms_dense: bool = True
    acronyms_keyword: bool = False
    everyday_dense: bool = True
    everyday_keyword: bool = True


@dataclass(frozen=True, kw_only=True)
class Query:
    """A question prepared for search: text to embed, keyword tokens, any named passage."""

    question: str  # as asked
    text: str = ""  # as read: misspellings of the report's words corrected ('recomendation')
    corrections: dict[str, str] = field(default_factory=dict)  # {'recomendation': 'recommendation'}
    dense_text: str
    tokens: list[str]
    cited: Passage | None = None
    expansions: list[str] = field(default_factory=list)
    unknown_names: list[str] = field(default_factory=list)  # names and years the report never uses
    asks_definition: bool = False  # "what does X stand for", "meaning of X", or just "X"
    asks_author: bool = False  # "who wrote the report", "the author of the lease report"
    asks_recommendation: bool = False  # "what are members asked to do", "the report's recommendation"
    expects: str = ""  # "number" or "money" when the question asks for one
    asked: list[str] = field(default_factory=list)  # what the question asks about: ["sniffer", "dogs"]
    predicate: list[str] = field(default_factory=list)  # what a yes/no question says of it: ["legal"]
    placed: list[str] = field(default_factory=list)  # unknown words after in/at/from: ["leeds"]
    years: tuple[int, int] | None = None  # the years it asks about: "in 2004" -> (2004, 2004)
    relative_year: int | None = None  # "this year" -> 0, "last year" -> -1: counted from a report's own
    labels: list[str] = field(default_factory=list)  # classes and the like it names: ["class c"]
    named_places: list[str] = field(default_factory=list)  # names after in/at/for: ["City of Leeds"]
    names: list[str] = field(default_factory=list)  # capitalised names and years it uses: ["Leeds"]
    acronyms: list[str] = field(default_factory=list)  # acronyms it uses, singular or plural: ["XPRs"]
    months: frozenset[int] = frozenset()  # the months it asks about: "in April" -> {4}
    named_docs: tuple[str, ...] = ()  # reports the question names ("the 22 July 2004 lease report")


@dataclass(frozen=True, kw_only=True)
class Draft:
    """A question read as far as the model needs: the text to embed, and what the rest of the
    analysis starts from (QueryAnalyzer.finish)."""

    question: str  # as asked
    read: str  # without the phrase that names its report, if one does
    named_docs: tuple[str, ...]
    text: str
    corrections: dict[str, str]
    expansions: list[str]
    dense_text: str
    keyword_text: str


_ASKS_QUANTITY = re.compile(
    r"\b(?:how (?:many|much|long|often|old)|what (?:percentage|proportion|share|number|age))\b", re.I
)
_ASKS_MONEY = re.compile(
    r"\b(?:costs?|budgets?|salary|salaries|prices?|fees?|spend|spent|money|funding|funds|grants?|pounds|"
    r"worth|paid)\b|£",
    re.I,
)
_ASKS_WHAT_AMOUNT = re.compile(  # "what salary does a sergeant get", "how big was the grant"
    r"^\W*(?:what|which)\s+(?:\w+\s+)?(?:salary|salaries|price|prices|cost|costs|budget|fee|fees|grant)\s+"
    r"(?:does|do|did|is|was|are|were|has|have|would|will|can)\b"
    r"|\bhow\s+(?:big|large)\s+(?:is|was|are|were|will\s+be)\s+(?:the\s+|its\s+|their\s+)?(?:[\w'-]+\s+){0,4}?"
    r"(?:grants?|budgets?|funding|funds|costs?|bills?|salary|salaries|fees?|payments?)(?![\w-])"
    r"\s*(?:\?|$|for\b|of\b|to\b|from\b|in\b|given\b|awarded\b)",
    re.I,
)
_HOW_MANY_POUNDS = re.compile(
    r"\bhow many\s+(?:\w+\s+){0,2}?(?:of\s+)?(?:pounds|euros|dollars)\b|\bhow many (?:millions?|billions?)\b",
    re.I,
)
_ASKS_WHAT_THE = re.compile(r"\bwhat (?:is|was|are|were) the\b", re.I)
_ASKS_DATE = re.compile(
    # Not "what time limit", "which day centres", "what day-to-day duties": a compound says what.
    r"\b(?:what|which) (?:year|date|day|time)(?![\w-])"
    r"(?!\s+(?:frames?|scales?|limits?|periods?|spans?|tables?|ranges?|centres?|centers?|care|off)\b)"
    r"|\bwhen (?:was|were|did)\b"
    r"|^\W*when\s+(?:will|is|are|does|do|has|have|had|would|should|can|could)\b|\b(?:by|until|till) when\b",
    re.I,
)
# Offices held by one person: "who was the Home Secretary", "the name of the Commissioner".
_OFFICES = (
    r"(?:commissioner|secretary|minister|chair|chairman|chairwoman|chairperson|mayor|president|"
    r"director|head|leader|chief|author|commander|superintendent|inspector|sergeant|constable|officer|"
    r"manager|coordinator|co-ordinator|spokes(?:man|woman|person))"
)
_ASKS_PERSON = re.compile(
    rf"\bwho\s+(?:is|was|were|are)\s+(?:the\s+)?(?:[\w'&-]+\s+){{0,4}}?{_OFFICES}\b"
    rf"|\bname\s+of\s+(?:the\s+)?(?:[\w'&-]+\s+){{0,4}}?{_OFFICES}\b|\b{_OFFICES}'s\s+name\b"
    # "who was appointed Treasurer", "who got the job", "who chairs it": a post goes to a person.
    # Not "who appointed them" (whoever did) or "who was appointed to review it" (a role may answer).
    r"|\bwho\s+(?:was|were|has\s+been|have\s+been|had\s+been|will\s+be|is)\s+(?:\w+ly\s+)?"
    r"(?:appointed|elected|chosen|selected|nominated|hired|recruited)\b(?!\s+to\s+(?!the\b|an?\b)\w+)"
    r"|\bwho\s+(?:got|gets|will\s+get|landed|filled|fills)\s+the\s+(?:[\w'&-]+\s+){0,4}?(?:job|post|role|position|vacancy)\b"
    r"|\bwho\s+(?:chairs|chaired|will\s+chair|wrote|authored)\b"
    rf"|\bwho\s+(?:became|becomes|has\s+become|was\s+made)\s+(?:the\s+|an?\s+)?(?:(?:[\w'-]+\s+){{0,2}}?{_OFFICES}\b|(?-i:[A-Z]))",
    re.I,
)


# "Which Home Secretary ...": a capitalised office is a post one person holds. Lowercase ("which
# district commander said ...") it usually asks which district.
_ASKS_WHICH_OFFICE = re.compile(
    r"^\W*[Ww]hich\s+(?:[A-Z][a-z]+\s+){0,2}?(?:Commissioner|Secretary|Minister|Mayor|Chair|Chairman|"
    r"Director|Commander|Superintendent|President)\b"
)


_ASKS_FREQUENCY = re.compile(r"\bhow often\b", re.I)  # "how often is it reported": quarterly
_ASKS_DURATION = re.compile(r"\bhow long\b(?!\s+ago\b)", re.I)  # "how long does an order last"
# "who wrote the report", "the author of ...": the report's author, printed in its contact details.
_ASKS_AUTHOR = re.compile(
    r"(?:\bwho\s+(?:wrote|writes|has written|authored|prepared|penned|drafted|compiled)|\bauthors?\b"
    r"|\b(?:written|prepared|penned|drafted)\s+by\b)"
    r"(?=.*\b(?:report|paper|document|update|this|it)\b)|\b(?:report|paper|document)(?:'s)?\s+authors?\b",
    re.I,
)
# "what are members asked to do", "what is the report's recommendation": what a committee paper
# asks of its readers, which it sets out in its recommendation.
_ASKS_RECOMMENDATION = re.compile(
    r"\b(?:members?|committee|authority|panel|board)\b(?:\s+[\w']+){0,3}?\s+(?:asked|invited|recommended)\s+"
    r"to\s+(?:do|decide|consider|comment|take)\b"
    r"|^\W*(?:what(?:'s|\s+is|\s+was|\s+are|\s+were)\s+)?(?:the\s+)?(?:(?:this\s+)?report(?:'s)?\s+)?"
    r"recommendations?\W*$|\bwhat(?:'s|\s+is|\s+was)\s+the\s+(?:report(?:'s)?\s+)?recommendations?\b(?!\s+of\b)",
    re.I,
)
# "which borough ...", "what town ...", "which district commander said ...": a place is the answer.
_ASKS_PLACE = re.compile(
    r"^\W*(?:which|what)\s+(?:[a-z0-9]+\s+){0,2}?(?:boroughs?|towns?|cit(?:y|ies)|areas?|districts?|"
    r"count(?:y|ies)|countr(?:y|ies)|regions?|sites?|locations?|wards?|neighbourhoods?|villages?)\b",
    re.I,
)
# "when do offenders usually start": a time in anyone's life, not a date.
_HABITUAL = re.compile(r"\b(?:usually|normally|typically|generally|tend to|often)\b", re.I)


def acronyms_in(question: str) -> list[str]:
    """The acronyms a question uses, singular or plural ('XPR', 'XPRs'); none in a shouted one."""
    if question.isupper():
        return []
    return list(dict.fromkeys(re.findall(r"\b[A-Z][A-Z0-9]+s?\b", question)))


def with_corrections(text: str, corrections: dict[str, str]) -> str:
    """The text with each misspelt word replaced by the report's word it misspells."""
    if not corrections:
        return text
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, corrections)) + r")\b")
    return pattern.sub(lambda found: corrections[found.group(1)], text)


def expected_answer(question: str) -> str:
    """What kind of answer a question asks for: 'person', 'money', 'number', 'date', 'duration',
    'frequency', 'place' or '' (anything)."""
    if _ASKS_PERSON.search(question) or _ASKS_WHICH_OFFICE.search(question):
        return "person"
    if _ASKS_DATE.search(question):
        return "" if _HABITUAL.search(question) else "date"
    # "How many grants were approved" counts grants; "how much", "how many pounds" ask for money.
    quantity = _ASKS_QUANTITY.search(question)
    counts = (
        quantity is not None
        and quantity.group(0).lower() == "how many"
        and not _HOW_MANY_POUNDS.search(question)
    )
    asks_amount = (quantity and not counts) or _ASKS_WHAT_THE.search(question)
    if (asks_amount and _ASKS_MONEY.search(question)) or _ASKS_WHAT_AMOUNT.search(question):
        return "money"
    if _ASKS_DURATION.search(question):
        return "duration"
    if _ASKS_FREQUENCY.search(question):
        return "frequency"
    if _ASKS_PLACE.search(question):
        return "place"
    return "number" if _ASKS_QUANTITY.search(question) else ""


_COST = re.compile(r"\bhow much (?:does|do|did|is|are|was|were|would|will)\s+(.*?)\s+cost\b", re.I)
# "how much did it cost to set up the scheme": what it cost to do is asked about, past the verb.
_COST_TO_DO = re.compile(
    r"\bhow much (?:does|do|did|would|will)\s+(?:it|this|that|they)\s+cost\s+(?:\w+\s+){0,3}?to\s+"
    r"[a-z]+(?:\s+(?:up|out|in|off|down|on|through))?\s+(.*)",
    re.I,
)
_COUNTED = re.compile(r"\bhow (?:many|much)\s+(.*)", re.I)
_ATTRIBUTE = re.compile(r"\bwhat(?:'s|\s+is|\s+was|\s+are|\s+were)\s+the\s+(.*)", re.I)
_WHAT_IS = re.compile(  # "what is county lines"; not "what is shown", "what is being done"
    r"^\W*what(?:'s|\s+is|\s+are)\s+(?!the\b|a\b|an\b)(?![a-z]+(?:ing|ed|wn)\b|done\b|said\b|meant\b)(.*)",
    re.I,
)
# "how do I apply for a school place": what the reader wants to do something about.
_HOW_DO_I = re.compile(
    r"^\W*how\s+(?:do|can|could|should|would|may)\s+(?:i|we|you|one|people)\s+[a-z]+\s+(?:for|to|about|with)?\s*(.*)",
    re.I,
)
_YES_NO = re.compile(r"^\W*(?:is|are|was|were)\s+(?!there\b|it\b|this\b|that\b)(.*)", re.I)
# Words for "some figures about it" or "what it is called": they say how an answer is given, not
# what it is about ("number of overdose deaths" asks about overdose deaths).
_MEASURE_WORDS = frozenset(
    "figure figures statistics stats number numbers data rate rates level levels total totals amount "
    "amounts information info details trend trends name names title meaning means mean stand stands "
    "definition acronym abbreviation headcount count counts tally entry entries row rows breakdown "
    "year years date dates time times period periods month months called named titled slogan slogans "
    "motto tagline nickname".split()
)
_MEASURE_OF = re.compile(
    r"^\W*(?:(?:the|a|an)\s+)?(?:" + "|".join(_MEASURE_WORDS) + r")\s+(?:of|on|for|about)\s+"
)
# General words that name no thing: "what are the problems with RSOs" asks about RSOs, and no
# passage needs to say "problems" to answer it.
GENERAL_WORDS = frozenset(
    "problem problems issue issues matter matters thing things stuff work works working way ways kind "
    "kinds sort sorts type types part parts aspect aspects situation happen happens happened happening "
    "done going point points lot lots something anything everything example examples instance instances "
    "detail details anyone anybody someone somebody everyone everybody".split()
)
# Words that rank what is asked about without naming it: "what is the main hurdle" asks about the
# hurdle, and "the lowest estimate" is read from a passage giving a range. Words that tell a thing
# from its kin ("primary schools", "minor injuries", "small businesses") are not among them.
QUALIFIERS = frozenset(
    "main basic overall exact precise actual lowest highest biggest smallest largest greatest least "
    "most best worst".split()
)
# A request's own verb names no thing: "compare X and Y", "summarise ...".
_COMMAND = re.compile(r"^\W*(?:please\s+)?(?:compare|contrast|summari[sz]e|outline)\b\s*", re.I)
_SOMEONE = frozenset("anyone anybody someone somebody everyone everybody".split())
# Words that qualify a verb, not name a thing: "what are committee members actually asked to do".
_ADVERBS = frozenset(
    "actually really currently exactly basically roughly approximately typically usually generally "
    "still even ever now today nowadays already also presumably supposedly".split()
)
# Prepositions the stop list lacks end what is asked about: "within which branch is the unit" names
# nothing the passage must mention (the branch is the answer).
_PREPOSITIONS = frozenset(
    "within without among amongst across around towards toward upon beyond behind beside besides onto "
    "inside outside throughout underneath".split()
)
_LOCATIVE = re.compile(r"\b(?:in|at|from|across|around|near|outside)\s+([A-Za-z][A-Za-z']+)")
_NAME = r"[A-Z][A-Za-z'\-]+"
_NAMED_PLACE = re.compile(
    rf"\b(?:in|at|for|from|across|within)\s+(?:the\s+)?({_NAME}(?:\s+(?:of|upon|and|&)\s+{_NAME}|\s+{_NAME})*)"
)
_QUESTION_WORDS = frozenset(
    "what how who which where when why whose is are was were do does did can could will would should "
    "has have had any tell give show list explain describe".split()
)


def asked_words(question: str, limit: int = 3) -> list[str]:
    """The thing a question asks about, when its form says so: 'how many sniffer dogs ...' ->
    sniffer, dogs; 'what is the maximum penalty for ...' -> maximum, penalty; 'what is county
    lines ...' -> county, lines; 'is ketamine ...' -> ketamine; 'knife crime figures' -> knife, crime;
    'how do I apply for a school place' -> school, place."""
    match = _COST_TO_DO.search(question) or _COST.search(question) or _COUNTED.search(question)
    match = match or _ATTRIBUTE.search(question)
    match = match or _WHAT_IS.search(question) or _HOW_DO_I.search(question)
    if match is None and (match := _YES_NO.search(question)):
        limit = 1  # "is speeding a criminal offence": only the subject is sure to be a noun
    if match is not None:
        asked = match.group(1)
    elif _is_keyword_query(question):
        asked = _COMMAND.sub("", question)  # "compare Northtown and Southtown": the rows, not 'compare'
    else:
        return []
    asked = re.sub(r"\([^)]*\)", " ", asked)  # an aside in brackets is not what is asked about
    asked = _MEASURE_OF.sub("", normalise(asked))  # "the number of deaths": deaths
    asked = re.sub(r"^\W*(?:the|a|an)\s+", "", asked)  # "a place in rehab": place
    asked = in_report_terms(asked)  # 'cops' is asked as 'police officers'
    words: list[str] = []
    after_someone = False
    counting = match is not None and match.re is _COUNTED
    tokens = re.findall(r"[a-z0-9][a-z0-9\-]*", normalise(asked))
    for position, word in enumerate(tokens):
        if word in STOPWORDS or word in _ADVERBS or word in _PREPOSITIONS or len(words) == limit:
            break
        if after_someone and word.endswith("ing"):
            continue  # "is anyone selling fake tickets": what they do it to is asked about
        if counting and words and _is_verb_after_subject(tokens[position:]):
            break  # "how many districts recorded none": what did it is counted, not the doing
        after_someone = not words and word in _SOMEONE
        if word not in _MEASURE_WORDS and word not in GENERAL_WORDS and not _qualifies(word, question):
            words.append(word)
    if match is not None and match.re is _COUNTED and len(words) == 1 and _is_participle(words[0]):
        return []  # "how many (were) found": the thing counted is left unsaid
    return words


# Past participles that do not end in -ed: "how many found", "how much taken".
_IRREGULAR_PARTICIPLES = frozenset(
    "found made taken given seen held known caught brought kept sold put done got gotten sent "
    "lost paid spent won shut".split()
)


def _is_verb_after_subject(tokens: list[str]) -> bool:
    """'recorded none', 'attended the meeting', 'closed' at the end: a participle where a verb
    stands (before nothing, a stop word, a number or none/any), not one that qualifies the next
    word ('drug related deaths', 'police recorded crimes')."""
    following = tokens[1] if len(tokens) > 1 else ""
    return _is_participle(tokens[0]) and (
        not following or following in STOPWORDS or following in _NO_OR_ANY or following[0].isdigit()
    )


_NO_OR_ANY = frozenset("no none any nothing zero".split())


def _qualifies(word: str, question: str) -> bool:
    """A ranking word ('the main hurdle') as the question writes it: in capitals it is part of a
    name ('Best Value')."""
    return word in QUALIFIERS and re.search(rf"\b{re.escape(word)}\b", question) is not None


def _is_participle(word: str) -> bool:
    if word in _IRREGULAR_PARTICIPLES or word == "agreed":
        return True
    # "speed", "need", "hundred" end in -ed and are no participles.
    return word.endswith("ed") and len(word) > 4 and not word.endswith(("eed", "dred"))


def predicate_words(question: str, limit: int = 3) -> list[str]:
    """What a yes/no question says of its subject: 'is speeding legal' -> legal; 'is speeding a
    criminal offence' -> criminal, offence. Empty for other questions."""
    match = _YES_NO.search(question)
    if match is None or _COUNTED.search(question) or _ATTRIBUTE.search(question):
        return []
    skipped = STOPWORDS | _ADVERBS | _MEASURE_WORDS | GENERAL_WORDS
    words = [w for w in re.findall(r"[a-z][a-z\-]+", in_report_terms(normalise(match.group(1))))]
    content = [w for w in words if w not in skipped and len(w) > 2]
    return content[1 : 1 + limit]  # the first is the subject


_ACT_YEAR = re.compile(rf"\bact\s+(?:of\s+)?{YEAR}\b", re.I)  # part of a name, not a time
_FROM_YEAR = re.compile(rf"\b(?:since|after|beyond|from)\s+(?:[a-z]+\s+)?{YEAR}\b", re.I)
_UP_TO_YEAR = re.compile(rf"\b(?:before|until|till|prior\s+to|up\s+to)\s+(?:[a-z]+\s+)?{YEAR}\b", re.I)


OPEN_END = 9999  # "since 1999" asks about 1999 to OPEN_END


def asked_years(question: str) -> tuple[int, int] | None:
    """The years a question is about, first to last: 'in 2004' -> (2004, 2004); 'since 1999' ->
    (1999, 9999); 'the Criminal Justice Act 2003' names an act, not a time."""
    years = years_in(_ACT_YEAR.sub(" ", question))
    if not years:
        return None
    first, last = min(years), max(years)
    if len(years) == 1 and _FROM_YEAR.search(question):
        last = OPEN_END
    if len(years) == 1 and _UP_TO_YEAR.search(question):
        first = 0
    return first, last


# Labels that sort things into kinds: a vehicle's class, a tier, a numbered recommendation.
_LABEL = re.compile(
    r"\b(class|category|schedule)\s*['\"‘’]?([a-c]|\d)\b['\"‘’]?"
    r"|\b(tier|recommendation)\s+(\d+)\b",
    re.I,
)


def labels_in(text: str) -> list[str]:
    """The labels a text uses, written one way: "Class 'A'" and "class A" -> 'class a'."""
    found = []
    for match in _LABEL.finditer(text):
        kind, value = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        label = f"{kind.lower()} {value.lower()}"
        if label not in found:
            found.append(label)
    return found


def _is_keyword_query(question: str, most_words: int = 10) -> bool:
    """'road accident figures Leeds 2005': a few words naming a topic, no question word."""
    words = re.findall(r"[A-Za-z0-9]+", question)
    return 0 < len(words) <= most_words and words[0].lower() not in _QUESTION_WORDS | STOPWORDS


_MONTHS = {month[:3]: month for month in MONTH_NAMES} | {"sept": "september"}


_CAPITALISED_RUN = re.compile(r"\b[A-Z][a-z]+(?:\s+(?:of\s+|and\s+|for\s+)?[A-Z][a-z]+){2,}")


def coined_acronyms(corpus: Corpus) -> dict[str, str]:
    """Initials a reader may coin for the report's longer names ('RSCP' for the Road Safety Camera
    Project), where the report itself defines no acronym with those letters."""
    coined: dict[str, str] = {}
    for passage in corpus.passages:
        for run in _CAPITALISED_RUN.findall(f"{passage.heading}. {passage.text}"):
            words = run.split()
            name = " ".join(words[1:] if words[0].lower() in STOPWORDS else words)
            initials = "".join(word[0] for word in name.split() if word[0].isupper())
            if len(initials) >= 3 and initials not in corpus.acronyms:
                coined.setdefault(initials, name)
    return coined


COMMON_ACRONYM_SHARE = 0.1  # chosen on tuning: 0.05-0.15 give the same figures


def _common_acronym_expansions(corpus: Corpus, acronyms: dict[str, str], share: float) -> set[str]:
    """Expansions of acronyms the report uses all over ('RSO'): spelling them out in a question only
    pulls it towards the passages that define them (the summary, the list of abbreviations)."""
    texts = [p.text for p in corpus.passages]
    # Each passage's words with a capital, read once: a pattern per acronym over every passage
    # took ~0.9 s of a 1,000-report start. An acronym of other characters ('A&E') or with no
    # capital ('mph') is searched for.
    capitalised = [set(_CAPITALISED_WORD.findall(text)) for text in texts]
    common = set()
    for short, long in acronyms.items():
        if re.fullmatch(r"\w*[A-Z]\w*", short):
            mentions = sum(1 for words in capitalised if short in words or f"{short}s" in words)
        else:
            pattern = re.compile(rf"\b{re.escape(short)}s?\b")
            mentions = sum(1 for text in texts if pattern.search(text))
        if mentions >= share * len(texts):
            common.add(long)
    return common


_CAPITALISED_WORD = re.compile(r"\b\w*[A-Z]\w*\b")


@lru_cache(maxsize=1024)  # asked for by three checks of the same question
def _nickname_words(question: str) -> frozenset[str]:
    """The words of the everyday terms a question uses ('scotland', 'yard'): never unknown names."""
    return frozenset(word for phrase in everyday_phrases(question) for word in phrase.lower().split())


_DEFINITION = re.compile(
    r"\b(?:stand|stands|mean|means|meaning|acronym|abbreviat\w*|short for|full form|defin\w*)\b", re.I
)

_ORDINALS = {"first": 1, "second": 2, "third": 3}
_DOCUMENT = r"(?:this|the)\s+(?:[\w']+\s+)?(?:report|document|paper)"
# A question about the report as a whole ("what is this report about?") is answered by its summary.
_ABOUT_THE_REPORT = re.compile(
    rf"\bwhat(?:'s|\s+is|\s+was)\s+{_DOCUMENT}\s+(?:about|for)\b(?!\s+\w)"
    rf"|\b(?:purpose|aim|point|subject|topic|gist)\s+of\s+{_DOCUMENT}\b(?!\s+(?:on|about|for)\b)"
    rf"|\bsummari[sz]e\s+{_DOCUMENT}\b|\b{_DOCUMENT}\s+in\s+a\s+nutshell\b"
    rf"|\bwhat\s+does\s+{_DOCUMENT}\s+(?:set\s+out|aim|try|seek)\s+to\s+do\b",
    re.I,
)

# How readers name a passage inside a question; each pattern yields a citation id.
_CITATION_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?:¶|§)\s*(\d{1,3})\b"), "{}"),
    (re.compile(r"\bpara(?:graph)?s?\.?\s*(?:no\.?\s*)?(\d{1,3})\b", re.I), "{}"),
    (re.compile(r"\b(?:table|chart)\s*[-_ ]?\s*\d\b", re.I), "{0}"),
    (re.compile(r"\b(first|second|third)\s+(table|chart)\b", re.I), "ordinal"),
    (_ABOUT_THE_REPORT, "summary"),
    (re.compile(r"\bsection\s+([A-Z])\b(?!\s*\d)"), "{}"),
    (re.compile(r"^\s*([A-Z]|[A-Z]\d{1,3}|summary|abbreviations)\s*[?.!]?\s*$", re.I), "{}"),
    (re.compile(r"^\s*(\d{1,3})\s*[?.!]?\s*$"), "{}"),
]


_WORD = re.compile(r"[A-Za-z]{2,}")
SPELLING_MIN_LENGTH = 6  # shorter words are too often other words one letter away
SPELLING_MIN_RATIO = (
    88  # rapidfuzz ratio: 'recomendation' 96, 'methamfetamine' 90, 'description'/'prescription' 87
)


def _section_titles(corpus: Corpus) -> tuple[dict[str, list[tuple[str, str]]], re.Pattern[str] | None]:
    """Each lettered section title the reports print ('financial implications') -> (doc, letter),
    and one pattern that finds a title with a paragraph number in a question."""
    by_title: dict[str, list[tuple[str, str]]] = {}
    for report in corpus.reports:
        for section in report.sections:
            title = " ".join(section.title.lower().rstrip(":.").split())
            if len(title) >= 4:
                by_title.setdefault(title, []).append((report.slug, section.letter))
    if not by_title:
        return by_title, None
    titles = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in sorted(by_title, key=len, reverse=True))
    para = r"(?:para(?:graph)?\.?\s*)?"
    pattern = re.compile(
        rf"\b(?P<title_after>{titles})\s*{para}(?P<after>\d{{1,3}})\b"
        rf"|\bpara(?:graph)?\.?\s*(?P<before>\d{{1,3}})\s+(?:of|in)\s+(?:the\s+)?(?P<title_before>{titles})\b",
        re.I,
    )
    return by_title, pattern


Vocabulary = tuple[frozenset[str], frozenset[str]]  # a report's words and its keyword stems


def report_vocabulary(report: Report) -> Vocabulary:
    """The words and stems a report uses anywhere: its header (title, committee, author, dates)
    and every passage's section, heading and text. Read when the index is built."""
    dates = [d.strftime("%d %B %Y") for d in (report.date, report.meeting_date) if d is not None]
    header = [report.title, report.committee, report.by, report.author, report.meeting, *dates]
    parts = [*header, *(f"{p.section} {p.heading} {p.text}" for p in report.passages)]
    text = " ".join(parts)
    return frozenset(re.findall(r"[a-z0-9]+", normalise(text))), frozenset(tokenize(text))


class QueryAnalyzer:
    """Turns a reader's question into a Query using only what the report itself says."""

    def __init__(
        self,
        corpus: Corpus,
        options: Expansions | None = None,
        *,
        is_dictionary_word: Callable[[str], bool] | None = None,
        vocabularies: Mapping[str, Vocabulary] | None = None,
    ) -> None:
        self.corpus = corpus
        # Each report's words and stems, read when the index was built (report_vocabulary); a
        # report without one (an analyser over a bare corpus) is read the first time it is needed.
        self._vocabularies = vocabularies or {}
        self.options = options or Expansions()
        # An English word is never "corrected" into a report word; the model's own vocabulary says
        # which words are English (a whole word piece), so no report-specific list is needed.
        self.is_dictionary_word = is_dictionary_word or (lambda word: False)
        self.acronyms = corpus.acronyms
        self.coined = coined_acronyms(corpus)
        self._common_expansions = _common_acronym_expansions(corpus, self.acronyms, COMMON_ACRONYM_SHARE)
        body = " ".join(p.text for p in corpus.passages)
        # What the reports write in lowercase: "rest" in the text is a word, not an acronym REST.
        self.lowercase_words = frozenset(re.findall(r"\b[a-z]+\b", body))
        headings = " ".join(f"{p.section} {p.heading}" for p in corpus.passages)
        # Every report's words and stems as saved with the index (tokenising the library's text
        # again took ~1.7 s of a 1,000-report start); a report without them is read once.
        vocabularies = [self._vocabulary_of(doc) for doc in corpus.docs]
        self._known_words = set().union(*(words for words, _ in vocabularies))
        self._known_stems = set().union(*(stems for _, stems in vocabularies))
        # A misspelling of six letters may be a five-letter word with one letter more ('pannel').
        self._spelling_vocabulary = sorted(w for w in self._known_words if len(w) >= SPELLING_MIN_LENGTH - 1)
        # The report's capitalised words, by their lowercase form: 'Databse' is corrected to the
        # 'Database' the report prints, where a name it never uses is left for the unknown-name check.
        capitalised = re.findall(rf"\b[A-Z][a-z]{{{SPELLING_MIN_LENGTH - 1},}}\b", f"{body} {headings}")
        self._spelling_names = {word.lower(): word for word in capitalised}
        self._spelling_name_keys = sorted(self._spelling_names)
        self._sections_by_title, self._section_titles = _section_titles(corpus)
        self.names = ReportNames(corpus)

    def correct_spelling(self, question: str) -> tuple[str, dict[str, str]]:
        """The question with misspellings of the report's own words corrected ('recomendation' ->
        'recommendation'), and what was changed. Capitalised names are left alone: a name the
        report does not use is for the unknown-name check to see, unless it is a misspelling of a
        capitalised word the report prints ('Databse')."""
        corrections: dict[str, str] = {}
        for word in set(re.findall(r"\b[A-Za-z][a-z\-]+\b", question)):
            if (
                len(word) < SPELLING_MIN_LENGTH
                or self.in_report(word)
                or self.is_dictionary_word(word.lower())
            ):
                continue
            corrected = self._closest_report_word(word)
            if corrected is not None:
                corrections[word] = corrected
        return self._join_compounds(with_corrections(question, corrections), corrections), corrections

    def _closest_report_word(self, word: str) -> str | None:
        """The report word this one misspells, as the report prints it, if one is close enough."""
        if word[0].isupper():
            match = process.extractOne(
                word.lower(), self._spelling_name_keys, scorer=fuzz.ratio, score_cutoff=SPELLING_MIN_RATIO
            )
            return None if match is None else self._spelling_names[match[0]]
        match = process.extractOne(
            word, self._spelling_vocabulary, scorer=fuzz.ratio, score_cutoff=SPELLING_MIN_RATIO
        )
        return None if match is None else match[0]

    def _join_compounds(self, question: str, corrections: dict[str, str]) -> str:
        """Two words the report writes as one ('speed cameras' where it says 'speedcameras')."""
        words = list(_WORD.finditer(question))
        pieces, at, skip = [], 0, False
        for first, second in zip(words, words[1:], strict=False):
            if skip:
                skip = False
                continue
            whole = (first.group(0) + second.group(0)).lower()
            between = question[first.end() : second.start()]
            if between.isspace() and len(whole) >= SPELLING_MIN_LENGTH and whole in self._known_words:
                pieces += [question[at : first.start()], whole]
                at, skip = second.end(), True
                corrections[question[first.start() : second.end()]] = whole
        return "".join(pieces) + question[at:]

    def cited_passage(self, question: str) -> Passage | None:
        """The passage a question names ('paragraph 38', 'financial implications 4', 'table 1').
        An id several reports have gives the default report's passage (as bare routes do), else
        the first report's; a scoped search maps it to its own report's passage with that id."""
        in_section = self._section_citation(question)
        if in_section is not None:
            return in_section
        for pattern, template in _CITATION_PATTERNS:
            match = pattern.search(question)
            if match:
                if template == "ordinal":
                    ref = f"{match.group(2)}-{_ORDINALS[match.group(1).lower()]}"
                else:
                    ref = template.format(match.group(match.lastindex or 0))
                passage = self._first_with(canonical_id(ref))
                if passage is not None:
                    return passage
        return None

    def _first_with(self, ref: str) -> Passage | None:
        docs = self.corpus.docs_with(ref)
        if not docs:
            return None
        default = self.corpus.default_doc()
        return self.corpus.get(default if default in docs else docs[0], ref)

    def _section_citation(self, question: str) -> Passage | None:
        """'financial implications 4', 'paragraph 2 of the legal implications': a numbered paragraph
        of a lettered section named by its title, as the reports print them."""
        if self._section_titles is None:
            return None
        match = self._section_titles.search(question)
        if match is None:
            return None
        number = match.group("after") or match.group("before")
        title = (match.group("title_after") or match.group("title_before")).lower()
        for doc, letter in self._sections_by_title.get(" ".join(title.split()), []):
            passage = self.corpus.get(doc, f"{letter}{number}")
            if passage is not None:
                return passage
        return None

    def expand(self, question: str) -> list[str]:
        """Expansions of the acronyms a question uses ('RSO' -> 'Road Safety Officer')."""
        found: list[str] = []
        for word in re.findall(r"[A-Za-z][A-Za-z\-]+", question):
            for candidate in (word, word.upper(), f"{word.upper()}S", word.upper().removesuffix("S")):
                expansion = self.acronyms.get(candidate)
                if expansion is None and word.isupper():
                    expansion = self.coined.get(candidate)  # "RSTP": initials the report never uses
                if expansion is None:
                    continue
                if word.islower() and word in self.lowercase_words:
                    continue  # an ordinary word the report also uses ("rest" would be REST)
                if expansion not in found:
                    found.append(expansion)
                break
        return found

    def unknown_names(self, question: str) -> list[str]:
        """Capitalised words (not opening the question) and years that appear nowhere in the report.

        A question about a place or year no report of the library names is not answered,
        however close its other words come.
        """
        return [name for name in self.names_in(question) if not self.in_report(name)]

    def names_in(self, question: str) -> list[str]:
        """Capitalised words (not opening the question) and years: what a report must mention."""
        words = re.findall(r"[A-Za-z0-9][A-Za-z0-9'\-]*", question)
        nicknames = _nickname_words(question)
        shouted = question.isupper()
        names = []
        for position, word in enumerate(words):
            is_year = re.fullmatch(r"(?:1[89]|20)\d\d", word) is not None
            is_name = position > 0 and word[0].isupper() and not word.isupper()
            is_name = is_name or (not shouted and self._is_unknown_capitals(word))
            if (is_year or is_name) and word.lower() not in nicknames:
                names.append(word.removesuffix("'s"))
        return names

    def writes(self, doc: str, word: str) -> bool:
        """Does one report of the library print this word (any case) itself?"""
        return word.lower() in self._vocabulary_of(doc)[0]

    def unknown_in(self, doc: str, names: list[str]) -> list[str]:
        """The names one report of the library never uses (its own words, stems and acronyms)."""
        words, stems = self._vocabulary_of(doc)
        acronyms = self.corpus.acronyms_of(doc)
        unknown = []
        for name in names:
            forms = {_MONTHS.get(form, form) for form in re.findall(r"[a-z0-9]+", normalise(name))}
            known = not forms or forms & words or set(tokenize(name)) & stems
            if not (known or name in acronyms or name.upper() in acronyms or name in self.coined):
                unknown.append(name)
        return unknown

    def _vocabulary_of(self, doc: str) -> Vocabulary:
        """One report's words and stems: saved with the index (reading a report's whole text took
        ~2 ms, paid by the first question that needed each report of a library)."""
        saved = self._vocabularies.get(doc)
        return saved if saved is not None else self._read_vocabulary(doc)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - an analyser lives as long as its index
    def _read_vocabulary(self, doc: str) -> Vocabulary:
        report = self.corpus.report(doc)
        return report_vocabulary(report) if report is not None else (frozenset(), frozenset())

    def _is_unknown_capitals(self, word: str) -> bool:
        """'Operation MARTEL': a word in capitals, too long for a casual acronym, that is no acronym
        the report defines or a reader might coin from its names."""
        if not (word.isupper() and word.isalpha() and len(word) >= 4):
            return False
        forms = {word, word.removesuffix("S"), f"{word}S"}
        return not forms & (self.acronyms.keys() | self.coined.keys())

    def unknown_after_preposition(self, question: str) -> list[str]:
        """Lowercase words the report never uses right after 'in', 'at', 'from'...: 'in leeds'."""
        nicknames = _nickname_words(question)
        found = []
        for word in _LOCATIVE.findall(question):
            name = word.lower().removesuffix("'s")
            if name in STOPWORDS or name in nicknames or not name.isalpha():
                continue
            if not self.in_report(name):
                found.append(name)
        return found

    def named_places(self, question: str) -> list[str]:
        """Capitalised names after in/at/for/from ('in the City of Leeds', 'for Harehills'), months,
        acronyms and nicknames aside."""
        nicknames = _nickname_words(question)
        names = []
        for name in _NAMED_PLACE.findall(singular_acronyms(question)):
            words = re.split(r"[\s\-–]+", name.lower())  # 'July-September': a span of months
            if name.isupper() or month_number(words[0]) or set(words) & nicknames:
                continue
            names.append(name)
        return names

    def in_report(self, word: str) -> bool:
        """Does the report use this word, as written or by its stem ('Americans' from 'American')?"""
        forms = {_MONTHS.get(form, form) for form in re.findall(r"[a-z0-9]+", normalise(word))}
        return not forms or bool(forms & self._known_words or set(tokenize(word)) & self._known_stems)

    def analyse(self, question: str) -> Query:
        return self.finish(self.draft(question))

    def draft(self, question: str) -> Draft:
        """What the model needs (the text to embed), read first; `finish` reads the rest."""
        # A question that names its report keeps the name out of what is ranked and checked: it
        # says where to look, not what to look for ("who wrote the Riverside conference paper?").
        mention = self.names.mention(question)
        read = (without_phrases(question, mention.phrases) or question) if mention is not None else question
        text, corrections = self.correct_spelling(read)
        expansions = self.expand(text)
        everyday = report_terms(text)
        options = self.options
        dense_extra = [
            *([e for e in expansions if e not in self._common_expansions] if options.acronyms_dense else []),
            *(everyday if options.everyday_dense else []),
        ]
        keyword_extra = [
            *(expansions if options.acronyms_keyword else []),
            *(everyday if options.everyday_keyword else []),
        ]
        dense_text = text
        if dense_extra:
            dense_text = f"{text} " + " ".join(f"({e})" for e in dense_extra)
        keyword_text = f"{text} " + " ".join(keyword_extra) if keyword_extra else text
        return Draft(
            question=question,
            read=read,
            named_docs=mention.docs if mention is not None else (),
            text=text,
            corrections=corrections,
            expansions=expansions,
            dense_text=dense_text,
            keyword_text=keyword_text,
        )

    def finish(self, draft: Draft) -> Query:
        """The rest of the analysis of a drafted question: everything but the text to embed."""
        text, expansions = draft.text, draft.expansions
        names = self.names_in(text)  # read once, spelling corrected: the library and per-report checks
        asks_recommendation = _ASKS_RECOMMENDATION.search(text) is not None
        return Query(
            question=draft.question,
            text=text,
            corrections=draft.corrections,
            dense_text=draft.dense_text,
            tokens=tokenize(draft.keyword_text),
            cited=self.cited_passage(text),
            expansions=expansions,
            unknown_names=[name for name in names if not self.in_report(name)],
            names=names,
            asks_definition=self.asks_definition(text, expansions),
            asks_author=_ASKS_AUTHOR.search(text) is not None,
            asks_recommendation=asks_recommendation,
            # Read in the whole question, spelling corrected: taking out the name of a report it
            # names can leave words that read as another form ("the members of the <name> officer").
            expects=expected_answer(with_corrections(draft.question, draft.corrections)),
            # What members are asked to do is read from the recommendation, whatever it names.
            asked=[] if asks_recommendation else asked_words(text),
            predicate=predicate_words(text),
            placed=self.unknown_after_preposition(text),
            years=asked_years(text),
            months=months_in(text),  # without the words that named a report
            acronyms=acronyms_in(draft.question),
            relative_year=relative_year(text),
            labels=labels_in(text),
            named_places=self.named_places(text),
            named_docs=draft.named_docs,
        )

    def asks_definition(self, question: str, expansions: list[str]) -> bool:
        """'What does X stand for', 'meaning of X', or a question that is just an acronym."""
        if _DEFINITION.search(question):
            return True
        return bool(expansions) and len(tokenize(question)) <= 1
