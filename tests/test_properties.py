"""Property-based tests (hypothesis): the parser, the id resolver and question cleaning hold for any input."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from qa.corpus import Corpus, Report, ReportFormatError, parse_report, passage_spans
from qa.schemas import MAX_QUESTION_CHARS, AskRequest, clean_question

# Bounded runs: these are part of `make test`, so they must stay quick.
QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40).filter(
    lambda text: "\n" not in text and "\r" not in text
)
digits = st.one_of(
    st.integers(0, 999).map(str),
    st.from_regex(r"\A0{0,2}[0-9]{1,3}\Z"),  # leading zeros: '007'
    st.sampled_from(["٣", "²", "፩", "①", "１٢"]),  # digits that are not ASCII
)

# Lines of the kinds the parser recognises, plus noise, so generated texts reach deep branches.
report_line = st.one_of(
    st.sampled_from(
        [
            "",
            "Summary",
            "A. Recommendation",
            "B. Supporting information",
            "C. Race and equality impact",
            "D. Financial implications",
            "E. Background papers",
            "F. Contact details",
            "Q1. Where are the trends?",
            "Hydroponic cultivation of Cannabis",
            "Table 1: Crackhouse data",
            "Boroughs Crack houses? Closure orders",
            "Barking & Dagenham 2 2",
            "Haringey 17",
            "Chart 1: Drug arrests",
            "List of abbreviations",
            "CJIP",
            "Criminal Justice Interventions Programme",
            "Contents",
            "You are in:",
            "Supporting material",
            "Report author: A. Person",
            "Report: 13",
            "Date: 8 December 2005",
            "By: Chief Executive",
            "“A quoted comment.”",
        ]
    ),
    st.builds(lambda n, text: f"{n}. {text or 'x'}", digits, words),
    st.builds(lambda text: f"   • {text or 'x'}", words),
    st.builds(lambda mark, n: f"{mark} {n}", st.sampled_from(["Table", "Chart", "Report:", "D."]), digits),
    words,
)
report_text = st.lists(report_line, max_size=40).map("\n".join)


def _check_report(report: Report) -> None:
    ids = [p.id for p in report.passages]
    assert len(ids) == len(set(ids)), "passage ids must be unique"
    assert len({i.lower() for i in ids}) == len(ids), "ids must stay unique ignoring case"
    corpus = Corpus([report])
    for passage in report.passages:
        assert passage.text
        assert corpus.resolve(passage.id) is passage, f"id {passage.id!r} must resolve to itself"
        for span in passage_spans(passage):
            assert 0 <= span.start <= span.end <= len(passage.text)
            assert passage.text[span.start : span.end] == span.text


def _parses_or_raises_the_parsers_error(text: str) -> None:
    try:
        report = parse_report(text, slug="fuzz")
    except ReportFormatError as error:
        assert str(error)
        return
    _check_report(report)


@QUICK
@given(st.text())
def test_any_text_parses_or_raises_the_parsers_error(text: str) -> None:
    _parses_or_raises_the_parsers_error(text)


@QUICK
@given(report_text)
def test_report_like_text_parses_or_raises_the_parsers_error(text: str) -> None:
    _parses_or_raises_the_parsers_error(text)


@QUICK
@given(st.text(max_size=200))
def test_resolving_any_string_finds_a_passage_or_none(corpus: Corpus, ref: str) -> None:
    found = corpus.resolve(ref)
    assert found is None or any(found is p for p in corpus.passages)


def test_every_passage_resolves_by_its_id_and_label(corpus: Corpus) -> None:
    for passage in corpus.passages:
        for ref in (
            passage.id,
            passage.label,
            passage.id.upper(),
            passage.id.lower(),
            f"  {passage.label}. ",
        ):
            assert corpus.resolve(ref) is passage, ref


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=60).filter(lambda ref: "/" not in ref and ref.strip(".")))
def test_passage_route_answers_200_or_404_for_any_id(client: TestClient, corpus: Corpus, ref: str) -> None:
    # ('/' and dot segments change which route is asked: see test_protocol.py)
    response = client.get(f"/api/passages/{quote(ref, safe='')}")
    assert response.status_code in {200, 404}, response.text
    if response.status_code == 200:
        assert corpus.resolve(response.json()["id"]) is not None
    else:
        assert response.json()["detail"].startswith("no passage")


# Any character, plus the awkward ones often: lone surrogates (JSON can carry "\ud800"),
# zero-width and combining marks, compatibility forms NFKC expands, line and paragraph separators.
awkward = st.sampled_from(
    list("\ud800\udfff\u200b\u200d\ufeff\u0301\u0308\ufb01\u2460\ufdfa\u2028\u00a0\x00\x85\t\n ")
)
question_text = st.lists(st.one_of(st.characters(), awkward), max_size=600).map("".join)


@QUICK
@given(question_text)
def test_clean_question_leaves_no_control_characters_and_is_stable(text: str) -> None:
    cleaned = clean_question(text)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    assert not any(unicodedata.category(c) in {"Cc", "Cs", "Zl", "Zp"} for c in cleaned)
    assert clean_question(cleaned) == cleaned
    cleaned.encode("utf-8")  # always encodable: it is echoed back in the JSON answer


@QUICK
@given(question_text)
def test_question_accepted_exactly_when_1_to_500_characters_after_cleaning(text: str) -> None:
    cleaned = clean_question(text)
    try:
        request = AskRequest(question=text)
    except ValidationError:
        assert not 1 <= len(cleaned) <= MAX_QUESTION_CHARS
        return
    assert request.question == cleaned and 1 <= len(cleaned) <= MAX_QUESTION_CHARS


@pytest.mark.parametrize("top_k", [-1, 0, 11, 10**30])
def test_top_k_outside_1_to_10_is_rejected(top_k: int) -> None:
    with pytest.raises(ValidationError):
        AskRequest(question="ok", top_k=top_k)
