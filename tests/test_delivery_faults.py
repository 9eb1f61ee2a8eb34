"""Fault injection against a real local server: every item arrives once the fault ends.

"Once" means once per uuid: a retry after a timeout may deliver the same bytes twice,
which the server deduplicates; an item must never come back under another uuid.
"""

from __future__ import annotations

import math
import time
from typing import Callable, List, Optional

import pytest
from scripted_server import CLOSE, RESET, Recorded, Reply, ScriptedServer

from rollbar_notifier.notifier import Notifier

pytestmark = pytest.mark.slow

FAULT_SECONDS = 2.0


def report_many(notifier: Notifier, count: int = 12) -> List[str]:
    uuids: List[Optional[str]] = []
    for n in range(count):
        try:
            raise RuntimeError(f"fault test {n}")
        except RuntimeError:
            uuids.append(notifier.report_exception())
    assert None not in uuids
    return [u for u in uuids if u is not None]


def assert_all_delivered_once(server: ScriptedServer, uuids: List[str]) -> None:
    assert sorted(set(server.delivered())) == sorted(uuids)
    assert {r.uuid for r in server.requests()} == set(uuids)


def fault_until(deadline: float, fault: Reply) -> Callable[[Recorded], Reply]:
    return lambda request: fault if time.monotonic() < deadline else Reply()


@pytest.mark.parametrize("fault", [Reply(status=500), Reply(status=503), Reply(action=RESET),
                                   Reply(action=CLOSE), Reply(delay=1.0)],
                         ids=["500", "503", "reset", "close", "slow"])
def test_items_survive_a_fault(make_notifier: Callable[..., Notifier], server: ScriptedServer,
                               fault: Reply) -> None:
    server.handle_with(fault_until(time.monotonic() + FAULT_SECONDS, fault))
    notifier = make_notifier(timeout=0.5)
    uuids = report_many(notifier)
    assert notifier.flush(30)
    assert_all_delivered_once(server, uuids)
    stats = notifier.stats()
    assert stats["sent"] == len(uuids) and stats["dropped"] == {} and stats["retried"] > 0


def test_items_survive_the_server_being_down(make_notifier: Callable[..., Notifier],
                                             server: ScriptedServer) -> None:
    notifier = make_notifier(timeout=0.5)
    warm_up = notifier.report_message("warm up the connection pool")
    assert notifier.flush(5)
    server.stop()
    uuids = report_many(notifier)
    time.sleep(FAULT_SECONDS)
    assert not notifier.flush(0)
    server.start()
    assert notifier.flush(30)
    assert warm_up is not None
    assert_all_delivered_once(server, [warm_up, *uuids])
    assert notifier.stats()["dropped"] == {}


def test_429_pauses_sending_until_the_reset(make_notifier: Callable[..., Notifier],
                                            server: ScriptedServer) -> None:
    limited_until = time.monotonic() + FAULT_SECONDS
    reset_at = str(math.ceil(time.time() + FAULT_SECONDS))

    def respond(request: Recorded) -> Reply:
        if time.monotonic() < limited_until:
            return Reply(status=429, headers={"X-Rate-Limit-Reset": reset_at,
                                              "X-Rate-Limit-Remaining-Seconds": "2",
                                              "X-Rate-Limit-Remaining": "0"})
        return Reply()

    server.handle_with(respond)
    notifier = make_notifier(senders=4)
    uuids = report_many(notifier, 40)
    assert notifier.flush(30)
    assert_all_delivered_once(server, uuids)
    while_limited = [r for r in server.requests() if r.at < limited_until]
    assert len(while_limited) <= 4, len(while_limited)
