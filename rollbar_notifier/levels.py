"""The one mapping from the level names and numbers users pass to Rollbar's levels."""

from __future__ import annotations

import logging
from typing import Any

from .contract import LEVELS

_ALIASES = {"warn": "warning", "fatal": "critical", "exception": "error", "notset": "debug"}


def from_logging(levelno: int) -> str:
    """Map a logging level number to Rollbar's level; custom levels fall to the one below."""
    if levelno >= logging.CRITICAL:
        return "critical"
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


def normalize_level(level: Any) -> str:
    """Return one of :data:`LEVELS` for a name or logging number, or raise ``ValueError``."""
    if isinstance(level, int) and not isinstance(level, bool):
        return from_logging(level)
    if isinstance(level, str):
        name = level.strip().lower()
        name = _ALIASES.get(name, name)
        if name in LEVELS:
            return name
    raise ValueError(f"unknown level {level!r}; use one of {', '.join(LEVELS)} or a logging level")
