"""The library through the real HTTP interface: the seed beside the real archive reports of tests/data."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from qa.app import create_app
from qa.config import Settings
from qa.corpus import DEFAULT_FILE
from qa.index import CACHE_DIR, Embedder, SearchIndex, open_index
from qa.search import Searcher
from qa.service import AnswerService
from tests.conftest import DATA_DIR, SEEDS_DIR

SEED = "mpa-2005-12-08-drugs-and-crime"
HOLLY = "2002-03-12_home-office-holly-royde-conference"
LEASE = "2004-07-22_acquisition-of-a-new-lease-of-premises-for-use-by-specialist-operations"
REPORT_FILES = sorted((DATA_DIR / "reports").glob("*.txt")) + sorted(
    (DATA_DIR / "reports" / "partial").glob("*.txt")
)


@pytest.fixture(scope="session")
def library_settings(
    tmp_path_factory: pytest.TempPathFactory, settings: Settings, search_index: SearchIndex
) -> Settings:
    folder = tmp_path_factory.mktemp("library")
    seeds = folder / "seeds"
    seeds.mkdir()
    for path in [*SEEDS_DIR.glob("*.txt"), SEEDS_DIR / DEFAULT_FILE, *REPORT_FILES]:
        shutil.copy(path, seeds / path.name)
    # The seed's embeddings from the session index: only the archive reports are embedded here.
    shutil.copytree(settings.index_dir / CACHE_DIR, folder / "index" / CACHE_DIR)
    return settings.with_overrides(seeds_dir=seeds, index_dir=folder / "index")


@pytest.fixture(scope="session")
def library_searcher(library_settings: Settings, embedder: Embedder) -> Searcher:
    return Searcher(open_index(library_settings, embedder), embedder)


@pytest.fixture(scope="session")
def library(library_settings: Settings, library_searcher: Searcher) -> Iterator[TestClient]:
    service = AnswerService(library_searcher, cache_size=64)
    with TestClient(create_app(library_settings, service=service)) as client:
        yield client
    service.close()


def test_reports_lists_every_report_with_its_metadata(library: TestClient) -> None:
    reports = library.get("/api/reports").json()
    assert len(reports) == 1 + len(REPORT_FILES) == 20
    by_doc = {r["doc"]: r for r in reports}
    assert by_doc[HOLLY] == {
        "doc": HOLLY,
        "title": "Home Office Holly Royde Conference",
        "report": "late urgent paper a",
        "date": "2002-03-12",
        "by": "Clerk",
        "committee": "Chair's Co-ordination and Urgency Committee",
        "url": f"/r/{HOLLY}",
        "passages": 8,
    }
    assert by_doc[SEED]["date"] == "2005-12-08" and by_doc[SEED]["passages"] == 61
    assert by_doc[LEASE]["date"] == "2004-07-22"  # printed '22 Jul 2004'


def test_one_report_with_sections_and_passages_in_order(library: TestClient) -> None:
    report = library.get(f"/api/reports/{HOLLY}").json()
    assert (
        report["title"] == "Home Office Holly Royde Conference" and report["report"] == "late urgent paper a"
    )
    assert report["sections"][:3] == [
        ["A", "Recommendation"],
        ["B", "Supporting information"],
        ["C", "Financial implications"],
    ]
    assert [p["id"] for p in report["passages"]] == ["summary", "A", "1", "2", "3", "4", "D", "E"]
    assert report["passages"][5]["text"] == "The cost can be met from MPA budget for 2002/03."
    assert set(report["passages"][0]) == {"id", "kind", "section", "heading", "text"}


def test_passage_of_a_report_by_any_id_form(library: TestClient) -> None:
    for ref in ("3", "¶3", "para 3", "paragraph%203"):
        passage = library.get(f"/api/reports/{HOLLY}/passages/{ref}").json()
        assert passage["id"] == "3" and passage["doc"] == HOLLY, ref
        assert passage["prev"] == "2" and passage["next"] == "4"
        assert (
            passage["url"] == f"/r/{HOLLY}/p/3"
            and passage["doc_title"] == "Home Office Holly Royde Conference"
        )
    assert library.get(f"/api/reports/{SEED}/passages/D4").json()["section"] == "D. Financial implications"


def test_unknown_docs_and_ids(library: TestClient) -> None:
    assert library.get("/api/reports/nope").status_code == 404
    assert "no report 'nope'" in library.get("/api/reports/nope").json()["detail"]
    assert library.get(f"/api/reports/{HOLLY}/passages/99").status_code == 404
    assert library.get("/api/reports/..%2F..%2Fetc%2Fpasswd").status_code == 404
    response = library.post("/api/ask", json={"question": "who wrote it", "docs": [HOLLY, "../secrets"]})
    assert response.status_code == 422 and "'../secrets'" in response.json()["detail"]
    assert library.post("/api/ask", json={"question": "x", "docs": []}).status_code == 422
    assert library.post("/api/ask", json={"question": "x", "docs": ["a"] * 51}).status_code == 422


def test_bare_routes_resolve_unique_ids_and_ask_which_report_for_shared_ones(library: TestClient) -> None:
    shared = library.get("/api/passages/3")
    assert shared.status_code == 409
    assert HOLLY in shared.json()["docs"] and SEED in shared.json()["docs"]
    assert library.get(f"/api/passages/3?doc={HOLLY}").json()["text"].startswith("The Committee's agreement")
    assert library.get("/api/passages/table-1").json()["doc"] == SEED  # only the seed has a table
    listed = library.get("/api/passages").json()
    assert listed["doc"] == SEED and listed["count"] == 61  # the default report (seeds/DEFAULT)
    assert library.get(f"/api/passages?doc={HOLLY}").json()["count"] == 8
    assert library.get("/api/passages?doc=nope").status_code == 404


def test_scoped_questions_cite_only_their_reports(library: TestClient) -> None:
    body = library.post(
        "/api/ask", json={"question": "What was the cost of the conference?", "docs": [HOLLY], "top_k": 5}
    ).json()
    assert {c["doc"] for c in body["citations"]} == {HOLLY}
    first = body["citations"][0]
    assert first["paragraph"] in {"1", "3"}  # both speak of the conference's cost
    assert first["url"] == f"/r/{HOLLY}/p/{first['paragraph']}"
    assert first["doc_title"] == "Home Office Holly Royde Conference" and first["doc_date"] == "2002-03-12"


def test_a_question_that_names_its_report_is_answered_from_it(library: TestClient) -> None:
    body = library.post("/api/ask", json={"question": "Who wrote the Holly Royde conference paper?"}).json()
    assert body["citations"][0]["doc"] == HOLLY
    dated = library.post(
        "/api/ask", json={"question": "At the 22 July 2004 meeting, what were members asked to approve?"}
    ).json()
    assert dated["citations"][0]["doc"] == LEASE


def test_seed_questions_still_answered_from_the_seed(library: TestClient) -> None:
    body = library.post(
        "/api/ask", json={"question": "How many cannabis factories were found in London?"}
    ).json()
    assert (
        body["answered"] and body["citations"][0]["doc"] == SEED and body["citations"][0]["paragraph"] == "16"
    )
    about = library.post("/api/ask", json={"question": "What is this report about?"}).json()
    assert about["citations"][0]["doc"] == SEED and about["citations"][0]["paragraph"] == "summary"


def test_a_year_is_judged_by_the_candidate_passage_s_own_report(library: TestClient) -> None:
    """2002 is in the Holly Royde paper: neither declined for the seed's 2005 nor answered elsewhere."""
    for docs in ([HOLLY], None):
        body = library.post(
            "/api/ask",
            json={"question": "Where was the Holly Royde conference held in April 2002?", "docs": docs},
        ).json()
        assert body["answered"], body["reason"]
        assert (body["citations"][0]["doc"], body["citations"][0]["paragraph"]) == (HOLLY, "2")


