"""`python -m bench [--quick]`: the stack's overhead and capacity, measured against the Kiro emulator.

Starts the emulator, a gateway, router(s) and a refresher as real processes and measures, interleaved in
the same run (rounds rotate the order), three paths: `direct` (client → emulator speaking Kiro), `gateway`
(client → gateway → emulator) and `router` (client → router → gateway → emulator); non-streamed answers,
50-event streams sent at once (CPU-bound) for a small prompt and for Claude Code's captured 76 KB first
turn, and 50-event streams paced over ~1 s as a model writes (bound by the upstream, as in real use;
levels ≥ 50 only); at several concurrency levels. The router path is measured again through a router and
a gateway running WORKERS=2 (throughput against 1 worker, CPU per request of every process, idle RSS/PSS
per worker). Then holds `--hold` streams open
at once through one router. Prints a table and the goals, saves JSON under bench/results/, runs
bench/codec_bench.py, bench/pick_bench.py and bench/refresh_bench.py when present, and profiles router and
gateway with py-spy when a goal is missed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import profile, report
from bench.load import Job, Sample, Scenario, Target, run_job
from bench.memory import MIB, PeakSampler, pss_bytes, rss_bytes
from bench.stack import BenchStack
from bench.stats import summarize

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
NONSTREAM = Scenario("nonstream", stream=False, events=1)
STREAM50 = Scenario("stream50", stream=True, events=50)
# Claude Code's captured 76 KB first turn (24 tools) streaming 50 events: the router's body handling and
# the gateway's translation at a real client's size
CLAUDE_CODE50 = Scenario(report.CLAUDE_CODE_SCENARIO, stream=True, events=50, body="claude_code")
# as a model writes (50 events over ~1 s): throughput bound by the upstream, not by CPU
PACED50 = Scenario(report.PACED_SCENARIO, stream=True, events=50, delay_ms=20)
PACED_WARMUP = 1.5  # longer than one paced answer, so every loop is mid-stream when measuring starts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run: levels 1,50, one round, 1.5 s each")
    parser.add_argument("--levels", help="comma-separated concurrency levels (default 1,50,200,400)")
    parser.add_argument("--duration", type=float, help="measured seconds per point (default 3, quick 1.5)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per point (default 2, quick 1)")
    parser.add_argument("--clients", type=int, default=2, help="load client processes (default 2)")
    parser.add_argument("--routers", type=int, default=1, help="router processes (default 1)")
    parser.add_argument("--hold", type=int, default=500, help="streams held open at once (0 = skip)")
    parser.add_argument("--profile", choices=["auto", "always", "never"], default="auto")
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    parser.add_argument(
        "--profile-body",
        choices=["small", "claude_code"],
        default="small",
        help="request body the profile runs on (default small; claude_code = the 76 KB first turn)",
    )
    args = parser.parse_args(argv)
    args.levels = [int(x) for x in (args.levels or ("1,50" if args.quick else "1,50,200,400")).split(",")]
    args.duration = args.duration or (1.5 if args.quick else 3.0)
    args.rounds = args.rounds or (1 if args.quick else 2)
    return args


def targets(stack: BenchStack) -> list[Target]:
    account = stack.account
    assert account is not None
    direct = Target(
        "direct",
        (stack.procs["emulator"].url,),
        (("authorization", f"Bearer {account.access_token}"),),
        "kiro",
    )
    gateway_headers = (
        ("x-internal-key", stack.internal_key),
        ("x-kiro-access-token", account.access_token),
        ("x-kiro-account-id", account.name),
        ("x-kiro-auth-kind", "social"),
        ("x-kiro-profile-arn", account.profile_arn),
        ("anthropic-version", "2023-06-01"),
    )
    gateway = Target("gateway", (stack.procs["gateway"].url,), gateway_headers, "anthropic")
    router_headers = (("x-api-key", stack.client_key), ("anthropic-version", "2023-06-01"))
    router = Target("router", tuple(r.url for r in stack.routers), router_headers, "anthropic")
    return [direct, gateway, router]


def workers_target(stack: BenchStack, router: Target) -> Target:
    """The router path again, through the WORKERS=2 router and gateway."""
    return Target(report.WORKERS_TARGET, (stack.procs["w2-router"].url,), router.headers, "anthropic")


class Runner:
    """Runs measurement points on a pool of client processes and keeps their samples."""

    def __init__(self, pool: Any, clients: int, sampler: PeakSampler) -> None:
        self.pool = pool
        self.clients = clients
        self.sampler = sampler

    def run(
        self,
        target: Target,
        scenario: Scenario,
        concurrency: int,
        duration: float,
        warmup: float = 0.5,
        *,
        ramp: float = 0.0,
        once: bool = False,
    ) -> tuple[list[Sample], dict[str, float], dict[str, float]]:
        workers = max(1, min(self.clients, concurrency))
        shares = [concurrency // workers + (1 if n < concurrency % workers else 0) for n in range(workers)]
        start_at = time.time() + 0.2
        jobs = [
            Job(target, scenario, share, start_at, warmup, duration, n, ramp=ramp, once=once)
            for n, share in enumerate(shares)
        ]
        self.sampler.window()
        parts = self.pool.map(run_job, jobs)
        samples = [s for part, _ in parts for s in part]
        peaks, cpu = self.sampler.window()
        cpu["client"] = round(sum(spent for _, spent in parts), 3)
        return samples, peaks, cpu


def measure_matrix(runner: Runner, paths: list[Target], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (scenario, level) point, the three paths back to back, order rotated each round."""
    collected: dict[tuple[str, int, str], list[Sample]] = {}
    peaks: dict[tuple[str, int, str], dict[str, float]] = {}
    cpu: dict[tuple[str, int, str], dict[str, float]] = {}
    for round_no in range(args.rounds):
        for scenario in (NONSTREAM, STREAM50, CLAUDE_CODE50, PACED50):
            paced = scenario is PACED50
            for level in [n for n in args.levels if n >= 50] if paced else args.levels:
                shift = round_no % len(paths)
                for target in paths[shift:] + paths[:shift]:
                    warmup = PACED_WARMUP if paced else 0.5
                    samples, peak, used = runner.run(target, scenario, level, args.duration, warmup)
                    key = (scenario.name, level, target.name)
                    collected.setdefault(key, []).extend(samples)
                    old = peaks.get(key, {})
                    peaks[key] = {k: max(v, old.get(k, 0.0)) for k, v in peak.items()}
                    spent = cpu.get(key, {})
                    cpu[key] = {k: v + spent.get(k, 0.0) for k, v in used.items()}
                    print(
                        f"  {scenario.name:<10} c={level:<4} {target.name:<8} {len(samples)} requests",
                        flush=True,
                    )
    results = []
    for (scenario_name, level, target_name), samples in collected.items():
        row: dict[str, Any] = {"scenario": scenario_name, "concurrency": level, "target": target_name}
        paced = scenario_name == PACED50.name
        row |= summarize(samples, args.duration * args.rounds, closed_loop=level if paced else 0)
        row["rss_peak_mib"] = peaks[(scenario_name, level, target_name)]
        requests = max(1, len(samples))  # CPU was spent on warm-up requests too
        row["cpu_ms_per_request"] = {
            k: round(v * 1000 / requests, 3) for k, v in cpu[(scenario_name, level, target_name)].items() if v
        }
        results.append(row)
    order = {"direct": 0, "gateway": 1, "router": 2}
    scenarios = {"nonstream": 0, "stream50": 1, report.CLAUDE_CODE_SCENARIO: 2, report.PACED_SCENARIO: 3}
    results.sort(key=lambda r: (scenarios[r["scenario"]], r["concurrency"], order[r["target"]]))
    return report.with_ratios(results)


