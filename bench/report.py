"""Tables, goal checks and the JSON result file of a benchmark run."""

from __future__ import annotations

from typing import Any

GOALS = {
    "gateway_added_p50_ms": 1.0,
    "gateway_added_p99_ms": 2.5,
    "router_hop_p50_ms": 1.0,
    "router_hop_p99_ms": 2.0,
    "stack_added_p50_ms": 2.0,
    "stack_added_p99_ms": 5.0,
    "throughput_ratio_min": 0.5,
    "streams_per_router": 400,
    "streams_per_gateway": 300,
    "events_lost": 0,
    "idle_rss_mib": 80.0,
    "hop_cpu_small_ms": 1.2,
    "hop_cpu_claude_code_ms": 3.0,
    "rss_at_500_streams_mib": 120.0,
}


#: the router path through a router and a gateway that run WORKERS=2
WORKERS_TARGET = "router-2w"
#: the processes of each router path: the 1-worker ones, and the 2-worker supervisors with their workers
ONE_WORKER = ("router-1", "gateway")
TWO_WORKERS = ("w2-router", "w2-gateway")

PACED_SCENARIO = "paced50"
CLAUDE_CODE_SCENARIO = "cc_stream50"
#: the level whose CPU per request the CPU goals read: busy enough that idle work is spread thin
CPU_GOAL_LEVEL = 50
PACED_LABEL = "paced upstream, 50 events over 1 s"


def find(
    results: list[dict[str, Any]], scenario: str, concurrency: int, target: str
) -> dict[str, Any] | None:
    for row in results:
        if (row["scenario"], row["concurrency"], row["target"]) == (scenario, concurrency, target):
            return row
    return None


def with_ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row gains TTFT added over the direct path and throughput relative to it."""
    for row in results:
        direct = find(results, row["scenario"], row["concurrency"], "direct")
        if direct is None or row["target"] == "direct":
            continue
        row["added_p50_ms"] = round(row["ttft_p50_ms"] - direct["ttft_p50_ms"], 3)
        row["added_p99_ms"] = round(row["ttft_p99_ms"] - direct["ttft_p99_ms"], 3)
        if direct["throughput_rps"]:
            row["throughput_vs_direct"] = round(row["throughput_rps"] / direct["throughput_rps"], 2)
    return results


def stack_cpu_ms(row: dict[str, Any]) -> float:
    """CPU ms per request of the router and gateway on the row's path, every worker and supervisor
    included."""
    names = TWO_WORKERS if row["target"] == WORKERS_TARGET else ONE_WORKER
    cpu = row.get("cpu_ms_per_request", {})
    return round(sum(v for k, v in cpu.items() if k.split("/")[0] in names), 3)


def with_worker_ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Router-path rows gain their router+gateway CPU per request; 2-worker rows their throughput relative
    to the 1-worker router path at the same point."""
    for row in results:
        if row["target"] not in ("router", WORKERS_TARGET):
            continue
        row["stack_cpu_ms_per_request"] = stack_cpu_ms(row)
        one = find(results, row["scenario"], row["concurrency"], "router")
        if row["target"] == WORKERS_TARGET and one is not None and one["throughput_rps"]:
            row["throughput_vs_1_worker"] = round(row["throughput_rps"] / one["throughput_rps"], 2)
    return results