def test_healthz_counts_the_reports(library: TestClient) -> None:
    health = library.get("/healthz").json()
    assert health["reports"] == 20 and health["passages"] > 61


def test_library_pages(library: TestClient) -> None:
    page = library.get("/reports")
    assert page.status_code == 200 and page.text.count('<th scope="row">') == 20
    assert f'href="/r/{HOLLY}"' in page.text
    filtered = library.get("/reports?q=holly royde").text
    assert filtered.count('<th scope="row">') == 1
    assert "No report matches" in library.get("/reports?q=zzzz").text
    report = library.get(f"/r/{HOLLY}")
    assert report.status_code == 200 and "Home Office Holly Royde Conference" in report.text
    assert f'href="/r/{HOLLY}/p/3"' in report.text
    passage = library.get(f"/r/{HOLLY}/p/3")
    assert passage.status_code == 200 and "The Committee&#39;s agreement" in passage.text
    assert f'href="/r/{HOLLY}/p/4"' in passage.text and 'href="/reports"' in passage.text
    assert (
        library.get(f"/r/{HOLLY}/p/para%203", follow_redirects=False).headers["location"] == f"/r/{HOLLY}/p/3"
    )
    missing = library.get("/r/nope", headers={"accept": "text/html"})
    assert missing.status_code == 404 and "Report not found" in missing.text
    which = library.get("/p/3", headers={"accept": "text/html"})
    assert which.status_code == 409 and f"/r/{HOLLY}/p/3" in which.text