#: where a second worker can help: the CPU-bound points (the upstream answers at once)
WORKER_POINTS = ((STREAM50, 200), (NONSTREAM, 50))


def measure_workers(runner: Runner, paths: list[Target], args: argparse.Namespace) -> list[dict[str, Any]]:
    """router+gateway with 1 and with 2 worker processes each, and direct, interleaved as in the matrix."""
    collected: dict[tuple[str, int, str], list[Sample]] = {}
    cpu: dict[tuple[str, int, str], dict[str, float]] = {}
    points = WORKER_POINTS[:1] if args.quick else WORKER_POINTS
    for round_no in range(args.rounds):
        for scenario, level in points:
            shift = round_no % len(paths)
            for target in paths[shift:] + paths[:shift]:
                samples, _, used = runner.run(target, scenario, level, args.duration)
                key = (scenario.name, level, target.name)
                collected.setdefault(key, []).extend(samples)
                cpu[key] = {k: v + cpu.get(key, {}).get(k, 0.0) for k, v in used.items()}
                print(
                    f"  {scenario.name:<10} c={level:<4} {target.name:<9} {len(samples)} requests", flush=True
                )
    results = []
    for (scenario_name, level, target_name), samples in collected.items():
        row: dict[str, Any] = {"scenario": scenario_name, "concurrency": level, "target": target_name}
        row |= summarize(samples, args.duration * args.rounds)
        requests = max(1, len(samples))
        row["cpu_ms_per_request"] = {
            k: round(v * 1000 / requests, 3) for k, v in cpu[(scenario_name, level, target_name)].items() if v
        }
        results.append(row)
    return report.with_worker_ratios(report.with_ratios(results))


