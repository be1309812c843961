"""Follow-up questions read in the light of the previous turn, by general English rules (no LLM)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qa.corpus import Corpus, Passage, Report

MAX_SUBJECT_WORDS = 8
MAX_HEADING_WORDS = 6  # longer headings make clumsy example questions
MAX_STEPS = 3

# Words that carry no subject of their own.
_FUNCTION_WORDS = frozenset(
    "a an the of in on at to for from by with about and or but is are was were be been being do does did "
    "has have had can could will would should may might shall must what which who whom whose when where "
    "why how many much there here it its they them their this that these those i me my we our you your "
    "he she his her so any some tell show give say says said report lead led leads result resulted "
    "results up".split()
)
_AUX = r"(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would|should|may|might)"
_REFERRING = r"(?:it|they|them|that|this|these|those)"
_POSSESSIVE = r"(?:its|their)"
# "that"/"this" name the previous subject when no noun follows: "did that lead to", "why is this".
_NOT_A_NOUN = frozenset(
    "lead led result resulted cost costs mean means do did does is was were are have has had happen "
    "happened work worked involve include start started begin began end ended take took make made "
    "compare change changed say said show showed affect get got come came go went in to for of by on at "
    "with from about since after before".split()
)
# "how many N did that lead to": a count of what the subject brought about.
_RESULT_VERBS = (
    r"(?:lead\s+to|led\s+to|result\s+in|resulted\s+in|bring\s+about|brought\s+about|produce|produced|"
    r"yield|yielded|generate|generated|achieve|achieved|cause|caused|involve|involved|make|made)"
)
_COUNT_OF_RESULT = re.compile(
    rf"^how\s+(many|much)\s+([\w'-]+(?:\s+[\w'-]+)?)\s+{_AUX}\s+{_REFERRING}\s+{_RESULT_VERBS}\s*\??$", re.I
)
_MORE = re.compile(
    r"^(?:and\s+|but\s+|ok(?:ay)?,?\s+)?(?:why|why so|why is that|why was that|how so|how come|"
    r"tell me more(?:\s+about\s+(?:it|that|this))?|more|more please|go on|explain(?:\s+(?:it|that|this))?|"
    r"(?:can you\s+)?elaborate|(?:more|any more|further)\s+details?|in what way|say more)\s*[?.!]*$",
    re.I,
)
_NEIGHBOUR = re.compile(
    r"^(?:and\s+|ok(?:ay)?,?\s+)?(?:(?:show(?:\s+me)?|read|go\s+to|open|what\s+does|what\s+about|and)\s+)?"
    r"(?:the\s+)?(next|following|previous|preceding|prior)\s*(?:one|paragraph|passage|para|section|part)?"
    r"(?:\s+says?)?\s*[?.!]*$|^(?:what\s+comes\s+next|what(?:'s|\s+is)\s+next|continue|keep\s+going)\s*[?.!]*$",
    re.I,
)
_AUTHOR = re.compile(
    r"^(?:and\s+)?(?:who\s+(?:wrote|authored|prepared|signed|produced|submitted|published)"
    r"(?:\s+(?:it|this|that|the\s+report|this\s+report))?|who\s+is\s+(?:it|this|that)\s+by|"
    r"who(?:'s|\s+is|\s+was)\s+(?:the\s+|its\s+)?author(?:\s+of\s+(?:it|this|that))?)\s*[?.!]*$",
    re.I,
)
_SUBSTITUTE = re.compile(
    r"^(?:and\s+what\s+about|and\s+how\s+about|what\s+about|how\s+about|what\s+of|and\s+for|"
    r"same\s+for|and|but)\s+(.+?)\s*[?.!]*$",
    re.I,
)
_QUESTION_START = re.compile(
    r"^(?:what|how|who|which|where|when|why|is|are|was|were|do|does|did|can)\b", re.I
)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_PLACE_PHRASE = re.compile(
    r"\b(in|at|for|from|across|within)\s+(?:the\s+)?([A-Z][\w'&-]*(?:\s+(?:of|and|&|upon)?\s*[A-Z][\w'&-]*)*)"
)
_PREPOSITION = re.compile(r"^(in|at|for|from|across|within|during|since|by|on)\s+(.+)$", re.I)
_CITES_A_PASSAGE = re.compile(r"¶|\bpara(?:graph)?s?\.?\s*\d|\b(?:table|chart)\s*\d", re.I)
_SUBJECT_PATTERNS = (
    re.compile(rf"^how\s+(?:many|much)\s+(.+?)\s+{_AUX}\b", re.I),
    re.compile(r"\babout\s+(?:the\s+|an?\s+)?(.+?)\s*[?.!]*$", re.I),
    re.compile(r"^(?:what|who)\s+(?:is|are|was|were)\s+(?:the\s+|an?\s+)?(.+?)\s*[?.!]*$", re.I),
    re.compile(
        rf"^(?:when|where|why|how)\s+{_AUX}\s+(?:the\s+|an?\s+)?(.+?)\s+\w+(?:\s+up)?\s*[?.!]*$", re.I
    ),
)


@dataclass(frozen=True)
class Turn:
    """The previous question (as it was read) and the passage its answer cited."""

    question: str
    doc: str | None = None
    paragraph: str | None = None


def read_in_context(question: str, turn: Turn | None, corpus: Corpus) -> str | None:
    """The question rewritten to stand on its own, or None when it already does (or cannot be)."""
    if turn is None or not question.strip():
        return None
    rules: tuple[Callable[[str, Turn, Corpus], str | None], ...] = (
        _more_of_the_passage,
        _neighbouring_passage,
        _author,
        _substitution,
        _pronoun,
    )
    for rule in rules:
        rewritten = rule(question.strip(), turn, corpus)
        if rewritten and rewritten != question:
            return rewritten
    return None


# ---------------------------------------------------------------------------
# The rules, most specific first.


def _more_of_the_passage(question: str, turn: Turn, corpus: Corpus) -> str | None:
    """'why?', 'tell me more': the passage the previous answer came from, asked for by its label."""
    passage = context_passage(turn, corpus)
    return passage.label if passage is not None and _MORE.match(question) else None


def _neighbouring_passage(question: str, turn: Turn, corpus: Corpus) -> str | None:
    """'the next paragraph', 'previous one': the passage beside the previous answer's, same report."""
    match = _NEIGHBOUR.match(question)
    passage = context_passage(turn, corpus)
    if match is None or passage is None:
        return None
    before, after = corpus.neighbours(passage)
    wanted = after if (match.group(1) or "next").lower() in ("next", "following") else before
    neighbour = corpus.get(passage.doc, wanted) if wanted else None
    return neighbour.label if neighbour is not None else None