def test_chat_has_a_report_picker_with_the_default_preselected(library: TestClient) -> None:
    page = library.get("/").text
    assert page.count("<option ") == 21  # all reports, then each one
    assert f'<option value="{SEED}" selected>' in page
    answer = library.get("/ask", params={"q": "What was the cost of the conference?", "doc": HOLLY}).text
    assert f"/r/{HOLLY}/p/3" in answer


def test_parsed_reports_agree_with_what_a_reader_expects(library_searcher: Searcher) -> None:
    """Titles, numbers, dates, authors and sections as a blind reader listed them (library-expected.json)."""
    import json

    expected = json.loads((DATA_DIR / "library-expected.json").read_text())
    corpus = library_searcher.corpus
    for entry in expected:
        report = corpus.report(entry["doc"])
        assert report is not None, entry["doc"]
        assert report.number == entry["report"] and report.by == entry["by"], entry["doc"]
        assert (report.date.isoformat() if report.date else None) == entry["date"], entry["doc"]
        assert [[s.letter, s.title] for s in report.sections] == entry["sections"], entry["doc"]
        assert " ".join((entry["title"] or "").split()) == report.title, entry["doc"]


def test_library_index_is_cached_per_report(library_settings: Settings, library_searcher: Searcher) -> None:
    files = list((library_settings.index_dir / CACHE_DIR).glob("*.npz"))
    units = sorted(path.name.split(".")[0] for path in files if ".counted" not in path.name)
    counted = sorted(path.name.split(".")[0] for path in files if ".counted" in path.name)
    assert len(units) == 20 and SEED in units and counted == units  # unit vectors and counted words


def test_a_name_only_another_report_uses_does_not_let_a_passage_answer(library: TestClient) -> None:
    """Berkshire is in the Holly Royde paper, never in Drugs and crime: the seed's cannabis
    paragraph does not answer for Berkshire just because another report of the library names it."""
    body = library.post(
        "/api/ask", json={"question": "How many cannabis factories were found in Berkshire?"}
    ).json()
    assert not body["answered"] and "Berkshire" in body["reason"]


def test_library_holdout_floors(library_searcher: Searcher) -> None:
    """Regression floors on the hold-out halves of blind library batches 1 to 6 (docs/library.md),
    at what they measure; a citation counts only when its report and paragraph both match."""
    from qa.evaluate import evaluate, load_questions

    questions = load_questions(DATA_DIR / "library.questions.holdout.jsonl")
    across = evaluate(library_searcher, questions, "library hold-out")
    assert across.answerable >= 300 and across.offtopic >= 60
    assert across.recall_at_1 >= 0.78 and across.recall_at_3 >= 0.925  # 0.783 / 0.931 measured
    # 0.089 measured ('who chairs / was appointed' asking for a person turned two wrong confident
    # answers into declines, and took an off-topic and a near-domain question from high).
    assert across.answerable_declined <= 0.09
    scoped = evaluate(library_searcher, questions, "library hold-out, scoped", scoped=True)
    assert scoped.recall_at_1 >= 0.80 and scoped.recall_at_3 >= 0.96  # 0.806 / 0.967 measured