def workers_table(results: list[dict[str, Any]], idle: dict[str, float], pss: dict[str, float]) -> str:
    """1 vs 2 worker processes per router and gateway: throughput, ratios, CPU per request, idle memory
    (RSS counts the pages a worker shares with its supervisor in both; PSS splits them)."""
    head = (
        f"{'scenario':<10}{'conc':>5} {'target':<10}{'req/s':>9}{'x direct':>9}{'x 1 worker':>11}"
        f"{'TTFT p50':>10}{'p99':>9}{'CPU ms/req':>11}"
    )
    lines = ["Worker processes (router+gateway CPU per request, all processes)", head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r['scenario']:<10}{r['concurrency']:>5} {r['target']:<10}{r['throughput_rps']:>9.1f}"
            f"{_num(r.get('throughput_vs_direct')):>9}{_num(r.get('throughput_vs_1_worker')):>11}"
            f"{r['ttft_p50_ms']:>10.2f}{r['ttft_p99_ms']:>9.2f}{_num(r.get('stack_cpu_ms_per_request')):>11}"
        )
    for label, figures in (("RSS", idle), ("PSS (shared pages by share)", pss)):
        shown = " ".join(
            f"{k}={v:g}" for k, v in figures.items() if k.split("/")[0] in (*ONE_WORKER, *TWO_WORKERS)
        )
        lines.append(f"idle {label} MiB: {shown}")
    return "\n".join(lines)


def table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<10}{'conc':>5} {'target':<8}{'reqs':>7}{'err':>5}{'lost':>5}"
        f"{'TTFT p50':>10}{'p99':>9}{'added p50':>10}{'p99':>9}{'req/s':>9}{'x direct':>9}  peak RSS MiB"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        shown = {k: v for k, v in r.get("rss_peak_mib", {}).items() if k != "refresher" and k[:3] != "w2-"}
        rss = " ".join(f"{k}={v:g}" for k, v in shown.items())
        lines.append(
            f"{r['scenario']:<10}{r['concurrency']:>5} {r['target']:<8}{r['requests']:>7}{r['errors']:>5}"
            f"{r['events_lost']:>5}{r['ttft_p50_ms']:>10.2f}{r['ttft_p99_ms']:>9.2f}"
            f"{_num(r.get('added_p50_ms')):>10}{_num(r.get('added_p99_ms')):>9}"
            f"{r['throughput_rps']:>9.1f}{_num(r.get('throughput_vs_direct')):>9}  {rss}"
        )
    return "\n".join(lines)


def hop_cpu(row: dict[str, Any]) -> float | None:
    """Router + gateway CPU ms per request on a `router` row (what the stack costs beyond Kiro)."""
    cpu = row.get("cpu_ms_per_request", {})
    routers = [v for k, v in cpu.items() if k.startswith("router-")]
    if row["target"] != "router" or "gateway" not in cpu or not routers:
        return None
    return round(float(cpu["gateway"]) + sum(routers), 3)