#: the gauge(s) of open streams each service exports
_OPEN_STREAM_GAUGES = re.compile(
    r"^(?:kiro_router_inflight|kiro_gateway_inflight_streams)(?:\{[^}]*\})? (\S+)$", re.M
)


class OpenStreams:
    """Polls each service's open-streams gauge (router: `kiro_router_inflight`, gateway:
    `kiro_gateway_inflight_streams`) and keeps the peak per URL."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.peak = dict.fromkeys(urls, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="open-streams", daemon=True)

    def __enter__(self) -> OpenStreams:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self._stop.wait(0.1):
                for url in self.urls:
                    try:
                        text = client.get(url + "/metrics").text
                    except httpx.HTTPError:
                        continue
                    open_now = sum(float(v) for v in _OPEN_STREAM_GAUGES.findall(text))
                    self.peak[url] = max(self.peak[url], open_now)


def hold_streams(
    runner: Runner, router: Target, gateway_url: str, streams: int, routers: int
) -> dict[str, Any]:
    """`streams` slow 50-event streams (7.5 s each, as a model writes) opened over 2 s: all open at once."""
    paced = Scenario("hold", stream=True, events=50, delay_ms=150)
    with OpenStreams([*router.urls, gateway_url]) as gauge:
        samples, peak, _ = runner.run(router, paced, streams, duration=0.0, warmup=0.0, ramp=2.0, once=True)
    row: dict[str, Any] = {"scenario": "hold", "concurrency": streams, "target": "router", "routers": routers}
    row |= summarize(samples, 9.5)
    row["rss_peak_mib"] = peak
    row["peak_open_streams_per_router"] = max(gauge.peak[url] for url in router.urls)
    row["peak_open_streams_gateway"] = gauge.peak[gateway_url]
    return row


def run_other_benches(quick: bool) -> dict[str, Any]:
    """bench/codec_bench.py, bench/pick_bench.py and bench/refresh_bench.py, when present."""
    found: dict[str, Any] = {}
    for name in ("codec_bench", "pick_bench", "refresh_bench"):
        script = ROOT / "bench" / f"{name}.py"
        if not script.exists():
            found[name] = "not present"
            continue
        cmd = [sys.executable, "-m", f"bench.{name}", *(["--quick"] if quick else [])]
        try:
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            found[name] = {"command": " ".join(cmd), "error": "timed out after 600 s"}
            continue
        found[name] = {"command": " ".join(cmd), "exit": done.returncode, "output": done.stdout[-4000:]}
        if done.returncode:
            found[name]["stderr"] = done.stderr[-2000:]
    return found


def profile_stack(
    runner: Runner, stack: BenchStack, router: Target, seconds: float, out_dir: Path, body: str = "small"
) -> dict[str, Any]:
    """py-spy on router-1 and the gateway while 200 streams (of `body`) run through them."""
    if profile.py_spy() is None:
        return {"error": "py-spy not installed"}
    pids = stack.pids()
    recordings = {}
    for name in ("router-1", "gateway"):
        out = out_dir / f"{name}.pyspy.txt"
        proc = profile.start_recording(pids[name], out, seconds)
        if proc is not None:
            recordings[name] = (proc, out)
    runner.run(
        router, CLAUDE_CODE50 if body == "claude_code" else STREAM50, 200, duration=seconds, warmup=0.0
    )
    summary: dict[str, Any] = {}
    for name, (proc, out) in recordings.items():
        _, err = proc.communicate(timeout=seconds + 30)
        if proc.returncode or not out.exists():
            summary[name] = {"error": err.decode(errors="replace")[-500:]}
        else:
            phases = profile.PHASES["router" if name.startswith("router") else "gateway"]
            summary[name] = {"raw": str(out.relative_to(ROOT)), **profile.summarize(out, phases=phases)}
    return summary


def print_profile(summary: dict[str, Any]) -> None:
    for name, data in summary.items():
        if "own" not in data:
            print(f"  {name}: {data.get('error', data)}")
            continue
        print(f"  {name} ({data['samples']} samples of CPU, share of samples):")
        print("    own time:       " + "; ".join(f"{f} {p}%" for f, p in data["own"][:8]))
        print("    inclusive time: " + "; ".join(f"{f} {p}%" for f, p in data["inclusive"][:10]))
        print("    by step:        " + "; ".join(f"{step} {p}%" for step, p in data["phases"].items()))
        print("    own by package: " + "; ".join(f"{pkg} {p}%" for pkg, p in data["own_by_package"][:10]))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    if load_before[0] > (os.cpu_count() or 1):
        print(
            f"warning: load average {load_before[0]:.1f} on {os.cpu_count()} CPUs: figures will be noisy; "
            "CPU ms per request is the steadiest of them",
            flush=True,
        )
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = RESULTS / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    # client processes are forked before any thread exists
    pool = multiprocessing.get_context("fork").Pool(args.clients)
    stack = BenchStack(redis_url, routers_wanted=args.routers)
    sampler: PeakSampler | None = None
    try:
        print(f"starting emulator, gateway, {args.routers} router(s), refresher ...", flush=True)
        stack.start()
        pids = stack.pids()
        cold = {name: round(rss_bytes(pid) / MIB, 1) for name, pid in pids.items()}
        sampler = PeakSampler(pids).start()
        runner = Runner(pool, args.clients, sampler)
        paths = targets(stack)
        for target in paths:  # warm connections, caches, code paths
            runner.run(target, STREAM50, 4, duration=0.5, warmup=0.0)
        time.sleep(1.0)
        idle = {name: round(rss_bytes(pid) / MIB, 1) for name, pid in pids.items()}
        idle_pss = {name: round(pss_bytes(pid) / MIB, 1) for name, pid in pids.items()}
        print("measuring (interleaved) ...", flush=True)
        results = measure_matrix(runner, paths, args)
        print("1 vs 2 worker processes (router and gateway) ...", flush=True)
        workers = measure_workers(runner, [paths[0], paths[2], workers_target(stack, paths[2])], args)
        hold = None
        if args.hold:
            print(f"holding {args.hold} streams open through {args.routers} router(s) ...", flush=True)
            hold = hold_streams(runner, paths[2], paths[1].urls[0], args.hold, args.routers)
        checks = report.goals(results, hold, idle)
        profiled: dict[str, Any] = {}
        if args.profile == "always" or (args.profile == "auto" and not all(c["ok"] for c in checks)):
            print("profiling router and gateway with py-spy ...", flush=True)
            profiled = profile_stack(
                runner, stack, paths[2], args.profile_seconds, out_dir, args.profile_body
            )
        others = run_other_benches(args.quick)
    finally:
        if sampler is not None:
            sampler.stop()
        pool.terminate()
        stack.stop()

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    document = {
        "started": stamp,
        "commit": commit,
        "args": {k: v for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "rss_mib": {"after_start": cold, "idle_after_warmup": idle},
        "pss_mib_idle_after_warmup": idle_pss,
        "results": results,
        "workers": workers,
        "hold": hold,
        "goals": checks,
        "profile": profiled,
        "other_benches": others,
    }
    (out_dir / "bench.json").write_text(json.dumps(document, indent=2))
    print()
    print(report.table(results + ([hold] if hold else [])))
    print()
    print(report.cpu_table(results))
    print()
    print(report.workers_table(workers, idle, idle_pss))
    print()
    print("RSS MiB after start:", " ".join(f"{k}={v:g}" for k, v in cold.items()))
    print("RSS MiB idle (after warm-up):", " ".join(f"{k}={v:g}" for k, v in idle.items()))
    print("goals:")
    print(report.goals_table(checks))
    if profiled:
        print("profile (py-spy, CPU samples under 200 streams):")
        print_profile(profiled)
    for name, data in others.items():
        print(f"{name}: {data if isinstance(data, str) else 'exit ' + str(data.get('exit'))}")
        if isinstance(data, dict) and data.get("output"):
            print("  " + data["output"].strip().replace("\n", "\n  ")[-1500:])
    print(f"saved {out_dir.relative_to(ROOT)}/bench.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
