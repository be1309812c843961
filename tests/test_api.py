"""Every endpoint through HTTP: answers, passages, health, and the bad inputs."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

CANNABIS = "How many cannabis factories were found in London?"


def test_ask_returns_cited_answer(client: TestClient) -> None:
    response = client.post("/api/ask", json={"question": CANNABIS})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "question",
        "answered",
        "lookup",
        "answer",
        "reason",
        "citations",
        "took_ms",
        "read_as",
        "confidence",
        "next_steps",
    }
    assert body["read_as"] is None  # no context: the question is read as asked
    assert body["question"] == CANNABIS and body["answered"] is True
    first = body["citations"][0]
    assert first["paragraph"] == "16" and first["label"] == "¶16"
    assert first["doc"] == "mpa-2005-12-08-drugs-and-crime" and first["doc_title"] == "Drugs and crime"
    assert first["url"] == "/r/mpa-2005-12-08-drugs-and-crime/p/16" and first["doc_date"] == "2005-12-08"
    assert first["kind"] == "paragraph" and first["heading"] == "Hydroponic cultivation of Cannabis"
    assert len(body["citations"]) == 3
    answer = body["answer"]
    assert answer["paragraph"] == "16"
    assert answer["text"] in first["text"]
    assert first["text"][answer["start"] : answer["end"]] == answer["text"]
    assert isinstance(body["took_ms"], float)


@pytest.mark.parametrize("top_k", [1, 5, 10])
def test_top_k_bounds_citations(client: TestClient, top_k: int) -> None:
    body = client.post("/api/ask", json={"question": "drug testing on charge", "top_k": top_k}).json()
    assert len(body["citations"]) == top_k
    scores = [c["score"] for c in body["citations"]]
    assert scores == sorted(scores, reverse=True)


def test_off_topic_is_declined_with_nearest_passages(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "What is the recipe for banana bread?"}).json()
    assert body["answered"] is False and body["answer"] is None
    assert body["reason"] == "The closest passage never mentions 'recipe'."
    assert len(body["citations"]) == 3


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        ("how many sniffer dogs does the Met have", "The closest passage never mentions 'sniffer' or 'dogs'"),
        ("cannabis factories found in Birmingham", "The report never mentions 'Birmingham'."),
        ("How much does a DTTO cost per offender?", "The closest passage gives no amount of money"),
        ("why is the sky blue", "No passage of the report is close enough to the question."),
        ("how many crackhouses were closed in 2004", "The closest passage says nothing about 2004."),
        ("who was the Home Secretary in 2004", "The closest passage gives no person's name"),
    ],
)
def test_declined_answer_says_why(client: TestClient, question: str, reason: str) -> None:
    body = client.post("/api/ask", json={"question": question}).json()
    assert body["answered"] is False and body["reason"].startswith(reason)


def test_answered_question_has_no_reason(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "How many cannabis factories were found?"}).json()
    assert body["answered"] is True and body["reason"] is None


def test_citation_lookup_question(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "¶22"}).json()
    assert body["answered"] and body["lookup"] and body["citations"][0]["paragraph"] == "22"


@pytest.mark.parametrize(
    ("payload", "status", "needle"),
    [
        ({"question": ""}, 422, "empty"),
        ({"question": "   \n\t "}, 422, "empty"),
        ({"question": "x" * 501}, 422, "limit is 500"),
        ({"question": 42}, 422, "question"),
        ({"question": ["a"]}, 422, "question"),
        ({"question": "ok", "top_k": 0}, 422, "top_k"),
        ({"question": "ok", "top_k": 11}, 422, "top_k"),
        ({"question": "ok", "top_k": "three"}, 422, "top_k"),
        ({"top_k": 3}, 422, "question"),
        ({"question": "ok", "extra": 1}, 422, "extra"),
        ({"question": "ok", "context": "7"}, 422, "context"),
        ({"question": "ok", "context": {"question": "x", "turn": 1}}, 422, "context.turn"),
        ({"question": "ok", "context": {"paragraph": "x" * 101}}, 422, "context.paragraph"),
    ],
)
def test_bad_questions_get_readable_4xx(client: TestClient, payload: dict, status: int, needle: str) -> None:
    response = client.post("/api/ask", json=payload)
    assert response.status_code == status
    assert needle in response.json()["detail"]


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post("/api/ask", content=b'{"question": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"] == "the body is not valid JSON"


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post("/api/ask", content=b"question=hi", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_wrong_method_is_405(client: TestClient) -> None:
    response = client.get("/api/ask")
    assert response.status_code == 405
    assert response.json()["detail"]


def test_oversized_body_is_413(client: TestClient) -> None:
    response = client.post("/api/ask", content=b"x" * 20000, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "bytes" in response.json()["detail"]


def test_question_with_markup_is_echoed_as_data(client: TestClient) -> None:
    payload = '<script>alert("x")</script> cannabis factories'
    body = client.post("/api/ask", json={"question": payload}).json()
    assert body["question"] == payload
    assert body["citations"][0]["paragraph"] == "16"


def test_passages_list(client: TestClient) -> None:
    body = client.get("/api/passages").json()
    assert body["count"] == 61 == len(body["passages"])
    assert [p["id"] for p in body["passages"]][:4] == ["summary", "A", "1", "2"]
    assert body["passages"][0]["prev"] is None and body["passages"][0]["next"] == "A"


@pytest.mark.parametrize("ref", ["16", "%C2%B616", "para%2016", "paragraph%2016", "P16"])
def test_passage_by_any_id_form(client: TestClient, ref: str) -> None:
    response = client.get(f"/api/passages/{ref}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == "16" and body["prev"] == "15" and body["next"] == "17"
    assert body["text"].startswith("The link between Organised Criminal Networks")


def test_financial_and_table_passages(client: TestClient) -> None:
    assert client.get("/api/passages/d4").json()["section"] == "D. Financial implications"
    assert client.get("/api/passages/d4").json()["table"] is None
    table = client.get("/api/passages/TABLE-1").json()
    assert table["kind"] == "table"
    assert table["table"]["columns"] == ["Boroughs", "Closure order granted Y?N", "Crackhouse closed"]
    assert table["table"]["caption"] == "Table 1: Crackhouse data July to September 2005"
    assert {"name": "Haringey", "cells": ["17", "17"]} in [
        {"name": row["name"], "cells": row["cells"]} for row in table["table"]["rows"]
    ]
    assert all(len(row["cells"]) == 2 for row in table["table"]["rows"])


def test_table_citation_carries_its_table(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "How many crackhouses were closed in Haringey?"}).json()
    first = body["citations"][0]
    assert first["paragraph"] == "table-1" and first["table"]["columns"][0] == "Boroughs"
    assert all(c["table"] is None for c in body["citations"] if c["kind"] != "table")


def ask_after(client: TestClient, question: str, previous: str, paragraph: str) -> dict:
    context = {"question": previous, "doc": "mpa-2005-12-08-drugs-and-crime", "paragraph": paragraph}
    response = client.post("/api/ask", json={"question": question, "context": context})
    assert response.status_code == 200, response.text
    return response.json()


def test_follow_up_carries_the_subject_of_the_previous_question(client: TestClient) -> None:
    body = ask_after(client, "how many arrests did that lead to?", "What is a clean delivery?", "7")
    assert body["question"] == "how many arrests did that lead to?"
    assert body["read_as"] == "How many clean delivery arrests were there?"
    assert body["answered"] and body["answer"]["paragraph"] == "7"
    assert "150 persons" in body["answer"]["text"]


@pytest.mark.parametrize(
    ("question", "previous", "paragraph", "read_as", "cited"),
    [
        (
            "and in Lambeth?",
            "How many crackhouses were closed in Haringey?",
            "table-1",
            "How many crackhouses were closed in Lambeth?",
            "table-1",
        ),
        (
            "when was it set up?",
            "What is the Controlled Deliveries Unit?",
            "7",
            "When was the Controlled Deliveries Unit set up?",
            "7",
        ),
        (
            "how many arrests did it make?",
            "What does the report say about the Middle Market Drugs Project?",
            "4",
            "How many Middle Market Drugs Project arrests were there?",
            "4",
        ),
        ("why?", "What is a clean delivery?", "7", "¶7", "7"),
        ("tell me more", "How many cannabis factories were found in London?", "16", "¶16", "16"),
        ("the next paragraph", "What is a clean delivery?", "7", "¶8", "8"),
        ("who wrote it?", "What is a clean delivery?", "7", "Who wrote the report?", "F"),
    ],
)
def test_follow_ups_are_answered_from_the_right_passage(
    client: TestClient, question: str, previous: str, paragraph: str, read_as: str, cited: str
) -> None:
    body = ask_after(client, question, previous, paragraph)
    assert body["read_as"] == read_as
    assert body["answered"] and body["citations"][0]["paragraph"] == cited


def test_follow_up_to_another_year_is_declined_for_that_year(client: TestClient) -> None:
    previous = "How many cannabis factories were found in London?"
    body = ask_after(client, "what about 2004?", previous, "16")
    assert body["read_as"] == "How many cannabis factories were found in London in 2004?"
    assert not body["answered"] and "2004" in body["reason"]


@pytest.mark.parametrize(
    "question", [CANNABIS, "What does paragraph 22 say?", "How many crackhouses were closed in Haringey?"]
)
def test_a_question_that_stands_on_its_own_ignores_the_context(client: TestClient, question: str) -> None:
    alone = client.post("/api/ask", json={"question": question}).json()
    body = ask_after(client, question, "What is a clean delivery?", "7")
    assert body["read_as"] is None
    assert [c["paragraph"] for c in body["citations"]] == [c["paragraph"] for c in alone["citations"]]


def test_answers_offer_next_steps_from_the_cited_passages(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "What is a clean delivery?"}).json()
    steps = body["next_steps"]
    assert 1 <= len(steps) <= 3
    assert steps[0] == {"label": "Next: ¶8 · Territorial Policing", "question": "¶8"}
    declined = client.post("/api/ask", json={"question": "What is the recipe for banana bread?"}).json()
    assert declined["next_steps"] == []


def test_unknown_passage_is_404_listing_ids(client: TestClient) -> None:
    response = client.get("/api/passages/nope")
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert "'nope'" in detail and "summary" in detail and "table-1" in detail and "D4" in detail


def test_healthz(client: TestClient, searcher) -> None:  # noqa: ANN001
    body = client.get("/healthz").json()
    assert body == {
        "status": "ok",
        "reports": 1,
        "passages": 61,
        "model": "all-MiniLM-L6-v2",
        "index": searcher.fingerprint,
    }


def test_openapi_has_example(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/ask" in schema["paths"]
    examples = schema["components"]["schemas"]["AskRequest"]["examples"]
    assert examples[0]["question"]
    assert client.get("/docs").status_code == 200


def test_live_server_answers_over_real_http(live_server: str) -> None:
    response = httpx.post(f"{live_server}/api/ask", json={"question": CANNABIS}, timeout=30)
    assert response.status_code == 200
    assert response.json()["citations"][0]["paragraph"] == "16"
    assert response.headers["x-content-type-options"] == "nosniff"
    health = httpx.get(f"{live_server}/healthz", timeout=5).json()
    assert health["status"] == "ok" and health["passages"] == 61


def test_ask_reports_confidence(client) -> None:  # noqa: ANN001
    high = client.post(
        "/api/ask", json={"question": "How many cannabis factories were found in London?"}
    ).json()
    assert high["answered"] and high["confidence"] == "high"
    low = client.post("/api/ask", json={"question": "Is cannabis legal?"}).json()
    assert low["answered"] and low["confidence"] == "low" and low["reason"]
    declined = client.post("/api/ask", json={"question": "how many sniffer dogs does the Met have"}).json()
    assert not declined["answered"] and declined["confidence"] is None
