"""The benchmark's verdicts and its printed table, from the result dictionary alone.

Kept apart from the runner so the arithmetic (ratios, targets, met / not met) is tested on
plain numbers, and a JSON file written by an earlier run can be printed again.
"""

from __future__ import annotations

from typing import Any

#: The issue's targets, measured as ratios in one run (issue 5, item 7).
ENGINE_VS_DLT = 2.0
ENGINE_VS_COPY = 0.30
RSS_GROWTH = 1.5


def _rate(part: dict[str, Any] | None) -> float | None:
    value = (part or {}).get("records_per_s")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None


def verdicts(result: dict[str, Any]) -> dict[str, Any]:
    """Ratios and targets; a target whose inputs were not measured is ``met: None``."""
    engine = result.get("engine") or {}
    engine_rate = _rate(engine)
    dlt_rate = _rate(result.get("dlt"))
    copy_rate = _rate(result.get("copy"))
    at_mark, at_end = engine.get("peak_rss_at_mark_bytes"), engine.get("peak_rss_bytes")
    rss = at_end / at_mark if at_mark and at_end else None
    ratios = {"engine_vs_dlt": _ratio(engine_rate, dlt_rate),
              "engine_vs_copy": _ratio(engine_rate, copy_rate), "rss_growth": rss}
    mark = engine.get("rss_mark_records") or 0
    records = result.get("records") or 0

    def target(name: str, wanted: str, value: float | None, met: bool) -> dict[str, Any]:
        return {"name": name, "target": wanted, "value": value,
                "met": None if value is None else met}

    targets = [
        target("engine_vs_dlt", f">= {ENGINE_VS_DLT:g}x dlt records/s",
               ratios["engine_vs_dlt"], (ratios["engine_vs_dlt"] or 0) >= ENGINE_VS_DLT),
        target("engine_vs_copy", f">= {ENGINE_VS_COPY:.0%} of COPY records/s",
               ratios["engine_vs_copy"], (ratios["engine_vs_copy"] or 0) >= ENGINE_VS_COPY),
        target("rss_growth", f"peak RSS({records:,}) <= {RSS_GROWTH:g} x peak RSS({mark:,})",
               rss, (rss or float("inf")) <= RSS_GROWTH),
    ]
    return {"ratios": ratios, "targets": targets}


def _num(value: Any, spec: str = ",.0f", none: str = "-") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else none


def _times(value: Any) -> str:
    return f"{value:.2f}x" if isinstance(value, (int, float)) else "-"


def _mib(value: Any) -> str:
    return f"{value / 2**20:,.1f} MiB" if isinstance(value, (int, float)) else "-"


def _yes(value: Any) -> str:
    return {True: "yes", False: "NO"}.get(value, "-")


def render(result: dict[str, Any]) -> str:
    """The table the benchmark prints (plain text, fit for a terminal and a report)."""
    records = int(result.get("records") or 0)
    engine = result.get("engine") or {}
    dlt = result.get("dlt") or {}
    copy = result.get("copy") or {}
    machine = result.get("machine") or {}
    checks = result.get("verdicts") or verdicts(result)
    ratios = checks["ratios"]
    lines: list[str] = []
    add = lines.append
    add(f"SimpleTrust sync benchmark: {records:,} records, 1,000 per page, 12 mapped fields "
        f"-> PostgreSQL {result.get('postgres_version', '?')}"
        + ("  [QUICK: not a measurement to quote]" if result.get("quick") else ""))
    add(f"machine: {machine.get('cpus', '?')} CPUs, load {machine.get('load_before', '?')} "
        f"before / {machine.get('load_after', '?')} after; {result.get('timestamp', '?')}; "
        f"commit {result.get('commit', '?')}")
    add("")
    def contender(name: str, part: dict[str, Any]) -> None:
        add(f"{name:<42}{_num(part.get('seconds'), ',.1f'):>9}"
            f"{_num(part.get('records_per_s')):>11}{_num(part.get('cpu_seconds'), ',.1f'):>9}"
            f"{_num(part.get('server_cpu_seconds'), ',.1f'):>9}{_yes(part.get('exact')):>7}")

    add(f"{'contender':<42}{'seconds':>9}{'records/s':>11}{'CPU s':>9}{'PG CPU s':>9}"
        f"{'exact':>7}")
    contender("this engine (initial full sync)", engine)
    if dlt.get("available"):
        name = f"dlt {dlt.get('version', '')} rest_api -> postgres (merge)"
        contender(name, dlt)
    else:
        add(f"{'dlt':<42}{'NOT MEASURED: ' + str(dlt.get('error', 'skipped'))}")
    contender("psycopg COPY, prepared rows (ceiling)", copy)
    if engine.get("error"):
        add(f"ENGINE NOT MEASURED: {engine['error']}")
    add("")
    def row(label: str, value: str, note: str = "") -> None:
        add(f"  {label:<30}{value:>14}" + (f"   {note}" if note else ""))

    timeline = engine.get("timeline") or []
    if len(timeline) > 1:
        rates, previous = [], (0, 0.0)
        for done, at, _ in timeline:
            rates.append((done - previous[0]) / (at - previous[1]) if at > previous[1] else 0)
            previous = (done, at)
        add("engine records/s per tenth of the run: " + " ".join(
            f"{r / 1000:.1f}k" for r in rates))
        add("")
    add("ratios (same run, same data)")
    row("engine / dlt", _times(ratios.get("engine_vs_dlt")))
    row("engine / COPY", _num(ratios.get("engine_vs_copy"), ".1%"))
    add("peak RSS of the engine process (one run, taken when the count passed the mark)")
    row(f"at {_num(engine.get('rss_mark_records'))} records",
        _mib(engine.get("peak_rss_at_mark_bytes")))
    row(f"at {records:,} records", _mib(engine.get("peak_rss_bytes")))
    row("ratio", _times(ratios.get("rss_growth")))
    resync = engine.get("resync") or {}
    add("re-sync with 1% changed at the source (full re-read; unchanged hashes not rewritten)")
    seconds = resync.get("seconds")
    row("seconds", _num(seconds, ",.1f"),
        f"{_num(records / seconds if seconds else None)} records read/s; CPU "
        f"{_num(resync.get('cpu_seconds'), ',.1f')} s, PG CPU "
        f"{_num(resync.get('server_cpu_seconds'), ',.1f')} s")
    row("rows written", _num(resync.get("rows_written")),
        f"created {_num(resync.get('created'))}, updated {_num(resync.get('updated'))}, "
        f"deleted {_num(resync.get('deleted'))}; unchanged {_num(resync.get('unchanged'))}")
    row("changed at the source", _num(resync.get("changed_at_source")),
        f"exact: {_yes(resync.get('exact'))}")
    add("")
    add("targets (issue 5)")
    shown = {"engine_vs_dlt": ".2f", "engine_vs_copy": ".1%", "rss_growth": ".2f"}
    for item in checks["targets"]:
        spec = shown.get(item["name"], ".2f")
        value = _num(item["value"], spec) + ("x" if spec == ".2f" and item["value"] else "")
        met = {True: "met", False: "NOT MET", None: "not measured"}[item["met"]]
        add(f"  {item['target']:<46}{value:>10}   {met}")
    return "\n".join(lines)
