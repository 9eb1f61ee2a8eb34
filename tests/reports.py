"""Events built the way ``Notifier.report`` builds them, for tests of the later stages."""

from __future__ import annotations

from typing import Any, Optional

from rollbar_notifier.capture import capture, exc_info_of
from rollbar_notifier.event import Event, ExceptionArg, ReportFields


def capture_exception(exc: ExceptionArg, *, capture_locals: bool = True,
                      **fields: Any) -> Optional[Event]:
    info = exc_info_of(exc)
    return None if info is None else capture(ReportFields(exception=info, **fields),
                                             capture_locals)


def capture_message(text: Any, **fields: Any) -> Optional[Event]:
    return capture(ReportFields(message=text, **fields))
