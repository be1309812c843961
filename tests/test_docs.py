"""The README and docs/ say what the code does: examples are checked, links resolve, settings match."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import fields

import pytest
from fastapi.testclient import TestClient

from qa.config import PROJECT_ROOT, Settings
from qa.serve import LOADING_MESSAGE, busy_port_hint

from .test_cli import port_of, run_qa

DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
# Written on other branches of the same change; they exist once those are merged.
COMING = {"docs/report-format.md", "docs/library.md"}
ELIDED = "..."
_CHECKED = re.compile(r"<!-- checked: (\w+) -->\n```\w*\n(.*?)\n```", re.S)


def checked_blocks(kind: str) -> list[tuple[str, str]]:
    """(file name, block text) of every fenced block marked `<!-- checked: kind -->`."""
    return [
        (path.name, m.group(2))
        for path in DOCS
        for m in _CHECKED.finditer(path.read_text())
        if m.group(1) == kind
    ]


def commands(block: str) -> list[tuple[str, str]]:
    """(command, its documented output) for each `$ ` line of a block; `\\` continues a command."""
    pairs: list[tuple[str, str]] = []
    for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
        command, _, output = re.sub(r"\\\n\s*", " ", chunk).partition("\n")
        pairs.append((command.strip(), output.strip()))
    return pairs


def matches(documented: object, real: object) -> bool:
    """`"..."` is any value; a string ending in ` ...` a prefix; a list ending in `"..."` a prefix;
    a dict with a `"..."` key may leave keys out, any other must have exactly the real keys."""
    if documented == ELIDED:
        return True
    if isinstance(documented, str) and documented.endswith(" " + ELIDED) and isinstance(real, str):
        return real.startswith(documented.removesuffix(ELIDED).rstrip())
    if isinstance(documented, list) and isinstance(real, list):
        if documented and documented[-1] == ELIDED:
            documented = documented[:-1]
            real = real[: len(documented)]
        return len(documented) == len(real) and all(map(matches, documented, real))
    if isinstance(documented, dict) and isinstance(real, dict):
        keys = documented.keys() - {ELIDED}
        if ELIDED not in documented and keys != real.keys():
            return False
        return all(key in real and matches(documented[key], real[key]) for key in keys)
    return documented == real


def request_of(command: str) -> tuple[str, str, dict | None]:
    """(method, path, JSON body) of a documented `curl -s localhost:8000/... [-d '{...}']`."""
    words = shlex.split(command)
    assert words[0] == "curl", command
    url = next(word for word in words if word.startswith("localhost:"))
    body = json.loads(words[words.index("-d") + 1]) if "-d" in words else None
    return ("POST" if body is not None else "GET"), url.partition("/")[2], body


API_EXAMPLES = [(name, *pair) for name, block in checked_blocks("api") for pair in commands(block)]


@pytest.mark.parametrize(
    ("doc", "command", "output"), API_EXAMPLES, ids=[f"{d}:{c[:60]}" for d, c, _ in API_EXAMPLES]
)
def test_api_examples_show_the_real_responses(
    client: TestClient, doc: str, command: str, output: str
) -> None:
    method, path, body = request_of(command)
    real = client.request(method, "/" + path, json=body).json()
    documented = json.loads(output)
    assert matches(documented, real), f"{doc}: `{command}` now answers\n{json.dumps(real, indent=1)[:3000]}"


def test_every_doc_has_checked_api_examples() -> None:
    assert {doc for doc, _, _ in API_EXAMPLES} >= {"README.md", "api.md"}


def _pattern(documented: str) -> re.Pattern[str]:
    """Documented text with `...` standing for anything (within or across lines)."""
    return re.compile(".*?".join(re.escape(part) for part in documented.split(ELIDED)), re.S)


def test_cli_examples_show_the_real_output(live_server: str, settings: Settings) -> None:
    blocks = checked_blocks("cli")
    assert blocks
    for doc, block in blocks:
        for command, output in commands(block):
            words = shlex.split(command)
            assert words[0] == "qa", command
            done = run_qa(settings, *words[1:], "--port", port_of(live_server))
            assert done.returncode == 0, done.stderr
            expected = output.replace("http://127.0.0.1:8000", live_server)
            printed = done.stdout.strip()
            assert _pattern(expected).fullmatch(printed), f"{doc}: `{command}` now prints\n{printed}"


def test_serve_examples_are_the_lines_the_server_prints() -> None:
    (doc, block), *_ = checked_blocks("serve")
    printed = [line for _, output in commands(block) for line in output.splitlines()]
    assert printed == [
        LOADING_MESSAGE.format(url="http://127.0.0.1:8000/"),
        "ready: http://127.0.0.1:8000/",
        f"error: {busy_port_hint(8000)}",
    ], doc


def test_readme_links_resolve() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    links = set(re.findall(r"\]\((docs/[^)#]+)", readme))
    assert {"docs/api.md", "docs/quality.md", "docs/performance.md", "docs/safety.md"} <= links
    assert {"docs/architecture.md", "docs/configuration.md", "docs/cli.md"} <= links
    missing = {link for link in links - COMING if not (PROJECT_ROOT / link).exists()}
    assert not missing


def test_docs_links_between_pages_resolve() -> None:
    for path in DOCS[1:]:
        for link in re.findall(r"\]\(([\w.-]+\.(?:md|png))", path.read_text()):
            assert (path.parent / link).exists() or f"docs/{link}" in COMING, f"{path.name} -> {link}"


def test_configuration_lists_every_setting_and_only_those() -> None:
    documented = set(re.findall(r"`(QA_[A-Z_]+)`", (PROJECT_ROOT / "docs" / "configuration.md").read_text()))
    assert documented == {f"QA_{field.name.upper()}" for field in fields(Settings)}


def test_readme_first_screen_is_short() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert len(readme) < 4000
    assert "make run" in readme and "make test" in readme and "docs/chat-desktop.png" in readme


def test_docs_say_where_the_unit_lists_start_and_how_much_a_question_reads() -> None:
    from qa import ann

    share = {8: "eighth", 4: "quarter", 2: "half"}[ann.PROBE_SHARE]
    for name in ("README.md", "docs/architecture.md", "docs/performance.md"):
        text = " ".join((PROJECT_ROOT / name).read_text().split())
        assert f"{ann.MIN_UNITS:,} units" in text, name
        assert f"nearest {share}" in text, name
