"""The `qa` command: build the index, ask questions, evaluate retrieval, serve the API."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from qa.client import ServerAsker, ServerError, find_server, server_url
from qa.config import PROJECT_ROOT, Settings, load_settings

DEFAULT_EVAL_FILES = [
    PROJECT_ROOT / "tests" / "data" / "questions.jsonl",
    PROJECT_ROOT / "tests" / "data" / "questions.holdout.jsonl",
]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings().with_overrides(
        seeds_dir=getattr(args, "seeds", None),
        index_dir=getattr(args, "index", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


def _searcher(settings: Settings, progress: bool = False, force: bool = False, quiet: bool = True):  # noqa: ANN202
    from qa.corpus import Corpus

    Corpus.from_seeds(settings.seeds_dir)  # unreadable reports: fail now, not after loading the model

    from qa.index import Embedder, open_index
    from qa.search import Searcher

    embedder = Embedder(settings.resolved_model_path(), settings.torch_threads, quiet=quiet)
    return Searcher(open_index(settings, embedder, force=force, progress=progress), embedder)


def cmd_build(args: argparse.Namespace) -> int:
    settings = _settings(args)
    started = time.perf_counter()
    _print_reading(settings)
    searcher = _searcher(settings, progress=True, force=args.force, quiet=not args.verbose)
    manifest = searcher.index.manifest
    print(
        f"index {manifest['fingerprint']}: {len(manifest['passages'])} passages, "
        f"{manifest['units']} units, in {settings.index_dir} ({time.perf_counter() - started:.1f}s)"
    )
    return 0


def _print_reading(settings: Settings) -> None:
    """Each report's parser warnings and each skipped file, named by file and line; the build goes on."""
    from qa.corpus import load_reports, seed_files

    reports, skipped = load_reports(seed_files(settings.seeds_dir))
    for report in reports:
        for warning in report.warnings:
            print(f"warning: {report.slug}.txt:{warning.line}: {warning.why}: {warning.text[:80]!r}")
    for path, reason in skipped:
        print(f"skipped: {path.name}: {reason}")


def cmd_inspect(args: argparse.Namespace) -> int:
    """How one report file was read: metadata, sections, passages and warnings (no model loaded)."""
    from qa.reading import NotAReport, load_report

    path = Path(args.file)
    try:
        report = load_report(path)
    except (NotAReport, OSError) as error:
        if args.json:
            print(json.dumps({"file": str(path), "not_a_report": str(error)}, indent=2))
        else:
            print(f"not a report: {error}", file=sys.stderr)
        return 1
    summary = _inspection(path, report)
    print(json.dumps(summary, indent=2, ensure_ascii=False) if args.json else _format_inspection(summary))
    return 0


def _inspection(path: Path, report) -> dict:  # noqa: ANN001 - a qa.reading.Report
    def iso(day) -> str | None:  # noqa: ANN001
        return day.isoformat() if day else None

    return {
        "file": str(path),
        "slug": report.slug,
        "title": report.title,
        "number": report.number,
        "date": iso(report.date),
        "by": report.by,
        "committee": report.committee,
        "meeting_date": iso(report.meeting_date),
        "author": report.author,
        "sections": [{"letter": s.letter, "title": s.title} for s in report.sections],
        "passages": [
            {
                "id": p.id,
                "kind": p.kind,
                "section": p.section,
                "heading": p.heading,
                "start": " ".join(p.text.split()[:10]),
                "chars": len(p.text),
            }
            for p in report.passages
        ],
        "warnings": [{"line": w.line, "text": w.text, "why": w.why} for w in report.warnings],
    }


def _format_inspection(summary: dict) -> str:
    fields = ["title", "number", "date", "by", "committee", "meeting_date", "author"]
    lines = [f"{summary['file']}"] + [f"  {name:<13}{summary[name] or '-'}" for name in fields]
    lines.append(f"sections ({len(summary['sections'])}):")
    lines += [f"  {s['letter']}. {s['title']}" for s in summary["sections"]]
    lines.append(f"passages ({len(summary['passages'])}):")
    lines += [f"  {p['id']:<14}{p['kind']:<14}{p['start'][:70]}" for p in summary["passages"]]
    lines.append(f"warnings ({len(summary['warnings'])}):")
    lines += [f"  line {w['line']}: {w['why']}: {w['text'][:70]!r}" for w in summary["warnings"]]
    return "\n".join(lines)


