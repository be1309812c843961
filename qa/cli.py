"""The `qa` command: build the index, ask questions, evaluate retrieval, serve the API."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
import time
from pathlib import Path

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


def _searcher(settings: Settings, progress: bool = False, force: bool = False):  # noqa: ANN202
    from qa.corpus import Corpus

    Corpus.from_seeds(settings.seeds_dir)  # unreadable reports: fail now, not after loading the model

    from qa.index import Embedder, open_index
    from qa.search import Searcher

    embedder = Embedder(settings.resolved_model_path(), settings.torch_threads)
    return Searcher(open_index(settings, embedder, force=force, progress=progress), embedder)


def cmd_build(args: argparse.Namespace) -> int:
    settings = _settings(args)
    started = time.perf_counter()
    _print_reading(settings)
    searcher = _searcher(settings, progress=True, force=args.force)
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
    from qa.schemas import AskRequest, response_from_result

    try:
        request = AskRequest(question=args.question, top_k=args.k)
    except ValueError as error:
        print(f"error: {_first_error(error)}", file=sys.stderr)
        return 2
    searcher = _searcher(_settings(args))
    response = response_from_result(searcher.ask(request.question, request.top_k))
    if args.json:
        print(response.model_dump_json(indent=2))
        return 0
    print(_format_answer(response))
    return 0


def _first_error(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(map(str, first['loc']))}: {first['msg'].removeprefix('Value error, ')}"
    return str(error)


def _format_answer(response) -> str:  # noqa: ANN001 - an AskResponse
    width = 88
    lines = []
    if response.answer:
        lines.append(f"Answer ({response.citations[0].label}):")
        lines.extend(textwrap.wrap(response.answer.text, width, initial_indent="  ", subsequent_indent="  "))
    else:
        lines.append(f"The report does not seem to cover this. {response.reason or ''}".rstrip())
        lines.append("Nearest passages:")
    for citation in response.citations:
        lines.append("")
        where = " / ".join(part for part in (citation.section, citation.heading) if part)
        lines.append(f"[{citation.label}] score {citation.score:.3f}  {where}")
        for paragraph in citation.text.split("\n"):
            lines.extend(textwrap.wrap(paragraph, width, initial_indent="    ", subsequent_indent="    "))
    lines.append(f"\n({response.took_ms:.0f} ms)")
    return "\n".join(lines)


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.evaluate import QuestionFileError, evaluate, format_report, load_questions

    files = [Path(f) for f in args.files] or DEFAULT_EVAL_FILES
    try:
        question_sets = [(path, load_questions(path)) for path in files]
    except (OSError, QuestionFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    searcher = _searcher(_settings(args))
    reports = [evaluate(searcher, questions, path.name) for path, questions in question_sets]
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=1))
    else:
        print("\n\n".join(format_report(r, show_misses=not args.quiet) for r in reports))
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from qa.evaluate import load_questions
    from qa.tune import ablation, grid_search

    tuning, holdout = (load_questions(path) for path in DEFAULT_EVAL_FILES)
    searcher = _searcher(_settings(args))
    if args.ablation:
        columns = ["configuration", "hold-out R@1", "R@3", "MRR", "off-topic declined", "answerable declined"]
        print("| " + " | ".join([*columns, "tuning R@1"]) + " |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for label, tune_report, hold in ablation(searcher, tuning, holdout):
            print(
                f"| {label} | {hold.recall_at_1:.3f} | {hold.recall_at_3:.3f} | {hold.mrr:.3f} | "
                f"{hold.offtopic_declined:.2f} | {hold.answerable_declined:.3f} "
                f"| {tune_report.recall_at_1:.3f} |"
            )
        return 0
    for trial in grid_search(searcher, tuning, holdout)[:10]:
        knobs = ", ".join(
            f"{k}={getattr(trial.config, k)}"
            for k in ("dense_weight", "best_unit_weight", "keyword_best_unit_weight")
        )
        hold = trial.holdout
        print(
            f"tuning R@1 {trial.tuning.recall_at_1:.3f} MRR {trial.tuning.mrr:.3f} | "
            f"hold-out R@1 {hold.recall_at_1:.3f} MRR {hold.mrr:.3f} | {knobs}"
        )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.corpus import Corpus, ReportFormatError

    settings = _settings(args)
    if settings.host not in {"127.0.0.1", "localhost", "::1"} and not args.public:
        print(
            f"error: refusing to bind {settings.host}; pass --public to serve beyond this machine",
            file=sys.stderr,
        )
        return 2
    try:
        Corpus.from_seeds(settings.seeds_dir)
    except (OSError, ReportFormatError) as error:
        print(f"error: cannot read the reports: {error}", file=sys.stderr)
        return 2
    from qa.serve import serve

    return serve(settings)


def cmd_bench(args: argparse.Namespace) -> int:
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))  # benchmarks/ lives beside qa/ in the repository
    from benchmarks.run import main as run_benchmarks

    return run_benchmarks(Path(args.out), quick=args.quick, layout=args.layout, loadgen=args.loadgen)


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

    ask = commands.add_parser("ask", help="ask the report a question")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=3, help="citations to return, 1-10 (default 3)")
    ask.add_argument("--json", action="store_true", help="print the API's JSON response")
    ask.set_defaults(func=cmd_ask)

    evaluate = commands.add_parser("eval", help="measure retrieval on question files")
    evaluate.add_argument("files", nargs="*", help="JSONL question files (default: tests/data/*.jsonl)")
    evaluate.add_argument("--json", action="store_true", help="machine-readable output")
    evaluate.add_argument("-q", "--quiet", action="store_true", help="do not list the misses")
    evaluate.set_defaults(func=cmd_eval)

    tune = commands.add_parser("tune", help="grid-search scoring weights on the tuning questions")
    tune.add_argument("--ablation", action="store_true", help="print the table of techniques instead")
    tune.set_defaults(func=cmd_tune)

    serve = commands.add_parser("serve", help="serve the JSON API and the chat page")
    serve.add_argument("--host", help="address to bind (QA_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (QA_PORT; default 8000)")
    serve.add_argument("--public", action="store_true", help="allow binding a non-loopback address")
    serve.set_defaults(func=cmd_serve)

    bench = commands.add_parser("bench", help="measure latency, throughput, cold start and memory")
    bench.add_argument("--out", default=str(PROJECT_ROOT / "benchmarks" / "results.json"), help="JSON file")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("faiss", "sentence_transformers", "bm25s", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except (ValueError, OSError) as error:  # bad QA_* settings, unreadable reports and the like
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
