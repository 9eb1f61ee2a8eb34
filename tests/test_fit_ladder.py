"""The fit's ladder: chains shrink as a whole, nothing is cut that did not need to be, and
steps that cut nothing are neither run twice over the item nor recorded."""

from __future__ import annotations

import copy
import json
from typing import Any, Dict, List

from rollbar_notifier.truncate import encode, fit

LIMIT = 32768


def frame(n: int, local: str = "") -> Dict[str, Any]:
    result: Dict[str, Any] = {"filename": f"app/module_{n}.py", "lineno": n, "method": f"f{n}",
                              "code": "x = compute(y)" * 4}
    if local:
        result["locals"] = {"value": local}
    return result


def trace(frames: int, local: str = "") -> Dict[str, Any]:
    return {"frames": [frame(n, local) for n in range(frames)],
            "exception": {"class": "ValueError", "message": "bad"}}


def item(body: Dict[str, Any], **data: Any) -> Dict[str, Any]:
    return {"data": {"environment": "production", "level": "error", "uuid": "u" * 36,
                     "language": "python", "body": body, **data}}


def steps(body: bytes) -> List[str]:
    truncated: List[str] = json.loads(body)["data"]["notifier"]["diagnostic"]["truncated"][
        "steps"]
    return truncated


def test_later_traces_of_a_chain_keep_only_their_innermost_frames() -> None:
    chain = [trace(120) for _ in range(10)]
    body = fit(item({"trace_chain": chain}), LIMIT)
    kept = json.loads(body)["data"]["body"]["trace_chain"]
    assert len(body) <= LIMIT and steps(body) == ["frames_10_40"]
    assert [len(t["frames"]) for t in kept] == [50] + [10] * 9
    assert kept[1]["frames"][-1]["method"] == "f119" and kept[1]["omitted_frames"] == 110
    assert kept[0]["omitted_frames"] == 70


def test_steps_that_find_nothing_are_not_recorded_and_nothing_more_is_cut() -> None:
    payload = item({"message": {"body": "hello"}}, custom={"blob": "b" * 50_000})
    body = fit(payload, LIMIT)
    assert steps(body) == ["strings_1024"]
    assert json.loads(body)["data"]["body"]["message"]["body"] == "hello"

    locals_only = item({"trace": trace(12, local="v" * 3000)})
    body = fit(locals_only, LIMIT)
    frames = json.loads(body)["data"]["body"]["trace"]["frames"]
    assert steps(body) == ["locals_outer"]
    assert frames[-1]["locals"] == {"value": "v" * 3000} and len(frames) == 12


def test_the_fit_stops_at_the_first_rung_that_fits() -> None:
    """Its own count of what each step saved only spares encodings: at every limit, the
    item one rung earlier (measured when the fit stopped there) would not have fitted."""
    payload = item({"trace_chain": [trace(60, local="l" * 400) for _ in range(3)]},
                   custom={"blob": "é" * 20_000, "list": list(range(300))})
    original = len(encode(payload))
    stopped = {}
    for limit in range(original - 1, 2000, -max(original // 80, 1)):
        body = fit(copy.deepcopy(payload), limit)
        assert len(body) <= limit
        stopped[limit] = tuple(steps(body))
    size_at = {rungs: len(fit(copy.deepcopy(payload), limit))
               for limit, rungs in stopped.items()}
    for limit, rungs in stopped.items():
        if len(rungs) > 1 and rungs[:-1] in size_at:
            assert size_at[rungs[:-1]] > limit, (limit, rungs)
    assert len(set(stopped.values())) >= 6
