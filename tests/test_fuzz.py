"""API fuzzing with schemathesis against the app's own OpenAPI schema: no 5xx, answers match it."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from qa.app import SECURITY_HEADERS, create_app
from qa.config import PROJECT_ROOT, Settings
from qa.corpus import Corpus
from qa.schemas import MAX_QUESTION_CHARS, clean_question
from qa.search import Searcher
from qa.service import AnswerService

# Cases per generation mode, drawn across every operation: a few hundred in all, about half a minute.
CASES = 150


@pytest.fixture(scope="module")
def api_schema(settings: Settings, searcher: Searcher) -> Iterator[schemathesis.BaseSchema]:
    # An app of its own: the answering service's batcher lives on the first event loop that
    # uses it, and schemathesis calls the app from a different loop than the shared test client.
    service = AnswerService(searcher, cache_size=0)
    # (schemathesis.pytest.from_fixture would do, but it reads a node attribute pytest 9 removed.)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(settings, service=service))
    # Invalid data may also be refused for its size (413: a body over the limit) before it is read.
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    yield schema
    service.close()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_api_fuzz(api_schema: schemathesis.BaseSchema, mode: GenerationMode, data: st.DataObject) -> None:
    """Valid and invalid requests alike: never a 5xx, always a documented status and body shape.

    Schemathesis's own "schema-valid data is accepted" check is replaced by an exact one: the
    question's 500-character limit applies after NFKC normalisation ('ﬁ' counts as 'fi'), which
    JSON Schema cannot express.
    """
    case = data.draw(api_schema.as_strategy(mode), label="case")
    response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == [value], name
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail and "Traceback" not in detail
    if mode is GenerationMode.POSITIVE:
        assert response.status_code == _expected_for_valid(case, response), response.text


def _expected_for_valid(case: schemathesis.Case, response: schemathesis.Response) -> int:
    path = unquote(urlsplit(str(response.request.url)).path)
    query = case.query or {}
    if "doc" in query and query["doc"] is not None and CORPUS.report(query["doc"]) is None:
        return 404
    if case.path == "/api/ask":
        docs = case.body.get("docs")
        if docs is not None and any(CORPUS.report(doc) is None for doc in docs):
            return 422
        return 200 if len(clean_question(case.body["question"])) <= MAX_QUESTION_CHARS else 422
    if case.path == "/api/passages/{ref}":
        # The id as the server decodes it from the URL that was sent ('%C2%B9' is '¹', which is 1).
        ref = path.removeprefix("/api/passages/")
        return 200 if CORPUS.resolve(ref[:100], doc=query.get("doc")) else 404
    if case.path == "/api/reports/{doc}":
        return 200 if CORPUS.report(path.removeprefix("/api/reports/")) else 404
    if case.path == "/api/reports/{doc}/passages/{ref}":
        doc, _, ref = path.removeprefix("/api/reports/").partition("/passages/")
        return 200 if CORPUS.report(doc) and CORPUS.resolve(ref[:100], doc=doc) else 404
    return 200


CORPUS = Corpus.from_seeds(PROJECT_ROOT / "seeds")
