"""Cost of the retry de-duplication key per OTLP request: ``python -m loadsense.bench.retry_key``.

collectors/retry_dedup.py keys a request on its content (the decoded message's
deterministic serialization, collectors/otlp/payload.py) so that a retry in the other
encoding is recognised. This measures, per trace export of 100, 1,000 and 5,000 spans
(the benchmark's bodies, bench/payloads.py), in one process and one thread:

- ``bytes key``: the digest of the body alone (what keying on the request bytes costs);
- ``content key``: reserializing the already parsed message and digesting that (what a
  request pays now, on top of the parse it needs anyway);
- ``decode``: the whole receiver (parse, content key, rows), for scale.

Each figure is the median of ``--repeats`` timings of a loop sized to about 20,000 spans.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import time
from collections.abc import Callable, Sequence

from loadsense.bench.payloads import trace_body
from loadsense.collectors.otlp.http import PROTOBUF
from loadsense.collectors.otlp.payload import content_key, parse_traces
from loadsense.collectors.otlp.traces import decode_traces

SIZES = (100, 1_000, 5_000)


def _us_per_call(call: Callable[[], object], loops: int, repeats: int) -> float:
    call()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(loops):
            call()
        timings.append((time.perf_counter() - start) / loops * 1e6)
    return statistics.median(timings)


def measure(spans: int, repeats: int) -> dict[str, float]:
    now_ns = time.time_ns()
    body = trace_body(random.Random(spans), spans, now_ns - 60_000_000_000).data
    request = parse_traces(body, PROTOBUF).request
    loops = max(3, 20_000 // spans)
    return {
        "spans": spans,
        "body_bytes": len(body),
        "bytes_key_us": _us_per_call(
            lambda: hashlib.blake2b(body, digest_size=16).digest(), loops, repeats
        ),
        "content_key_us": _us_per_call(lambda: content_key(request), loops, repeats),
        "decode_us": _us_per_call(
            lambda: decode_traces(body, PROTOBUF, now_ns), max(3, loops // 10), repeats
        ),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print("| spans | body bytes | bytes key (us) | content key (us) | decode (us) | key / decode |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for spans in SIZES:
        m = measure(spans, args.repeats)
        print(
            f"| {spans:,} | {m['body_bytes']:,.0f} | {m['bytes_key_us']:.1f} "
            f"| {m['content_key_us']:.1f} | {m['decode_us']:,.0f} "
            f"| {m['content_key_us'] / m['decode_us']:.1%} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
