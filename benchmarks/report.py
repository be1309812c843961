"""Ratios, target checks and the printed table of one benchmark run."""

from __future__ import annotations

from statistics import median

TARGETS = {
    "http_over_encode": 1.5,  # HTTP p50 at concurrency 1 <= 1.5 x bare encode p50
    "throughput_gain": 3.0,  # best throughput >= 3 x throughput at concurrency 1, zero errors
    "cache_hit_p50_ms": 2.0,
    "cold_start_s": 10.0,
    "peak_rss_mb": 800.0,
}


def _phase(raw: dict, name: str) -> dict:
    return next(phase for phase in raw["load"] if phase["name"] == name)


def summarise_run(raw: dict) -> dict:
    """The headline figures, their ratios, and whether each target is met."""
    inproc = raw["inproc"]
    encode_p50 = inproc["encode_ms"]["p50"]
    c1 = _phase(raw, "c1")
    cache = _phase(raw, "cache")
    throughput = [p for p in raw["load"] if p["name"] != "cache"]
    best = max(throughput, key=lambda p: p["rps"])
    errors = sum(p["errors"] for p in raw["load"])
    ready = [run["ready_s"] for run in raw["cold_start"]["runs"]]
    peak_rss = max(
        [raw["server_memory"]["peak_rss_mb"]] + [run["peak_rss_mb"] for run in raw["cold_start"]["runs"]]
    )
    summary = {
        "encode_p50_ms": encode_p50,
        "ask_p50_ms": inproc["ask_ms"]["p50"],
        "ask_p99_ms": inproc["ask_ms"]["p99"],
        "ask_over_encode": round(inproc["ask_ms"]["p50"] / encode_p50, 2),
        "http_c1_p50_ms": c1["latency_ms"]["p50"],
        "http_c1_p99_ms": c1["latency_ms"]["p99"],
        "http_over_encode": round(c1["latency_ms"]["p50"] / encode_p50, 2),
        "rps": {p["name"]: p["rps"] for p in throughput},
        "best": best["name"],
        "throughput_gain": round(best["rps"] / c1["rps"], 2) if c1["rps"] else 0.0,
        "errors": errors,
        "cache_hit_p50_ms": cache["latency_ms"]["p50"],
        "cache_hit_p99_ms": cache["latency_ms"]["p99"],
        "cold_start_s": round(median(ready), 2),
        "cold_start_max_s": round(max(ready), 2),
        "build_s": raw["build_s"],
        "peak_rss_mb": peak_rss,
    }
    summary["targets"] = _targets(summary)
    return summary


def _targets(s: dict) -> list[dict]:
    t = TARGETS
    return [
        _target("HTTP p50 (c=1) / bare encode p50", s["http_over_encode"], f"≤ {t['http_over_encode']}×",
                s["http_over_encode"] <= t["http_over_encode"]),
        _target("best throughput / throughput at c=1", s["throughput_gain"],
                f"≥ {t['throughput_gain']}×, 0 errors",
                s["throughput_gain"] >= t["throughput_gain"] and s["errors"] == 0),
        _target("cache-hit p50 (HTTP, c=1)", s["cache_hit_p50_ms"], f"≤ {t['cache_hit_p50_ms']} ms",
                s["cache_hit_p50_ms"] <= t["cache_hit_p50_ms"]),
        _target("cold start to /healthz ready (median)", s["cold_start_s"], f"≤ {t['cold_start_s']} s",
                s["cold_start_s"] <= t["cold_start_s"]),
        _target("server peak RSS", s["peak_rss_mb"], f"≤ {t['peak_rss_mb']:.0f} MB",
                s["peak_rss_mb"] <= t["peak_rss_mb"]),
    ]  # fmt: skip


def _target(name: str, value: float, target: str, met: bool) -> dict:
    return {"name": name, "value": value, "target": target, "met": met}


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value >= 10 else f"{value:.2f} ms"


