"""pyrollbar's ``rollbar.logger.RollbarHandler``, on this notifier.

``from rollbar_notifier.compat.logger import RollbarHandler`` takes pyrollbar's
arguments: with an ``access_token`` it initializes (once, as ``compat.init``); it
reports to the default notifier, at ``INFO`` and above unless told (pyrollbar's default).
pyrollbar's history of recent records is this notifier's telemetry, always on, so
``history_size`` and ``history_level`` are accepted and unused.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Union

from ..handler import RollbarHandler as NativeHandler
from . import init


class RollbarHandler(NativeHandler):
    def __init__(self, access_token: Optional[str] = None, environment: Optional[str] = None,
                 level: Union[int, str] = logging.INFO, history_size: int = 10,
                 history_level: Union[int, str] = logging.DEBUG, **kw: Any) -> None:
        if access_token is not None:
            init(access_token, environment or "production", **kw)
        super().__init__(level)
