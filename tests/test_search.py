"""Search over the real index: known answers, fusion, lookups, and recall on our question set."""

from __future__ import annotations

import pytest

from qa.evaluate import evaluate, load_questions
from qa.search import Searcher

from .conftest import DATA_DIR


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many cannabis factories were found in London?", "16"),
        ("What is the CDTB?", "22"),
        ("NEW-ADAM programme findings", "26"),
        ("£6.1 million grant", "D4"),
        ("Haringey crackhouse closures", "table-1"),
        ("What does CJIP stand for?", "28 abbreviations"),
    ],
)
def test_known_answers_rank_first(searcher: Searcher, question: str, expected: str) -> None:
    result = searcher.ask(question, k=3)
    assert result.hits[0].passage.id in expected.split()
    assert result.answered


def test_hits_are_ranked_and_carry_scores(searcher: Searcher) -> None:
    hits = searcher.search("cannabis factories", k=5)
    assert len(hits) == 5
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.passage.id for h in hits}) == 5


def test_answer_span_is_a_verbatim_sentence_of_the_passage(searcher: Searcher) -> None:
    hit = searcher.ask("How many cannabis factories were found in London?").answer
    assert hit is not None
    assert hit.passage.text[hit.span.start : hit.span.end] == hit.span.text
    assert "300 of the factories" in hit.span.text


def test_citation_lookup_puts_the_named_passage_first(searcher: Searcher) -> None:
    result = searcher.ask("what does paragraph 38 say", k=3)
    assert result.lookup and result.answered
    assert result.hits[0].passage.id == "38"


def test_off_topic_question_is_declined(searcher: Searcher) -> None:
    assert not searcher.ask("Who won the football world cup in 1966?").answered


def test_recall_on_our_question_set(searcher: Searcher) -> None:
    report = evaluate(searcher, load_questions(DATA_DIR / "questions.jsonl"), "questions.jsonl")
    assert report.answerable >= 60 and report.offtopic >= 10
    assert report.recall_at_3 >= 0.945, report.misses  # 0.947 with half of blind batch 13 (0.951 before)
    assert report.recall_at_1 >= 0.85


def test_question_naming_a_place_the_report_never_mentions_is_declined(searcher: Searcher) -> None:
    result = searcher.ask("how many cannabis factories were found in Birmingham")
    assert not result.answered
    assert result.hits[0].passage.id == "16"  # the nearest passage is still listed
    assert searcher.ask("how many cannabis factories were found in London").answered


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("paragraph 2 of financial implications", "D2"),
        ("financial implications 4", "D4"),
        ("show me table 1", "table-1"),
        ("what does chart 2 show", "chart-2"),
        ("¶22", "22"),
        ("section C", "C"),
    ],
)
def test_citation_forms_in_questions(searcher: Searcher, question: str, expected: str) -> None:
    result = searcher.ask(question)
    assert result.lookup and result.answered and result.hits[0].passage.id == expected


def test_acronym_defined_in_running_text_is_found(searcher: Searcher) -> None:
    result = searcher.ask("What does COBRA stand for?")
    assert result.hits[0].passage.id == "20"
    assert "Covert Operations Borough Response Advisors" in result.answer.span.text


def test_table_row_is_the_answer_for_a_borough(searcher: Searcher) -> None:
    answer = searcher.ask("How many crack houses were closed in Newham?").answer
    assert answer is not None and answer.passage.id == "table-1"
    assert answer.span.text == "Newham 10 10"