def _author(question: str, turn: Turn, corpus: Corpus) -> str | None:
    """'who wrote it?': the report names its own author."""
    return "Who wrote the report?" if _AUTHOR.match(question) else None


def _substitution(question: str, turn: Turn, corpus: Corpus) -> str | None:
    """'what about 2019?', 'and in Leeds?': the previous question with that part replaced."""
    match = _SUBSTITUTE.match(question)
    previous = turn.question.strip()
    if match is None or not previous or _QUESTION_START.match(match.group(1)):
        return None
    new = match.group(1)
    if len(new.split()) > MAX_SUBJECT_WORDS:
        return None
    return _replace_year(previous, new) or _replace_place(previous, new) or _replace_subject(previous, new)


def _pronoun(question: str, turn: Turn, corpus: Corpus) -> str | None:
    """'how many arrests did that lead to?': the pronoun stands for the previous question's subject."""
    if not _refers_back(question):
        return None
    subject = question_subject(turn, corpus)
    if subject is None:
        return None
    counted = _COUNT_OF_RESULT.match(question)
    if counted:  # the count of what the subject brought about: "how many home visit referrals"
        return f"How {counted.group(1).lower()} {subject} {counted.group(2)} were there?"
    the = _with_article(subject)
    rewritten = re.sub(rf"\b{_POSSESSIVE}\b", f"{the}'s", question, count=1, flags=re.I)
    if rewritten == question:
        rewritten = re.sub(rf"\b{_REFERRING}\b", the, question, count=1, flags=re.I)
    return _sentence(rewritten)