def cmd_ask(args: argparse.Namespace) -> int:
    settings = _settings(args)
    asker = None if args.local else _server_asker(settings)
    if asker is None:
        if (error := _invalid(question=args.question, top_k=args.k)) is not None:
            print(f"error: {error}", file=sys.stderr)
            return 2
        asker = LocalAsker(settings, quiet=not args.verbose)
    try:
        reply = asker.ask(question=args.question, top_k=args.k)
    except (ServerError, ValueError) as error:
        print(f"error: {_first_error(error)}", file=sys.stderr)
        return 2
    said = _provenance(asker, wall_s=time.perf_counter() - args.started, reply=reply)
    if args.json:
        print(json.dumps(reply, ensure_ascii=False, indent=2))
        print(said, file=sys.stderr)  # stdout stays one JSON document
        return 0
    print(_format_answer(reply))
    print(f"\n({said})")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    settings = _settings(args)
    asker = None if args.local else _server_asker(settings)
    if asker is None:
        asker = LocalAsker(settings, quiet=not args.verbose)
        print(f"reportqa: answering locally (loaded in {_duration(asker.load_s)})")
    else:
        print(f"reportqa: answering through the server at {asker.where}")
    print("Ask about the report; follow-ups are read after the previous answer. Ctrl-D or 'quit' ends.")
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - input() then keeps history and line editing
    context: dict | None = None
    while (question := _next_question()) is not None:
        started = time.perf_counter()
        try:
            reply = asker.ask(question=question, top_k=args.k, context=context)
        except (ServerError, ValueError) as error:
            print(f"error: {_first_error(error)}")
            continue
        if reply.get("read_as"):
            print(f"Read as: {reply['read_as']}")
        print(_format_answer(reply))
        print(f"\n({_provenance(asker, wall_s=time.perf_counter() - started, reply=reply)})\n")
        context = _context(question=question, reply=reply) or context
    return 0


