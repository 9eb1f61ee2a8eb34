"""AWS Lambda: ``@wrap`` reports a handler's exception and delivers before Lambda freezes.

    rollbar_notifier.init(access_token="...")

    @wrap
    def handler(event, context): ...

Lambda freezes the process as soon as the handler returns, and may never thaw it: items
still queued then are lost, and ``atexit`` never runs. So the wrapper flushes before
returning (or re-raising), for as long as the invocation has time left (less a margin)
and at most ``shutdown_timeout``. An exception escaping the handler is reported with
the function name as the context and, in ``data.custom.aws_lambda``, the request id,
the function's name, version and ARN, its log stream, and the event.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, Optional, TypeVar, Union, overload

from ..notifier import Notifier, resolve_notifier
from ..scope import scope
from . import report

FRAMEWORK = "aws_lambda"
DEADLINE_MARGIN = 0.25
"""Seconds kept between the end of the flush and the invocation's deadline."""
CONTEXT_FIELDS = ("aws_request_id", "function_name", "function_version",
                  "invoked_function_arn", "memory_limit_in_mb", "log_group_name",
                  "log_stream_name")

Handler = TypeVar("Handler", bound=Callable[..., Any])


@overload
def wrap(handler: Handler, *, notifier: Optional[Notifier] = None) -> Handler: ...
@overload
def wrap(handler: None = None, *,
         notifier: Optional[Notifier] = None) -> Callable[[Handler], Handler]: ...


def wrap(handler: Optional[Handler] = None, *, notifier: Optional[Notifier] = None
         ) -> Union[Handler, Callable[[Handler], Handler]]:
    """``@wrap`` or ``@wrap(notifier=...)``: report and flush around a Lambda handler."""
    if handler is None:
        return functools.partial(wrap, notifier=notifier)
    inner = handler

    @functools.wraps(inner)
    def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        current = resolve_notifier(notifier)
        details = invocation(context)
        name = details.get("function_name") or getattr(inner, "__qualname__", None)
        try:
            with scope(context=name, framework=FRAMEWORK, extra={"aws_lambda": details}):
                try:
                    return inner(event, context, *args, **kwargs)
                except Exception as exc:
                    report(current, exc, extra={"aws_lambda": {**details, "event": event}})
                    raise
        finally:
            if current is not None:
                current.flush(timeout=flush_budget(current, context))

    return wrapper  # type: ignore[return-value]


def invocation(context: Any) -> Dict[str, Any]:
    """The Lambda context's identifying fields (any object with some of them will do)."""
    return {name: getattr(context, name) for name in CONTEXT_FIELDS
            if getattr(context, name, None) is not None}


def flush_budget(notifier: Notifier, context: Any) -> float:
    """Seconds the flush may take: what the invocation has left, less the margin, and
    at most ``shutdown_timeout``."""
    limit = notifier.config.shutdown_timeout
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    try:
        if remaining is not None:
            limit = min(limit, float(remaining()) / 1000 - DEADLINE_MARGIN)
    except Exception:
        pass
    return max(limit, 0.0)