def test_a_summary_gives_way_to_the_paragraph_it_restates(library_searcher: Searcher) -> None:
    """The summary restates a short report's paragraphs: the ranking's summary penalty moves the
    paragraph that says it in full ahead, and without it the summary stays first."""
    question = "Why were interim arrangements needed for the MPA monitoring officer in January 2010?"
    original = library_searcher.config
    try:
        library_searcher.set_config(original.with_changes(summary_penalty=0.0))
        assert library_searcher.ask(question).hits[0].passage.id == "summary"
        library_searcher.set_config(original.with_changes(summary_penalty=1.0))
        assert library_searcher.ask(question).hits[0].passage.id != "summary"
    finally:
        library_searcher.set_config(original)
    assert original.ranking.summary_penalty > 0


def test_a_person_named_without_a_title_answers_who(library_searcher: Searcher) -> None:
    """'The author of the report is Philip Powell, Director of Communications': a name the library
    gives as a report's author answers 'who', though no title stands before it."""
    assert {"Philip Powell", "Simon Vile"} <= library_searcher.reader.features.people
    result = library_searcher.ask("Who was the Director of Communications at the MPA in 2001?")
    assert result.answered and result.hits[0].passage.id == "C"
    assert "Philip Powell" in result.hits[0].span.text


def test_what_a_report_is_about_is_read_per_report(library_searcher: Searcher) -> None:
    """A word of a report's title is one every passage of it answers to ('delegated' in 'Action
    taken under delegated authority'), not a word of the rest of the library."""
    reader, corpus = library_searcher.reader, library_searcher.corpus
    delegated = "2003-12-09_action-taken-under-delegated-authority"
    assert "deleg" in reader.about(delegated)
    assert "deleg" not in reader.about(corpus.default_doc())
    assert reader.features.common_stems <= reader.about(delegated)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_who_holds_a_post_needs_a_passage_that_names_a_person(library_searcher: Searcher, k: int) -> None:
    """'Who chairs ...' asks for a person: the panel's terms of reference rank first and name no
    one; its membership list, further behind than other runner-ups may be, names the Chair. The
    answer is the same however many citations are asked for."""
    result = library_searcher.ask("Who chairs the MPA Audit Panel?", k=k)
    assert result.answered and result.confidence == "low" and result.rule == "no_person"
    assert result.hits[0].span.text == "Sir John Quinton (Chair)" and len(result.hits) == k
    declined = library_searcher.ask("Who was eventually appointed Solicitor to the Authority in 2010?", k=k)
    assert not declined.answered and declined.rule == "no_person"


def test_a_question_every_report_answers_alike_is_asked_of_the_default(library_searcher: Searcher) -> None:
    """'report recommendation' matches every report's Recommendation: unscoped, it is the default
    report's, as 'this report' is; scoped to another report, that report's."""
    question = "report recommendation"
    first = library_searcher.ask(question).hits[0].passage
    assert (first.doc, first.id) == (library_searcher.corpus.default_doc(), "A")
    lease = "2004-07-22_acquisition-of-a-new-lease-of-premises-for-use-by-specialist-operations"
    analysed = library_searcher.analyse(question)
    encoded = library_searcher.encode([analysed.dense_text])
    scoped = library_searcher.answer(analysed, encoded, 3, docs=[lease])
    assert (scoped.hits[0].passage.doc, scoped.hits[0].passage.id) == (lease, "A")


def test_a_year_only_one_report_speaks_of_is_answered_from_it(library_searcher: Searcher) -> None:
    """Two reports are about APA conferences; only one speaks of 2003: it answers, where the other
    ranked first and was declined for never mentioning 2003."""
    result = library_searcher.ask("When and where was the 2003 APA Annual Conference?")
    assert result.answered
    assert result.hits[0].passage.doc.startswith("2003-10-03_the-apa-annual-conference")


def test_every_gold_citation_of_the_question_sets_is_a_parsed_passage(library_searcher: Searcher) -> None:
    """Question sets name passages by the parser's ids: a gold id the parser no longer gives (the
    stale ids that once cost 22 library questions) fails here, not silently in the figures."""
    import json

    corpus = library_searcher.corpus
    files = [
        "questions.jsonl",
        "questions.holdout.jsonl",
        "library.questions.jsonl",
        "library.questions.holdout.jsonl",
    ]
    for name in files:
        for line in (DATA_DIR / name).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            doc = row.get("doc") or SEED
            for paragraph in row["gold"]:
                assert corpus.get(doc, paragraph) is not None, (name, row["q"], doc, paragraph)