def test_holdout_targets(searcher: Searcher) -> None:
    """Regression floors on the untouched hold-out half (docs/quality.md), at what it measures: the
    earlier batches plus half of blind batches 8 to 13 (paraphrases, figures, tables, near-domain)."""
    report = evaluate(searcher, load_questions(DATA_DIR / "questions.holdout.jsonl"), "holdout")
    assert report.answerable >= 620 and report.offtopic >= 280
    assert report.recall_at_1 >= 0.885, report.misses  # 0.888 measured; target 0.93 not met
    assert report.recall_at_3 >= 0.945, report.misses  # 0.947 measured
    assert report.mrr >= 0.915  # 0.920
    assert report.answer_correct >= 0.865  # 0.866
    assert report.answerable_declined <= 0.03  # 0.027 (0.024 before ranking words were cut to ranking words)
    assert report.offtopic_declined >= 0.655  # 0.660 (the rest mostly answered as only the closest)
    assert report.answerable_high >= 0.875  # 0.877
    assert report.offtopic_high <= 0.235  # 0.231 (batch 12's near-domain: 0.40 high); target 0.15 not met


def test_ablation_rows_end_at_the_defaults(searcher: Searcher) -> None:
    from qa.tune import ablation, ablation_rows

    questions = load_questions(DATA_DIR / "questions.jsonl")[:40]
    rows = ablation(searcher, questions, questions)
    assert [label for label, _, _ in rows] == [row.label for row in ablation_rows(searcher.config)]
    labels = {label for label, _, _ in rows}
    assert {f"+ rule {name}" for name in searcher.config.declines.names if name != "nothing_close"} <= labels
    final = evaluate(searcher, questions)
    assert rows[-1][2].recall_at_1 == final.recall_at_1
    assert rows[0][2].recall_at_1 <= rows[-1][2].recall_at_1
    assert searcher.config.ranking.rerank_weight > 0  # the searcher is left as it was


@pytest.mark.parametrize(
    ("question", "expects"),
    [
        ("How many cannabis factories were found?", "number"),
        ("how much does a DTTO cost per offender?", "money"),
        ("What is the Probation Service's annual budget?", "money"),
        ("What do problem drug users cost the criminal justice system?", ""),
        ("Why is the name misleading?", ""),
        ("Who was the Metropolitan Police Commissioner in 2005?", "person"),
        ("What was the name of the Home Secretary who renamed CJIP?", "person"),
        ("who is the report author", "person"),
        ("Who is responsible for DRRs?", ""),  # an organisation answers this
        ("who wrote the report", "person"),  # its author: a name, read at build where no title precedes it
        ("How big was the Home Office grant?", "money"),
        ("How big is the team of grant officers?", ""),
        ("How many thousand pounds were spent?", "money"),
        ("How many grants were approved?", "number"),
        ("how big is the gap between the two", ""),
        ("Until when is the funding guaranteed?", "date"),
        ("Who signed off on the pilot?", ""),  # a body may approve
    ],
)
def test_expected_answer_kind(question: str, expects: str) -> None:
    from qa.query import expected_answer

    assert expected_answer(question) == expects


def test_quantity_question_without_a_number_in_the_passage_is_declined(searcher: Searcher) -> None:
    assert not searcher.ask("How much does a DTTO cost per offender?").answered
    assert searcher.ask("How much was the Home Office grant for drug testing?").answered


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("how many sniffer dogs does the met police have", ["sniffer", "dogs"]),
        ("How much cocaine did the MMDP seize?", ["cocaine"]),
        ("What is the maximum penalty for possession of cannabis?", ["maximum", "penalty"]),
        ("how many police staff (civilians) does the MPS employ", ["police", "staff"]),
        ("knife crime figures London 2005", ["knife", "crime", "london"]),
        ("how many of the boroughs have drugs units", []),
        ("number of drug overdose deaths in london", ["drug", "overdose", "deaths"]),
        ("How much does a place in residential rehab cost?", ["place"]),
        ("how much did it cost to set up the new helpline for victims?", ["new", "helpline"]),
        ("how much will it cost the council to run the scheme", ["scheme"]),
        ("weed farms in London", ["cannabis", "factories"]),
        ("What is the name of the current Met Commissioner?", ["current", "met", "commissioner"]),
        ("what is county lines drug dealing", ["county", "lines", "drug"]),
        ("what is holding up the breach process", []),  # a verb, not a thing
        ("is ketamine a controlled drug", ["ketamine"]),
        ("Is there a central database of drug seizures?", []),
        ("TP meaning", ["tp"]),
        ("Why are performance indicators hard to set?", []),
        ("since nobody complains about being a victim of dealing, do the numbers just reflect activity", []),
    ],
)
def test_what_a_question_asks_about(question: str, asked: list[str]) -> None:
    from qa.query import asked_words

    assert asked_words(question) == asked