# ---------------------------------------------------------------------------
# Helpers.


def context_passage(turn: Turn, corpus: Corpus) -> Passage | None:
    """The passage the previous answer cited (in its own report when the id is shared)."""
    if not turn.paragraph:
        return None
    if turn.doc is not None:
        return corpus.get(turn.doc, turn.paragraph)
    docs = corpus.docs_with(turn.paragraph)
    return corpus.get(docs[0], turn.paragraph) if len(docs) == 1 else None


def _refers_back(question: str) -> bool:
    """A short question whose 'it'/'that'/'they' has nothing in the question itself to point to."""
    words = re.findall(r"[\w'-]+", question.lower())
    content = [w for w in words if w not in _FUNCTION_WORDS and not w.isdigit()]
    if not words or len(words) > 12 or len(content) > 4:
        return False
    for position, word in enumerate(words):
        following = words[position + 1] if position + 1 < len(words) else ""
        if word in ("it", "they", "them", "its", "their"):
            return True
        if word in ("that", "this", "these", "those") and (not following or following in _NOT_A_NOUN):
            return True
    return False


def question_subject(turn: Turn, corpus: Corpus) -> str | None:
    """What the previous question was about: 'What is a home visit?' -> 'home visit'.
    A question that named a passage ('what does paragraph 22 say') is about that passage's heading."""
    previous = turn.question.strip()
    if previous and not _CITES_A_PASSAGE.search(previous):
        for pattern in _SUBJECT_PATTERNS:
            match = pattern.search(previous)
            if match and 0 < len(match.group(1).split()) <= MAX_SUBJECT_WORDS:
                return match.group(1).strip(" ,;:")
        content = [w for w in re.findall(r"[\w'-]+", previous) if w.lower() not in _FUNCTION_WORDS]
        if 0 < len(content) <= 4:
            return " ".join(content)
    passage = context_passage(turn, corpus)
    heading = passage.heading if passage is not None else ""
    return _lower_first(heading) if heading and len(heading.split()) <= MAX_SUBJECT_WORDS else None


def _replace_year(previous: str, new: str) -> str | None:
    year = _YEAR.fullmatch(re.sub(r"^(?:in|for|during|since)\s+", "", new, flags=re.I))
    if year is None:
        return None
    if _YEAR.search(previous):
        return _YEAR.sub(year.group(0), previous, count=1)
    return _append(previous, f"in {year.group(0)}")


def _replace_place(previous: str, new: str) -> str | None:
    """'and in Leeds' after '... closed in York?' -> '... closed in Leeds?'."""
    preposition = _PREPOSITION.match(new)
    name = preposition.group(2) if preposition else new
    name = re.sub(r"^(?:the)\s+", "", name, flags=re.I)
    if not name[:1].isupper() and preposition is None:
        return None
    place = _PLACE_PHRASE.search(previous)
    if place is not None:
        # The previous preposition stays unless the new part brings its own ('for 2019', 'at the port').
        word = preposition.group(1).lower() if preposition else place.group(1)
        between = previous[place.end(1) : place.start(2)]  # ' ' or ' the '
        return f"{previous[: place.start(1)]}{word}{between}{name}{previous[place.end(2) :]}"
    return _append(previous, new if preposition else f"for {name}")


def _replace_subject(previous: str, new: str) -> str:
    """'what about copper?' after 'How many tonnes of steel were sold?' -> '... of copper ...'."""
    new = re.sub(r"^(?:the|an?)\s+", "", new, flags=re.I)
    for pattern in _SUBJECT_PATTERNS:
        match = pattern.search(previous)
        if match and len(match.group(1).split()) <= MAX_SUBJECT_WORDS:
            start, end = match.span(1)
            of = previous.rfind(" of ", start, end)
            start = of + len(" of ") if of >= 0 else start  # "tonnes of steel": the thing measured
            return previous[:start] + new + previous[end:]
    return f"What does the report say about {new}?"


