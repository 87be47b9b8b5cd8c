"""Micro-benchmark of the event-stream codec and the Kiro event layer: µs per 200-byte frame.

    .venv/bin/python -m bench.codec_bench [--quick] [--frames N] [--repeat R]

Prints one row per case and whether decoding meets the goal of ≤ 3 µs per 200-byte frame. Figures are
process CPU time (best of R runs), so other load on a shared machine inflates them little; the wall
time column shows the same runs by the clock. Decoding and event parsing are timed
separately; "stream" is both together (bytes in, events out), as the gateway drives them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from shared.kiro.events import KiroEventParser, KiroEventStream
from shared.kiro.eventstream import EventStreamDecoder, Frame, encode_event

FRAME_SIZE = 200
GOAL_DECODE_US = 3.0


def text_frame(size: int = FRAME_SIZE) -> bytes:
    """An `assistantResponseEvent` frame of exactly `size` bytes."""
    empty = len(encode_event("assistantResponseEvent", {"content": ""}))
    frame = encode_event("assistantResponseEvent", {"content": "x" * (size - empty)})
    assert len(frame) == size
    return frame


def tool_frame(size: int = FRAME_SIZE) -> bytes:
    """A `toolUseEvent` input-fragment frame of exactly `size` bytes."""
    payload = {"toolUseId": "tooluse_Q2xhdWRlVG9vbDAx", "name": "write_file", "input": ""}
    empty = len(encode_event("toolUseEvent", payload))
    frame = encode_event("toolUseEvent", payload | {"input": "y" * (size - empty)})
    assert len(frame) == size
    return frame


def best_us_per_frame(run: Callable[[], object], frames: int, repeat: int) -> tuple[float, float]:
    """(CPU, wall) µs per frame, each the best of `repeat` runs."""
    best_cpu = best_wall = float("inf")
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        run()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_cpu / frames * 1e6, best_wall / frames * 1e6


def decode_in_chunks(body: bytes, chunk: int) -> Callable[[], object]:
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)]

    def run() -> None:
        decoder = EventStreamDecoder()
        for piece in pieces:
            decoder.feed(piece)
        decoder.close()

    return run


def parse_frames(frames: list[Frame]) -> Callable[[], object]:
    def run() -> None:
        parser = KiroEventParser()
        for frame in frames:
            parser.feed(frame)
        parser.finish()

    return run


def stream_in_chunks(body: bytes, chunk: int) -> Callable[[], object]:
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)]

    def run() -> None:
        stream = KiroEventStream()
        for piece in pieces:
            stream.feed(piece)
        stream.close()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames and runs")
    parser.add_argument("--frames", type=int, default=None, help="frames per run (default 20000)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per case, best kept (default 7)")
    args = parser.parse_args()
    count = args.frames or (2000 if args.quick else 20000)
    repeat = args.repeat or (3 if args.quick else 7)

    text_body = text_frame() * count
    tool_body = tool_frame() * count
    text_frames = EventStreamDecoder().feed(text_body)
    tool_frames = EventStreamDecoder().feed(tool_body)

    cases: list[tuple[str, str, Callable[[], object], int]] = [
        ("decode", "text, 16 KiB chunks", decode_in_chunks(text_body, 16 * 1024), count),
        ("decode", "text, one frame per chunk", decode_in_chunks(text_body, FRAME_SIZE), count),
        ("decode", "text, 1 KiB chunks (unaligned)", decode_in_chunks(text_body, 1000), count),
        ("decode", "text, 7-byte chunks", decode_in_chunks(text_body[: FRAME_SIZE * 500], 7), 500),
        ("events", "text frames → TextDelta", parse_frames(text_frames), count),
        ("events", "tool fragments → ToolUseInputDelta", parse_frames(tool_frames), count),
        ("stream", "text bytes → events, 16 KiB chunks", stream_in_chunks(text_body, 16 * 1024), count),
    ]
    print(f"codec_bench: {FRAME_SIZE}-byte frames, {count} per run, best of {repeat}")
    print(f"{'layer':<8} {'case':<38} {'CPU µs':>8} {'wall µs':>8}")
    decode_figures = []
    for layer, name, run, frames in cases:
        cpu, wall = best_us_per_frame(run, frames, repeat)
        if layer == "decode" and "7-byte" not in name:
            decode_figures.append(cpu)
        print(f"{layer:<8} {name:<38} {cpu:>8.2f} {wall:>8.2f}")
    worst = max(decode_figures)
    verdict = "met" if worst <= GOAL_DECODE_US else "MISSED"
    print(f"goal: decode ≤ {GOAL_DECODE_US:.1f} CPU µs/frame (network chunks): {verdict}, worst {worst:.2f}")


if __name__ == "__main__":
    main()