@pytest.mark.parametrize(
    "question",
    [
        "how many sniffer dogs does the Met have",
        "knife crime figures in London",
        "What is the maximum penalty for possession of cannabis?",
        "how much ecstasy was seized by the MMDP",
        "average salary of a police constable",
        "is ketamine a controlled drug",
        "what is county lines drug dealing",
    ],
)
def test_near_domain_question_the_report_does_not_answer_is_declined(
    searcher: Searcher, question: str
) -> None:
    result = searcher.ask(question)
    assert not result.answered, [h.passage.id for h in result.hits]
    assert result.hits  # the nearest passages are still listed


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many police officers does the MPS have?", "2"),
        ("how many cannabis factories have been found", "16"),
        ("methamfetamine in london", "15"),  # misspelt
        ("What is the main challenge facing DTTOs?", "39"),
    ],
)
def test_question_whose_subject_the_passage_names_is_answered(
    searcher: Searcher, question: str, expected: str
) -> None:
    result = searcher.ask(question)
    assert result.answered and result.hits[0].passage.id == expected


def test_everyday_words_reach_the_reports_terms(searcher: Searcher) -> None:
    from qa.thesaurus import report_terms

    assert report_terms("Do junkies steal to buy smack?") == ["problem drug users addicts", "heroin"]
    assert report_terms("grow houses run by gangs") == ["cannabis factories", "organised criminal networks"]
    assert report_terms("nothing colloquial here") == []
    # Plain phrasal verbs reach the formal words reports use for them.
    assert report_terms("who set up the unit, and who paid for it?") == ["established", "funded"]
    result = searcher.ask("how many weed farms have the cops found in London?")
    assert result.answered and result.hits[0].passage.id == "16"


def test_nicknames_and_demonyms_are_not_unknown_names(searcher: Searcher) -> None:
    assert searcher.analyse("what does Downing Street say about crack?").unknown_names == []
    assert searcher.analyse("what have the Americans said about methamphetamine?").unknown_names == []
    assert searcher.analyse("drug seizures in Glasgow").unknown_names == ["Glasgow"]


@pytest.mark.parametrize("question", ["drug arrests in glasgow", "cannabis factories found in manchester"])
def test_lowercase_place_the_report_never_names_is_declined(searcher: Searcher, question: str) -> None:
    result = searcher.ask(question)
    assert not result.answered and result.reason.startswith("The report never mentions '")


def test_words_after_in_that_are_not_places_do_not_decline(searcher: Searcher) -> None:
    assert searcher.ask("crackhouse closures in lambeth").answered
    # 'isolation' follows 'in' and the report never uses it, but the model does not read it as a place
    # (it used to be skipped as an everyday phrase, an entry removed in issue 13).
    result = searcher.ask("why do specialist and borough teams work in isolation")
    assert result.answered and result.rule != "unknown_place"


def test_date_question_needs_a_date_in_the_passage() -> None:
    from qa.query import expected_answer

    assert expected_answer("What year was the Misuse of Drugs Act passed?") == "date"
    assert expected_answer("When was the Controlled Deliveries Unit set up?") == "date"
    assert expected_answer("when drugs are found in the post, what happens?") == ""


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("The Unit was set up in 2002.", {2002}),
        ("Funding has been guaranteed for 2006/2007.", {2006, 2007}),
        ("2000/01 - 66% of all arrestees' illegal income", {2000, 2001}),
        ("The Programme ran from 1999 to 2002.", {1999, 2000, 2001, 2002}),
        ("tests from April 2003 to November 2004", {2003, 2004}),
        ("since April of this year", {2005}),
        ("the campaigns concluded over the last year", {2004}),
        ("by July of next year (2006)", {2006}),
        ("figures have been in decline since 1999", {1999, 2000, 2001, 2002, 2003, 2004, 2005}),
        ("seventy-two (72) officers", set()),
    ],
)
def test_years_a_passage_speaks_of(text: str, years: set[int]) -> None:
    from qa.text import years_in

    assert years_in(text, present=2005) == years


