"""CPU a sender thread spends on one exception item, stage by stage.

A sender builds the payload (frames, which come scrubbed but for their locals, and
telemetry events), scrubs the rest, encodes it (fitting it to the limit) and posts it.
Each stage is timed on its own with ``time.thread_time`` (CPU of this thread only, so
waiting for the server does not count), over the same items as
``delivery_throughput.py``: 12 frames with locals and 50 telemetry events each. The
builder's shared parts are warm, as on a sender that has sent before. The baseline, in
the same run: the CPU one ``requests.Session().post`` of the same body costs, the way a
plain client sends it.
Usage: ``python benchmarks/sender_cost.py [--rounds N] [--count N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Dict, List

import requests
from delivery_throughput import TOKEN, failure_event, let_app_log, log_activity, sink

from rollbar_notifier import telemetry
from rollbar_notifier.config import Config
from rollbar_notifier.http_transport import HttpTransport
from rollbar_notifier.item import ItemBuilder
from rollbar_notifier.transport import Request
from rollbar_notifier.truncate import fit, precut

STAGES = ("build", "scrub", "encode", "post", "requests_post")


def one_round(endpoint: str, count: int) -> Dict[str, float]:
    config = Config.from_options({"access_token": TOKEN, "endpoint": endpoint})
    builder = ItemBuilder(config)
    transport = HttpTransport(config.endpoint, config.access_token, config.timeout)
    session = requests.Session()
    headers = {"X-Rollbar-Access-Token": TOKEN, "Content-Type": "application/json"}
    events = [failure_event(n, config) for n in range(count)]
    builder.build(events[0])  # warm: the shared parts are made once per sender
    spent: Dict[str, List[float]] = {stage: [] for stage in STAGES}
    limit = config.max_body_bytes
    try:
        for event in events:
            started = time.thread_time()
            payload = builder.payload(precut(event, limit)[0])
            built = time.thread_time()
            scrubbed = builder.scrubber.scrub(payload)
            scrubbed_at = time.thread_time()
            body = fit(scrubbed, limit)
            encoded = time.thread_time()
            transport.send(Request("POST", "item/", body))
            posted = time.thread_time()
            session.post(endpoint + "item/", data=body, headers=headers, timeout=10)
            done = time.thread_time()
            for stage, begin, end in (("build", started, built), ("scrub", built, scrubbed_at),
                                      ("encode", scrubbed_at, encoded),
                                      ("post", encoded, posted),
                                      ("requests_post", posted, done)):
                spent[stage].append((end - begin) * 1e6)
    finally:
        transport.close()
        session.close()
    return {stage: statistics.median(values) for stage, values in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    config = Config.from_options({"access_token": TOKEN})
    telemetry.attach(config.telemetry_size, config.telemetry_level)  # as a notifier does
    let_app_log()
    log_activity()
    with sink(0.0) as endpoint:
        rounds = [one_round(endpoint, args.count) for _ in range(args.rounds)]
    result = {stage: round(statistics.median(r[stage] for r in rounds), 1) for stage in STAGES}
    ours = sum(result[stage] for stage in ("build", "scrub", "encode", "post"))
    result["sender_total"] = round(ours, 1)
    result["ratio_to_requests_post"] = round(ours / result["requests_post"], 2)
    print(f"sender CPU per exception item (us, medians of {args.rounds} rounds of "
          f"{args.count}): build {result['build']}, scrub {result['scrub']}, encode "
          f"{result['encode']}, post {result['post']}; total {ours:.1f} = "
          f"{result['ratio_to_requests_post']}x one requests.Session().post "
          f"({result['requests_post']})", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