def _next_question() -> str | None:
    """The next non-empty line typed, or None at end of input or 'quit'."""
    while True:
        try:
            line = input("qa> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return None
        if line.lower() in {"quit", "exit", "q", ":q"}:
            return None
        if line:
            return line


def _context(*, question: str, reply: dict) -> dict | None:
    """The turn a follow-up leans on: what was asked and the passage that answered (or came first)."""
    citations = reply.get("citations") or []
    answer = reply.get("answer") or {}
    paragraph = answer.get("paragraph") or (citations[0]["paragraph"] if citations else None)
    if paragraph is None:
        return None
    doc = next((c["doc"] for c in citations if c["paragraph"] == paragraph), None)
    return {"question": reply.get("read_as") or question, "doc": doc, "paragraph": paragraph}


class LocalAsker:
    """Answers in this process; the model and the index are loaded once, on creation."""

    where = "locally"

    def __init__(self, settings: Settings, *, quiet: bool = True) -> None:
        started = time.perf_counter()
        self.searcher = _searcher(settings, quiet=quiet)
        self.load_s = time.perf_counter() - started

    def ask(self, *, question: str, top_k: int, context: dict | None = None) -> dict:
        """The API's reply as a dict; a follow-up is read after `context`, the previous turn, as the
        server reads it."""
        from qa.conversation import ask_in_context_now
        from qa.schemas import AskRequest

        request = AskRequest(question=question, top_k=top_k, context=context)
        response = ask_in_context_now(self.searcher, request.question, request.top_k, request.context)
        return response.model_dump(mode="json")


def _server_asker(settings: Settings) -> ServerAsker | None:
    """A client for the server these settings point at, if one is up there."""
    url = server_url(settings)

    def waiting() -> None:
        print(f"the server at {url} is still loading; waiting for it (--local answers here)", file=sys.stderr)

    client = find_server(url, on_wait=waiting)
    return None if client is None else ServerAsker(client)


def _invalid(*, question: str, top_k: int) -> str | None:
    """Why the API would refuse this question, checked before loading anything; None if fine."""
    from qa.schemas import AskRequest

    try:
        AskRequest(question=question, top_k=top_k)
    except ValueError as error:
        return _first_error(error)
    return None


def _provenance(asker: LocalAsker | ServerAsker, *, wall_s: float, reply: dict) -> str:
    """Where the answer came from and the real time it took, the server's own time beside it."""
    took = f"{reply['took_ms']:.0f} ms"
    if isinstance(asker, ServerAsker):
        return f"answered by the server at {asker.where} in {_duration(wall_s)}; the server's own time {took}"
    return (
        f"answered locally in {_duration(wall_s)}: loading the model and index {_duration(asker.load_s)}, "
        f"the answer {took}; with a server up (make run) answers take well under a second"
    )


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _first_error(error: Exception) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg'].removeprefix('Value error, ')}"
    return str(error)


def _format_answer(response: dict) -> str:
    """The reply (the API's JSON) as text: the answer sentence, then each cited passage."""
    width = 88
    lines = []
    citations = response["citations"]
    if response.get("answer"):
        low = response.get("confidence") == "low"
        lines.append(f"{'Closest passage' if low else 'Answer'} ({citations[0]['label']}):")
        lines.extend(
            textwrap.wrap(response["answer"]["text"], width, initial_indent="  ", subsequent_indent="  ")
        )
        if low and response.get("reason"):
            note = f"(Low confidence: {response['reason']})"
            lines.extend(textwrap.wrap(note, width, initial_indent="  ", subsequent_indent="  "))
    else:
        lines.append(f"The report does not seem to cover this. {response.get('reason') or ''}".rstrip())
        lines.append("Nearest passages:")
    for citation in citations:
        lines.append("")
        where = " / ".join(part for part in (citation["section"], citation["heading"]) if part)
        lines.append(f"[{citation['label']}] score {citation['score']:.3f}  {where}")
        for paragraph in citation["text"].split("\n"):
            lines.extend(textwrap.wrap(paragraph, width, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.evaluate import QuestionFileError, evaluate, format_report, load_questions

    files = [Path(f) for f in args.files] or DEFAULT_EVAL_FILES
    try:
        question_sets = [(path, load_questions(path, default_doc=args.doc)) for path in files]
    except (OSError, QuestionFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    searcher = _searcher(_settings(args), quiet=not args.verbose)
    known = set(searcher.corpus.docs)
    for path, questions in question_sets:
        unknown = sorted({q.doc for q in questions if q.doc is not None} - known)
        if unknown:
            missing = ", ".join(unknown)
            print(f"error: {path.name} asks about reports not in the library: {missing}", file=sys.stderr)
            return 2
    reports = [
        evaluate(searcher, questions, path.name, scoped=args.scoped) for path, questions in question_sets
    ]
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=1))
    else:
        print("\n\n".join(format_report(r, show_misses=not args.quiet) for r in reports))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from qa.evaluate import load_questions
    from qa.tune import ablation, grid_search

    tuning, holdout = (load_questions(path) for path in DEFAULT_EVAL_FILES)
    searcher = _searcher(_settings(args), quiet=not args.verbose)
    if args.ablation:
        columns = [
            "configuration",
            "hold-out R@1",
            "R@3",
            "MRR",
            "off-topic declined",
            "off-topic high",
            "answerable declined",
            "answerable high",
            "tuning R@1",
            "tuning off-topic declined / high",
        ]
        print("| " + " | ".join(columns) + " |")
        print("|" + " --- |" * len(columns))
        for label, tune_report, hold in ablation(searcher, tuning, holdout):
            print(
                f"| {label} | {hold.recall_at_1:.3f} | {hold.recall_at_3:.3f} | {hold.mrr:.3f} | "
                f"{hold.offtopic_declined:.2f} | {hold.offtopic_high:.2f} | {hold.answerable_declined:.3f} | "
                f"{hold.answerable_high:.3f} | {tune_report.recall_at_1:.3f} | "
                f"{tune_report.offtopic_declined:.2f} / {tune_report.offtopic_high:.2f} |"
            )
        return 0
    for trial in grid_search(searcher, tuning, holdout)[:10]:
        knobs = ", ".join(
            f"{k}={getattr(trial.config.ranking, k)}"
            for k in ("dense_weight", "best_unit_weight", "keyword_best_unit_weight")
        )
        hold = trial.holdout
        print(
            f"tuning R@1 {trial.tuning.recall_at_1:.3f} MRR {trial.tuning.mrr:.3f} | "
            f"hold-out R@1 {hold.recall_at_1:.3f} MRR {hold.mrr:.3f} | {knobs}"
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.corpus import load_reports, seed_files

    settings = _settings(args)
    if settings.host not in {"127.0.0.1", "localhost", "::1"} and not args.public:
        print(
            f"error: refusing to bind {settings.host}; pass --public to serve beyond this machine",
            file=sys.stderr,
        )
        return 2
    try:
        reports, skipped = load_reports(seed_files(settings.seeds_dir))
    except OSError as error:
        print(f"error: cannot read the reports: {error}", file=sys.stderr)
        return 2
    if not reports:  # one line: the reason no report could be read
        reasons = "; ".join(f"{path.name}: {reason}" for path, reason in skipped)
        print(
            f"error: cannot read the reports: no report could be read in {settings.seeds_dir} ({reasons})",
            file=sys.stderr,
        )
        return 2
    from qa.serve import serve

    return serve(settings)


def _rebuild(settings: Settings) -> None:
    """Update the saved index for the seeds folder as it is now: only new reports are embedded, and
    only their segments written (a running server picks the new index up)."""
    from qa.index import Embedder, refresh_index
    from qa.library import LibraryError

    started = time.perf_counter()
    embedder = Embedder(settings.resolved_model_path(), settings.torch_threads)
    loaded = time.perf_counter()
    try:
        manifest = refresh_index(settings, embedder)
    except OSError as error:  # a read-only or full index folder: the seeds folder is put back
        reason = error.strerror or str(error)
        raise LibraryError(f"cannot write the index in {settings.index_dir} ({reason})") from error
    # What the model encoded: the new reports' units and counted words, and the library's place
    # names when they changed; never the units already indexed.
    print(
        f"index {manifest['fingerprint']}: {len(manifest['segments'])} reports, "
        f"{len(manifest['passages'])} passages (model {loaded - started:.1f}s, "
        f"index {time.perf_counter() - loaded:.1f}s; {embedder.texts_encoded} texts encoded)"
    )


def cmd_add(args: argparse.Namespace) -> int:
    from qa.library import add_reports

    files = [Path(f) for f in args.files]
    return _change_library(
        args, lambda s: "added " + ", ".join(add_reports(s, files, _rebuild, replace=args.replace))
    )


def cmd_remove(args: argparse.Namespace) -> int:
    from qa.library import remove_report

    return _change_library(args, lambda s: remove_report(s, args.doc, _rebuild) or f"removed {args.doc}")


def _change_library(args: argparse.Namespace, change: Callable[[Settings], str]) -> int:
    """Run one library change; a refusal is one line, and the library is as it was."""
    from qa.library import LibraryError

    try:
        print(change(_settings(args)))
    except LibraryError as error:
        print(f"error: {error}; the library is unchanged", file=sys.stderr)
        return 2
    return 0


def cmd_reports(args: argparse.Namespace) -> int:
    from qa.corpus import Corpus

    corpus = Corpus.from_seeds(_settings(args).seeds_dir)
    rows = [
        {
            "doc": r.slug,
            "date": r.date.isoformat() if r.date else None,
            "report": None if r.number is None else str(r.number),
            "title": r.title,
            "committee": r.committee,
            "passages": len(r.passages),
        }
        for r in corpus.reports
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['doc']}  {row['date'] or '-':10}  {row['passages']:3} passages  {row['title']}")
    print(f"{len(rows)} report{'s' if len(rows) != 1 else ''}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))  # benchmarks/ lives beside qa/ in the repository
    if args.library:
        from benchmarks import library_run

        out = Path(args.out) if args.out else library_run.RESULTS_FILE
        sizes = tuple(int(size) for size in args.sizes.split(",")) if args.sizes else ()
        return library_run.main(out, quick=args.quick, layout=args.layout, loadgen=args.loadgen, sizes=sizes)
    from benchmarks import run

    out = Path(args.out) if args.out else run.RESULTS_FILE
    return run.main(out, quick=args.quick, layout=args.layout, loadgen=args.loadgen)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description=__doc__)
    parser.add_argument("--seeds", help="folder of report texts (QA_SEEDS_DIR; default seeds/)")
    parser.add_argument("--index", help="folder for built index files (QA_INDEX_DIR; default index/)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build the index (reuses a valid one unless --force)")
    build.add_argument("--force", action="store_true", help="rebuild even if the saved index is valid")
    build.set_defaults(func=cmd_build)

    inspect = commands.add_parser("inspect", help="show how one report file is read (no model needed)")
    inspect.add_argument("file", help="a report text file")
    inspect.add_argument("--json", action="store_true", help="machine-readable output")
    inspect.set_defaults(func=cmd_inspect)

    ask = commands.add_parser("ask", help="ask the report a question (through the server when one is up)")
    ask.add_argument("question")
    _add_asking_options(ask)
    ask.add_argument("--json", action="store_true", help="print the API's JSON response")
    ask.set_defaults(func=cmd_ask)

    chat = commands.add_parser("chat", help="ask questions and follow-ups in this terminal")
    _add_asking_options(chat)
    chat.set_defaults(func=cmd_chat)

    evaluate = commands.add_parser("eval", help="measure retrieval on question files")
    evaluate.add_argument("files", nargs="*", help="JSONL question files (default: tests/data/*.jsonl)")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    evaluate.add_argument("-q", "--quiet", action="store_true", help="do not list the misses")
    evaluate.add_argument(
        "--scoped", action="store_true", help="ask each question with a doc of that report alone (docs=[doc])"
    )
    evaluate.add_argument(
        "--doc", help="the report of questions that name none (a one-report set asked across a library)"
    )
    evaluate.set_defaults(func=cmd_eval)

    tune = commands.add_parser("tune", help="grid-search scoring weights on the tuning questions")
    tune.add_argument("--ablation", action="store_true", help="print the table of techniques instead")
    tune.set_defaults(func=cmd_tune)

    serve = commands.add_parser("serve", help="serve the JSON API and the chat page")
    serve.add_argument("--host", help="address to bind (QA_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (QA_PORT; default 8000)")
    serve.add_argument("--public", action="store_true", help="allow binding a non-loopback address")
    serve.set_defaults(func=cmd_serve)

    add = commands.add_parser("add", help="add report files to the library (embeds only those)")
    add.add_argument("files", nargs="+", help="report texts (.txt); each file's name is its doc")
    add.add_argument("--replace", action="store_true", help="update reports already in the library")
    add.set_defaults(func=cmd_add)

    remove = commands.add_parser("remove", help="remove a report from the library")
    remove.add_argument("doc", help="the report's doc (qa reports lists them)")
    remove.set_defaults(func=cmd_remove)

    reports = commands.add_parser("reports", help="list the reports in the library")
    reports.add_argument("--json", action="store_true", help="machine-readable output")
    reports.set_defaults(func=cmd_reports)

    bench = commands.add_parser("bench", help="measure latency, throughput, cold start and memory")
    bench.add_argument(
        "--out", default="", help="JSON file (default benchmarks/results.json, or results.library.json)"
    )
    bench.add_argument(
        "--library",
        action="store_true",
        help="libraries of 1, 100 and 1,000 reports: build, add, disk, cold start, RSS, latency",
    )
    bench.add_argument("--sizes", default="", help="with --library: the library sizes, e.g. 1,100")
    bench.add_argument("--quick", action="store_true", help="short phases, to check the benchmark runs")
    bench.add_argument(
        "--layout",
        choices=["shared", "split"],
        default="shared",
        help="shared: nothing pinned (default); split: load generator on the first core, server on the rest",
    )
    bench.add_argument(
        "--loadgen",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="auto: wrk if installed (default), else the asyncio client in benchmarks/loadgen.py",
    )
    bench.set_defaults(func=cmd_bench)
    return parser


def _add_asking_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", type=int, default=3, help="citations to return, 1-10 (default 3)")
    parser.add_argument("--local", action="store_true", help="answer in this process, not through a server")
    parser.add_argument("--host", help="the server's address (QA_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="the server's port (QA_PORT; default 8000)")


def _quiet_libraries() -> None:
    """Progress bars and advice from huggingface_hub and transformers, unless --verbose.

    Read when those libraries load, so set before anything imports them. Build's own progress
    bar (sentence-transformers over tqdm) is asked for explicitly and stays."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def _process_started() -> float:
    """When this process started, on the perf_counter clock: the time printed then includes
    Python's own start-up and imports. Where /proc cannot tell, now."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.perf_counter()
    return time.perf_counter() - max(0.0, age)


def main(argv: list[str] | None = None) -> int:
    started = _process_started() if argv is None else time.perf_counter()
    args = build_parser().parse_args(argv)
    args.started = started
    if not args.verbose:
        _quiet_libraries()
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        for noisy in ("faiss", "sentence_transformers", "bm25s", "httpx", "httpcore", "transformers"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except (ValueError, OSError) as error:  # bad QA_* settings, unreadable reports and the like
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