@pytest.mark.parametrize(
    ("question", "years"),
    [
        ("how many crackhouses were closed in 2004", (2004, 2004)),
        ("have met drug seizures gone down since 1999", (1999, 9999)),  # 9999: open-ended
        ("is drug testing funding guaranteed beyond 2006/07", (2006, 2007)),
        ("positive drug tests between 2003 and 2004", (2003, 2004)),
        ("what changed under the Criminal Justice Act 2003", None),  # a name, not a time
        ("how many cannabis factories were found", None),
    ],
)
def test_years_a_question_asks_about(question: str, years: tuple[int, int] | None) -> None:
    from qa.query import asked_years

    assert asked_years(question) == years


def test_question_about_a_year_the_passage_does_not_cover_is_declined(searcher: Searcher) -> None:
    result = searcher.ask("how many crackhouses were closed in 2004")
    assert not result.answered and result.reason == "The closest passage says nothing about 2004."
    assert searcher.ask("How many crackhouses were closed between July and September 2005?").answered
    assert searcher.ask("results of the October 2004 crackdown campaign").answered
    # The report is dated 2005: "this year" in its text is 2005, and its present tense counts too.
    assert searcher.ask("how many cannabis factories were found in London in 2005").answered


def test_who_holds_an_office_needs_a_name_in_the_passage(searcher: Searcher) -> None:
    result = searcher.ask("What was the name of the Home Secretary who renamed CJIP?")
    assert not result.answered and result.reason.startswith("The closest passage gives no person's name")
    result = searcher.ask("who is the report author")
    assert result.answered and result.hits[0].passage.id == "F"


def test_numbers_that_label_things_do_not_count_as_quantities(corpus) -> None:  # noqa: ANN001
    from qa.kinds import holds_kind

    race = corpus.resolve("C")  # its only number is "Recommendation 61" of the Lawrence Inquiry
    assert race is not None and "Recommendation 61" in race.text
    assert not holds_kind(race.text, "number")
    assert holds_kind(corpus.resolve("16").text, "number")


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        (
            "How many crackhouses were closed in the City of London?",
            "a table with no row for 'City of London'",
        ),
        ("Is cannabis a class B or class C drug?", "never mentions 'Class B' or 'Class C'"),
    ],
)
def test_near_domain_questions_are_declined_with_the_reason(
    searcher: Searcher, question: str, reason: str
) -> None:
    result = searcher.ask(question)
    assert not result.answered and reason in result.reason, result.reason


@pytest.mark.parametrize(
    "question",
    [
        "How many crackhouses did the Met close in Barking and Dagenham?",  # '&' in the table
        "What's the entry for Camden in the crackhouse table?",
        "How many crackhouses were closed in London between July and September 2005?",
        "Lambeth crack houses closed Jul-Sep 2005",  # month abbreviations are not unknown names
        "How many Class A supply arrests did the 2005 national campaign make?",
        "What period does the crackhouse data cover?",  # 'period' is how the answer is given
    ],
)
def test_table_rows_classes_and_months_the_report_has_are_answered(searcher: Searcher, question: str) -> None:
    result = searcher.ask(question)
    assert result.answered, result.reason


def test_answer_form_words_and_labels() -> None:
    from qa.query import asked_words, labels_in

    # "What X is/do ..." is not read for a subject: committee questions put abstract nouns there
    # ("what action is the committee asked to take") that the answering passage words differently.
    assert asked_words("What action is the committee asked to take?") == []
    assert asked_words("what is the headcount of the drugs directorate") == ["drugs", "directorate"]
    assert labels_in("with Class 'A' supply offences") == ["class a"]
    assert labels_in("after Recommendation 61 of the Inquiry") == ["recommendation 61"]