def format_report(results: dict) -> str:
    """Markdown tables: headline figures with targets, then every load phase."""
    s, raw = results["summary"], results["raw"]
    lines = ["| Measure | Result | Target | |", "| --- | --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in _headline_rows(s, raw["inproc"])]
    lines += ["", _phase_table(raw), "", _context(raw)]
    return "\n".join(lines)


def _headline_rows(s: dict, inproc: dict) -> list[tuple[str, str, str, str]]:
    verdict = ["met" if t["met"] else "**missed**" for t in s["targets"]]
    after = inproc["after_encode_ms"]
    best = s["best"].replace("c", "c=")
    rows = [
        ("bare `model.encode`, one question, p50", _ms(s["encode_p50_ms"]), "", ""),
        ("in-process ask p50 / p99", f"{_ms(s['ask_p50_ms'])} / {_ms(s['ask_p99_ms'])}", "", ""),
        ("in-process ask p50 / bare encode p50", f"{s['ask_over_encode']}×", "", ""),
        ("search after the encode p50 / p99", f"{_ms(after['p50'])} / {_ms(after['p99'])}", "", ""),
        ("HTTP `/api/ask` c=1 p50 / p99", f"{_ms(s['http_c1_p50_ms'])} / {_ms(s['http_c1_p99_ms'])}", "", ""),
        ("HTTP p50 (c=1) / bare encode p50", f"{s['http_over_encode']}×", "≤ 1.5×", verdict[0]),
    ]
    rows += [
        (f"throughput {n.replace('c', 'c=')}", f"{rps:.1f} req/s", "", "") for n, rps in s["rps"].items()
    ]
    gain = f"{s['throughput_gain']}×, {s['errors']} errors"
    cache = f"{_ms(s['cache_hit_p50_ms'])} / {_ms(s['cache_hit_p99_ms'])}"
    cold = f"{s['cold_start_s']:.2f} s / {s['cold_start_max_s']:.2f} s"
    rows += [
        (f"best ({best}) / c=1, errors (all phases)", gain, "≥ 3×, 0 errors", verdict[1]),
        ("cache hit (repeated question) p50 / p99", cache, "p50 ≤ 2 ms", verdict[2]),
        ("cold start, process start to `/healthz` 200 (median / max)", cold, "≤ 10 s", verdict[3]),
        ("`qa build` (fresh index, whole process)", f"{s['build_s']:.1f} s", "", ""),
        ("server peak RSS", f"{s['peak_rss_mb']:.0f} MB", "≤ 800 MB", verdict[4]),
    ]
    return rows


def _phase_table(raw: dict) -> str:
    lines = [
        "| Phase | Concurrency | Requests | Errors | req/s (by turn) | p50 | p90 | p99 "
        "| cores: server / load gen / other |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in raw["load"]:
        lat = p["latency_ms"]
        lines.append(
            f"| {p['name']} | {p['concurrency']} | {p['requests']} | {p['errors']} | {_rps(p)} | "
            f"{_ms(lat['p50'])} | {_ms(lat['p90'])} | {_ms(lat['p99'])} | {_cores(p.get('cpu') or {})} |"
        )
    return "\n".join(lines)


def _rps(phase: dict) -> str:
    """Requests per second over the phase, and in each of its turns when it had several."""
    turns = phase.get("rps_by_turn") or []
    by_turn = f" ({', '.join(f'{rps:.0f}' for rps in turns)})" if len(turns) > 1 else ""
    return f"{phase['rps']:.1f}{by_turn}"


def _cores(cpu: dict) -> str:
    """Average cores busy during the phase (2.00 = both cores of this machine, all the time)."""
    if not cpu:
        return ""
    return f"{cpu['server_cores']:.2f} / {cpu['loadgen_cores']:.2f} / {cpu['other_cores']:.2f}"


def _context(raw: dict) -> str:
    m = raw["machine"]
    cold = raw["cold_start"]["runs"]
    counters = raw.get("server_counters") or {}
    batch = inproc_batches(raw["inproc"])
    ready = [f"{run['ready_s']:.2f} s" for run in cold]
    firsts = [f"{_ms(run['first_answer_ms'])} (then {_ms(run['second_answer_ms'])})" for run in cold]
    return "\n".join(
        [
            f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}; "
            f"load average before {m['load_before']}, after {m['load_after']}",
            f"- pinning: {raw['pinning']}",
            f"- load generator: {raw.get('loadgen', '')}; cores: average CPU cores busy during the phase",
            f"- settings: {raw['settings']}",
            f"- cold starts: {', '.join(ready)}; first answer after ready {', '.join(firsts)}; "
            f"server's own breakdown: {cold[-1]['breakdown']}",
            f"- bare encode cost per question in one call: {batch}",
            f"- server counters after the run: {counters}",
            f"- questions: {raw['questions']}",
        ]
    )


def inproc_batches(inproc: dict) -> str:
    per = inproc["batch_encode_ms_per_question"]
    single = inproc["encode_ms"]["p50"]
    parts = [f"1 → {_ms(single)}"]
    parts += [f"{size} → {_ms(cost)}" for size, cost in per.items()]
    text = ", ".join(parts)
    parallel = inproc.get("parallel_encode_ms_per_question")
    if parallel:
        workers = inproc.get("encode_workers", 1)
        text += (
            f"; 32 on each of {workers} encode workers at once → {_ms(parallel)} of wall time a question, "
            f"so batching can make the model at most {single / parallel:.2f}× faster than one at a time"
        )
    return text
