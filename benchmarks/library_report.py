"""Headline figures per library size, the issue-12 targets, and the printed table of `qa bench --library`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.report import _ms


@dataclass(frozen=True)
class Target:
    """One target: the summary figure it reads, the bound, and which sizes it is checked at."""

    name: str
    key: str
    bound: float
    text: str
    at: str  # "smallest and largest" or "largest"


TARGETS = (
    Target("work beyond the model (HTTP p50 c=1 − bare encode p50)", "beyond_ms", 4.0, "≤ 4 ms", "both"),
    Target("HTTP p50 (c=1) / bare encode p50", "http_over_encode", 1.5, "≤ 1.5×", "largest"),
    Target("scoped p50 / unscoped p50 (c=1)", "scoped_over_unscoped", 1.0, "≤ 1.0×", "largest"),
    Target("cold start to `/healthz` 200", "cold_start_s", 15.0, "≤ 15 s", "largest"),
    Target("server peak RSS", "peak_rss_mb", 1500.0, "≤ 1,500 MB", "largest"),
    Target("`qa add` one report: index update", "add_index_s", 5.0, "≤ 5 s", "largest"),
)


def _phase(load: list[dict], name: str) -> dict:
    return next(phase for phase in load if phase["name"] == name)


def summarise_size(result: dict) -> dict:
    """The figures the targets read, for one library size."""
    inproc, served, add = result["inproc"], result["served"], result["add"]
    encode = inproc["encode_ms"]["p50"]
    unscoped = _phase(served["load"], "c1")["latency_ms"]["p50"]
    scoped = _phase(served["load"], "c1-scoped")["latency_ms"]["p50"]
    best = max(served["load"], key=lambda phase: phase["rps"])
    dense_ms = inproc["dense_search_ms"]["p50"]
    return {
        "encode_p50_ms": encode,
        "http_c1_p50_ms": unscoped,
        "http_over_encode": round(unscoped / encode, 2),
        "beyond_ms": round(unscoped - encode, 2),
        "scoped_p50_ms": scoped,
        "scoped_over_unscoped": round(scoped / unscoped, 2),
        "after_encode_p50_ms": inproc["after_encode_ms"]["p50"],
        "dense_search_p50_ms": dense_ms,
        "dense_ms_per_10k_units": round(dense_ms * 10_000 / max(inproc["units"], 1), 3),
        "best_rps": best["rps"],
        "best": best["name"],
        "errors": sum(phase["errors"] for phase in served["load"]),
        "cold_start_s": served["ready_s"],
        "peak_rss_mb": served["peak_rss_mb"],
        "build_s": result["build_s"],
        "add_index_s": add["index_s"],
        "add_process_s": add["process_s"],
        "add_texts_encoded": add["texts_encoded"],
        "add_report_units": add["report_units"],
        "index_mb": result["disk"]["index_mb"],
        "cache_mb": result["disk"]["cache_mb"],
    }


def check_targets(sizes: list[dict]) -> list[dict]:
    """Each target at the sizes it names: the smallest and largest library, or the largest."""
    checks = []
    for target in TARGETS:
        chosen = [sizes[0], sizes[-1]] if target.at == "both" and len(sizes) > 1 else [sizes[-1]]
        for size in chosen:
            value = size["summary"][target.key]
            checks.append(
                {
                    "name": target.name,
                    "reports": size["reports"],
                    "value": value,
                    "target": target.text,
                    "met": value <= target.bound,
                }
            )
    return checks


Row = tuple[str, Callable[[dict], str], str]


def _s(size: dict, key: str) -> float:
    return size["summary"][key]


ROWS: tuple[Row, ...] = (
    ("passages / units", lambda s: f"{s['passages']:,} / {s['units']:,}", ""),
    ("`qa build` from nothing (whole process)", lambda s: f"{s['summary']['build_s']:.1f} s", ""),
    ("`qa add` one report: index update (whole process)",
     lambda s: f"{s['summary']['add_index_s']:.1f} s ({s['summary']['add_process_s']:.1f} s)", "add_index_s"),
    ("texts `qa add` encoded (the report's units)",
     lambda s: f"{s['summary']['add_texts_encoded']} ({s['summary']['add_report_units']})", ""),
    ("index on disk (+ embedding cache)",
     lambda s: f"{s['summary']['index_mb']:.1f} MB (+{s['summary']['cache_mb']:.1f} MB)", ""),
    ("cold start to `/healthz` 200", lambda s: f"{s['summary']['cold_start_s']:.2f} s", "cold_start_s"),
    ("server peak RSS", lambda s: f"{s['summary']['peak_rss_mb']:.0f} MB", "peak_rss_mb"),
    ("bare encode p50", lambda s: _ms(s["summary"]["encode_p50_ms"]), ""),
    ("HTTP c=1 p50, unscoped", lambda s: _ms(s["summary"]["http_c1_p50_ms"]), ""),
    ("HTTP p50 (c=1) / bare encode p50", lambda s: f"{_s(s, 'http_over_encode')}×", "http_over_encode"),
    ("work beyond the model (HTTP p50 − encode p50)", lambda s: _ms(s["summary"]["beyond_ms"]), "beyond_ms"),
    ("HTTP c=1 p50, scoped to one doc", lambda s: _ms(s["summary"]["scoped_p50_ms"]), ""),
    ("scoped p50 / unscoped p50", lambda s: f"{_s(s, 'scoped_over_unscoped')}×", "scoped_over_unscoped"),
    ("in-process search after the encode p50", lambda s: _ms(s["summary"]["after_encode_p50_ms"]), ""),
    ("flat FAISS search over every unit p50 (per 10k units)",
     lambda s: f"{_ms(_s(s, 'dense_search_p50_ms'))} ({_ms(_s(s, 'dense_ms_per_10k_units'))})", ""),
    ("best throughput, errors",
     lambda s: f"{s['summary']['best_rps']:.1f} req/s ({s['summary']['best'].replace('c', 'c=')}), "
               f"{s['summary']['errors']} errors", ""),
)  # fmt: skip


def format_library_report(results: dict) -> dict:
    """The table (one column per library size, every target with its verdict) and the checks."""
    sizes = results["sizes"]
    checks = check_targets(sizes)
    head = " | ".join(f"{s['reports']:,} report{'s' if s['reports'] != 1 else ''}" for s in sizes)
    lines = [f"| Measure | {head} | Target | |", "| --- | " + "--- | " * len(sizes) + "--- | --- |"]
    for name, cell, key in ROWS:
        cells = " | ".join(cell(size) for size in sizes)
        lines.append(f"| {name} | {cells} | {_target_text(key)} | {_verdicts(checks, key)} |")
    minutes = results["total_s"] / 60
    lines += [
        "",
        f"- whole run: {minutes:.1f} minutes; per size: "
        + ", ".join(f"{s['reports']:,} → {s['seconds']:.0f} s" for s in sizes),
        f"- machine: {results['machine']['cpu']}, {results['machine']['cores']} cores; "
        f"load average before {results['machine']['load_before']}",
        f"- pinning: {results['pinning']}",
        f"- load generator: {results['loadgen']}",
    ]
    return {"text": "\n".join(lines), "targets": checks}


def _target_text(key: str) -> str:
    target = next((t for t in TARGETS if t.key == key), None)
    if target is None:
        return ""
    return f"{target.text} ({'1 and largest' if target.at == 'both' else 'largest'})"


def _verdicts(checks: list[dict], key: str) -> str:
    target = next((t for t in TARGETS if t.key == key), None)
    if target is None:
        return ""
    mine = [check for check in checks if check["name"] == target.name]
    return ", ".join(f"{'met' if c['met'] else '**missed**'} ({c['reports']:,})" for c in mine)