def test_initials_a_reader_coins_expand_to_the_reports_names(searcher: Searcher) -> None:
    assert searcher.analyse("MMDP heroin seized kg").expansions == ["Middle Market Drugs Project"]
    result = searcher.ask("MMDP heroin seized kg")  # 'seized' and 'seizures' share a root
    assert result.answered and result.hits[0].passage.id == "5"


def test_words_for_the_report_itself_are_always_mentioned(searcher: Searcher) -> None:
    result = searcher.ask("Is the report's list of background papers empty?")
    assert result.answered and result.hits[0].passage.id == "E"


@pytest.mark.parametrize(
    ("question", "expects"),
    [
        ("Which Home Secretary renamed the Criminal Justice Interventions Programme?", "person"),
        # Lowercase, the office asks which borough: a place, not a person's name.
        ("Which borough commander said poor DTTO supervision made her street crime worse?", "place"),
        ("How much Home Office money went into the Central Drug Trafficking Database?", "money"),
        ("how much funding does the drugs directorate get", "money"),
    ],
)
def test_office_and_money_questions(question: str, expects: str) -> None:
    from qa.query import expected_answer

    assert expected_answer(question) == expects


def test_capitals_the_report_never_uses_are_unknown_names(searcher: Searcher) -> None:
    assert searcher.analyse("what has SOCA said about cannabis factories").unknown_names == ["SOCA"]
    assert searcher.analyse("results of Operation MARTEL").unknown_names == []  # the report's own
    assert searcher.analyse("what does the MMDP do").unknown_names == []  # initials of its names
    assert searcher.analyse("HOW MANY CANNABIS FACTORIES WERE FOUND").unknown_names == []


def test_what_a_passages_figures_count(corpus) -> None:  # noqa: ANN001
    from qa.kinds import counted_words

    assert {"police", "officers", "staff"} <= set(counted_words(corpus.resolve("2")))
    assert "officers" in counted_words(corpus.resolve("4"))  # "seventy-two (72) officers"
    assert "companies" in counted_words(corpus.resolve("14"))  # "(of which there are 950 in London)"
    assert "Crackhouse" in counted_words(corpus.resolve("table-1"))  # a table counts what its header names
    assert "Inquiry" not in counted_words(corpus.resolve("C"))  # "Recommendation 61" is a label


@pytest.mark.parametrize(
    "question",
    [
        "How many offenders in London are currently on a Drug Rehabilitation Requirement?",
        "How many suspicious transactions have chemical companies reported since August?",
    ],
)
def test_how_many_needs_a_figure_for_what_is_counted(searcher: Searcher, question: str) -> None:
    result = searcher.ask(question)
    assert not result.answered and result.reason.startswith("The closest passage gives no figure for")


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many boroughs have dedicated drug units?", "8"),  # counted as 'BOCUs'
        ("How many chemical companies are there in London?", "14"),
        ("How many police officers does the MPS have?", "2"),
        ("how many kilograms of cocaine did the MMDP seize", "5"),
    ],
)
def test_how_many_answered_when_a_figure_counts_it(searcher: Searcher, question: str, expected: str) -> None:
    result = searcher.ask(question)
    assert result.answered and result.hits[0].passage.id == expected, result.reason


@pytest.mark.parametrize(
    ("question", "expected"),
    [("What is shown in the second chart?", "chart-2"), ("what is the first table about", "table-1")],
)
def test_ordinal_citations(searcher: Searcher, question: str, expected: str) -> None:
    result = searcher.ask(question)
    assert result.lookup and result.answered and result.hits[0].passage.id == expected