def _append(previous: str, phrase: str) -> str:
    return f"{previous.rstrip(' ?.!')} {phrase}?"


def _with_article(subject: str) -> str:
    return subject if re.match(r"(?:the|an?)\s", subject, re.I) else f"the {subject}"


def _lower_first(text: str) -> str:
    """'Staffing and budgets' -> 'staffing and budgets'; acronyms and names keep their capitals."""
    words = text.split()
    sentence_case = len(words) > 1 and words[0][1:].islower() and words[1].islower()
    return text[0].lower() + text[1:] if sentence_case else text


def _sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] if text else text


# ---------------------------------------------------------------------------
# Questions built from the report's own headings: examples and next steps.


def about(heading: str) -> str:
    """'What does the report say about staffing and budgets?' ('the' before a name)."""
    subject = _lower_first(heading)
    if subject == heading and not re.match(r"(?:the|an?)\s", heading, re.I):
        subject = f"the {heading}"  # a name in capitals: 'the Road Safety Unit'
    return f"What does the report say about {subject}?"


def heading_questions(passages: Sequence[Passage]) -> list[str]:
    """'What does the report say about <heading>?' for each short heading, once, in order."""
    return [about(heading) for heading in _short_headings(passages)]


def _short_headings(passages: Sequence[Passage]) -> list[str]:
    seen: list[str] = []
    for passage in passages:
        heading = passage.heading
        short = 1 < len(heading.split()) <= MAX_HEADING_WORDS
        if passage.kind == "paragraph" and short and heading not in seen:
            seen.append(heading)
    return seen


def example_candidates(report: Report) -> list[str]:
    """Questions to offer on an empty chat, spread over the report: the first heading of each
    section, then the second of each, and so on."""
    by_section: dict[str, list[str]] = {}
    passages = report.passages
    for heading in _short_headings(passages):
        section = next(p.section for p in passages if p.heading == heading)
        by_section.setdefault(section, []).append(heading)
    rounds = max((len(headings) for headings in by_section.values()), default=0)
    spread = [hs[n] for n in range(rounds) for hs in by_section.values() if n < len(hs)]
    return [about(heading) for heading in spread]


def lookup_example(report: Report) -> str | None:
    """'What does paragraph N say?' for a numbered paragraph half-way through the report."""
    numbered = [p for p in report.passages if p.id.isdigit()]
    return f"What does paragraph {numbered[len(numbered) // 2].id} say?" if numbered else None


@dataclass(frozen=True)
class Step:
    label: str
    question: str


def next_steps(cited: Sequence[Passage], corpus: Corpus, asked: str) -> list[Step]:
    """Up to three next questions: the passage after the first one cited, then the headings of the
    passages cited (or beside them) that the question did not already ask about."""
    if not cited:
        return []
    before, after = corpus.neighbours(cited[0])
    doc = cited[0].doc
    steps: list[Step | None] = [_step("Next", corpus.get(doc, after))] if after else []
    neighbours = [corpus.get(p.doc, ref) for p in cited for ref in corpus.neighbours(p) if ref]
    for question in heading_questions([*cited, *(p for p in neighbours if p is not None)]):
        if question.lower() != asked.lower() and all(step.question != question for step in steps):
            steps.append(Step(question, question))
    if before and len(steps) < MAX_STEPS:
        steps.append(_step("Previous", corpus.get(doc, before)))
    return [step for step in steps if step is not None][:MAX_STEPS]


def _step(direction: str, passage: Passage | None) -> Step | None:
    """'Next: ¶8 · Territorial Policing', asking for ¶8 by its label."""
    if passage is None:
        return None
    name = passage.heading or passage.section
    return Step(f"{direction}: {passage.label}" + (f" · {name}" if name else ""), passage.label)