def cpu_table(results: list[dict[str, Any]]) -> str:
    """CPU milliseconds each process spent per request, by point; `rt+gw` is router + gateway, `/emu` the
    same divided by the emulator's CPU in the same point (a same-process baseline that evens out a busy
    machine)."""
    names = ["emulator", "gateway", "router-1", "client"]
    head = (
        f"{'scenario':<12}{'conc':>5} {'target':<8}"
        + "".join(f"{n:>10}" for n in names)
        + f"{'rt+gw':>9}{'/emu':>7}"
    )
    lines = ["CPU ms per request", head, "-" * len(head)]
    for r in results:
        cpu = r.get("cpu_ms_per_request", {})
        hop = hop_cpu(r)
        emulator = cpu.get("emulator")
        ratio = round(hop / emulator, 2) if hop is not None and emulator else None
        lines.append(
            f"{r['scenario']:<12}{r['concurrency']:>5} {r['target']:<8}"
            + "".join(f"{_num(cpu.get(n)):>10}" for n in names)
            + f"{_num(hop):>9}{_num(ratio):>7}"
        )
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def goals(
    results: list[dict[str, Any]], hold: dict[str, Any] | None, idle: dict[str, float]
) -> list[dict[str, Any]]:
    """Each goal: the measured figure, the limit and whether it holds (latency goals at concurrency 1)."""
    checks: list[dict[str, Any]] = []

    def check(
        name: str, value: float | None, limit: float, *, at_least: bool = False, note: str = ""
    ) -> None:
        ok = value is not None and (value >= limit if at_least else value <= limit)
        checks.append({"goal": name, "value": value, "limit": limit, "ok": ok, "note": note})

    for scenario in ("nonstream", "stream50"):
        router = find(results, scenario, 1, "router")
        gateway = find(results, scenario, 1, "gateway")
        direct = find(results, scenario, 1, "direct")
        if router and gateway and direct:
            hop50 = round(router["ttft_p50_ms"] - gateway["ttft_p50_ms"], 3)
            hop99 = round(router["ttft_p99_ms"] - gateway["ttft_p99_ms"], 3)
            check(
                f"gateway added p50 ms ({scenario}, c=1)",
                gateway["added_p50_ms"],
                GOALS["gateway_added_p50_ms"],
            )
            check(
                f"gateway added p99 ms ({scenario}, c=1)",
                gateway["added_p99_ms"],
                GOALS["gateway_added_p99_ms"],
            )
            check(f"router hop p50 ms ({scenario}, c=1)", hop50, GOALS["router_hop_p50_ms"])
            check(f"router hop p99 ms ({scenario}, c=1)", hop99, GOALS["router_hop_p99_ms"])
            check(
                f"stack added p50 ms ({scenario}, c=1)", router["added_p50_ms"], GOALS["stack_added_p50_ms"]
            )
            check(
                f"stack added p99 ms ({scenario}, c=1)", router["added_p99_ms"], GOALS["stack_added_p99_ms"]
            )
    for scenario, label in (("unpaced", "upstream answers at once, CPU-bound"), ("paced", PACED_LABEL)):
        ratios = [
            r["throughput_vs_direct"]
            for r in results
            if r["target"] == "router"
            and "throughput_vs_direct" in r
            and (r["scenario"] == PACED_SCENARIO) == (scenario == "paced")
        ]
        check(
            f"router+gateway throughput / direct ({label})",
            min(ratios) if ratios else None,
            GOALS["throughput_ratio_min"],
            at_least=True,
        )
    for scenario, goal, label in (
        ("stream50", "hop_cpu_small_ms", "small prompt, 50-event stream"),
        (CLAUDE_CODE_SCENARIO, "hop_cpu_claude_code_ms", "Claude Code 76 KB first turn, 50-event stream"),
    ):
        levels = sorted(
            r["concurrency"] for r in results if r["scenario"] == scenario and r["target"] == "router"
        )
        level = CPU_GOAL_LEVEL if CPU_GOAL_LEVEL in levels else (levels[-1] if levels else 0)
        row = find(results, scenario, level, "router")
        check(
            f"router+gateway CPU ms per request ({label}, c={level})",
            hop_cpu(row) if row else None,
            GOALS[goal],
        )
    rows = [*results, *([hold] if hold else [])]
    lost = sum(r["events_lost"] + r.get("events_reordered", 0) for r in rows)
    check("events lost or reordered (all runs)", lost, GOALS["events_lost"])
    if hold:
        served = hold["errors"] == 0
        check(
            "open streams in one router process, all served",
            hold["peak_open_streams_per_router"] if served else 0,
            GOALS["streams_per_router"],
            at_least=True,
        )
        check(
            "open streams in one gateway process, all served",
            hold.get("peak_open_streams_gateway", 0) if served else 0,
            GOALS["streams_per_gateway"],
            at_least=True,
        )
        for name in ("router-1", "gateway"):
            check(
                f"{name} peak RSS MiB at {hold['concurrency']} streams",
                hold["rss_peak_mib"].get(name),
                GOALS["rss_at_500_streams_mib"],
            )
    for name in ("router-1", "gateway"):
        check(f"{name} idle RSS MiB", idle.get(name), GOALS["idle_rss_mib"])
    return checks


def goals_table(checks: list[dict[str, Any]]) -> str:
    lines = []
    for c in checks:
        mark = "ok  " if c["ok"] else "MISS"
        lines.append(f"  [{mark}] {c['goal']:<52} {_num(c['value']):>9}  (goal {c['limit']:g})")
    return "\n".join(lines)