def test_verbs_adverbs_and_modifiers_are_not_what_is_asked_about(searcher: Searcher) -> None:
    from qa.query import asked_words

    assert asked_words("What is shown in the second chart?") == []
    assert asked_words("What are committee members actually asked to do?") == ["committee", "members"]
    # A missing modifier is not enough to decline when the thing itself is named ('strategy').
    result = searcher.ask("What was the national drugs strategy called?")
    assert result.answered and result.hits[0].passage.id == "1"


@pytest.mark.parametrize(
    "question", ["What is this report about?", "what is the purpose of this report", "summarise the report"]
)
def test_questions_about_the_report_itself_cite_its_summary(searcher: Searcher, question: str) -> None:
    result = searcher.ask(question)
    assert result.lookup and result.hits[0].passage.id == "summary"
    assert not searcher.ask("what does the report say about cannabis factories").lookup


def test_acronyms_used_all_over_the_report_are_not_spelled_out(searcher: Searcher) -> None:
    # 'MPS' is in a quarter of the passages: spelling it out would pull the question towards the
    # summary and the abbreviations, which define it. A rarer acronym is still expanded.
    query = searcher.analyse("Are there MPS performance indicators for drug trafficking?")
    assert "Metropolitan Police Service" not in query.dense_text
    assert "Central Drug Trafficking Database" in searcher.analyse("Who funds the CDTB?").dense_text
    result = searcher.ask("Are there MPS/MPA performance indicators for drug trafficking?")
    assert result.hits[0].passage.id == "21"


def test_two_words_the_report_writes_as_one_are_joined(searcher: Searcher) -> None:
    """No compound is written in code: the report's own vocabulary says 'crackhouses' is one word."""
    text, corrections = searcher.analyzer.correct_spelling("How many crack houses were closed in Newham?")
    assert text == "How many crackhouses were closed in Newham?" and corrections == {
        "crack houses": "crackhouses"
    }
    assert searcher.analyzer.correct_spelling("what about the houses")[1] == {}


def test_an_analysis_drafted_then_finished_is_the_whole_analysis(searcher: Searcher) -> None:
    """A question drafted (the text to embed) and then finished is the same Query as analysing it
    at once, for a question that names its report too."""
    report = searcher.corpus.reports[0]
    for question in ["How many cannabis factories were found in London?", f"Who wrote {report.title}?"]:
        draft = searcher.analyzer.draft(question)
        assert searcher.analyzer.finish(draft) == searcher.analyse(question)
        assert draft.dense_text == searcher.analyse(question).dense_text


def test_short_texts_are_tokenized_once_and_each_caller_gets_its_own_list() -> None:
    """normalise and tokenize keep short texts' results (a question is read a dozen times an
    answer); a caller changing its list changes nobody else's, and long texts give the same."""
    from qa import text

    question = "How many Speed-Cameras were fitted in 2004?"
    first = text.tokenize(question)
    first.append("changed")
    assert text.tokenize(question) == text._tokenize(question) and "changed" not in text.tokenize(question)
    long = question + " more" * text.CACHED_CHARS
    assert text.tokenize(long) == text._tokenize(long) and text.normalise(long) == text._normalise(long)
    assert text.normalise(question) == text._normalise(question)


def test_acronyms_used_all_over_are_counted_in_every_form() -> None:
    """Capitalised acronyms are counted from each passage's capitalised words; one with no capital
    ('mph') or with other characters ('A&E') by its own pattern, as before."""
    from types import SimpleNamespace

    from qa.query import _common_acronym_expansions

    texts = ["The DIPs and the A&E unit at 30 mph.", "DIP work.", "Nothing here.", "SDIP is another."]
    corpus = SimpleNamespace(passages=[SimpleNamespace(text=text) for text in texts])
    acronyms = {
        "DIP": "Drug Interventions Programme",
        "A&E": "Accident and Emergency",
        "mph": "miles per hour",
    }
    assert _common_acronym_expansions(corpus, acronyms, 0.5) == {"Drug Interventions Programme"}  # type: ignore[arg-type]
    assert _common_acronym_expansions(corpus, acronyms, 0.25) == set(acronyms.values())  # type: ignore[arg-type]
