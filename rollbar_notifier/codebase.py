"""Which code is running: its revision and the root of its project.

Items carry the revision as ``code_version`` and deploys record it as ``revision``;
Rollbar links the two, so both come from here. The root is ``server.root``, against
which Rollbar shortens file names: it is the project's, not the directory the program
happened to be started from. ``git`` runs at most once per directory per process.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from typing import Dict, Mapping, Optional, Tuple

from .contract import MAX_CODE_VERSION

log = logging.getLogger(__name__)

REVISION_VARIABLES = ("ROLLBAR_CODE_VERSION", "GIT_COMMIT", "SOURCE_VERSION",
                      "HEROKU_SLUG_COMMIT", "GITHUB_SHA", "CI_COMMIT_SHA")
"""Where CI systems and platforms put the commit being deployed, in the order tried."""
GIT_SECONDS = 2.0
"""How long ``git rev-parse`` may take: it runs while the program starts."""
MAX_CHECKOUTS = 32
"""Directories whose ``git`` answer is remembered."""

Checkout = Tuple[Optional[str], Optional[str]]
"""A directory's git top level and ``HEAD`` commit, each ``None`` when unknown."""

_lock = threading.Lock()
_checkouts: Dict[str, Checkout] = {}


def detect_revision(root: Optional[str],
                    environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """A CI variable, else ``git rev-parse HEAD`` in ``root``; cut to what items accept."""
    environ = os.environ if environ is None else environ
    for name in REVISION_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return value[:MAX_CODE_VERSION]
    head = _checkout(root or _cwd())[1]
    return head[:MAX_CODE_VERSION] if head else None


def project_root() -> str:
    """The git top level holding the main module, else the one holding the current
    directory (a server started from its project), else the main module's directory."""
    main = _main_directory()
    cwd = _cwd()
    for directory in (main, cwd):
        top = _checkout(directory)[0] if directory else None
        if top:
            return top
    return main or cwd or os.sep


def _main_directory() -> Optional[str]:
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if isinstance(path, str) else None


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:  # the directory was removed
        return ""


def _checkout(directory: str) -> Checkout:
    with _lock:
        known = _checkouts.get(directory)
    if known is not None:
        return known
    found = _git(directory)
    with _lock:
        for key in {directory, found[0] or directory}:
            if len(_checkouts) < MAX_CHECKOUTS:
                _checkouts[key] = found
    return found


def _git(directory: str) -> Checkout:
    if not directory:
        return (None, None)
    try:
        done = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=directory,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=GIT_SECONDS, check=False)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.debug("rollbar_notifier: git rev-parse failed in %s: %s", directory, exc)
        return (None, None)
    lines = done.stdout.split("\n")
    if done.returncode != 0 or len(lines) < 2 or not lines[0] or not lines[1]:
        return (None, None)
    return (os.path.normpath(lines[0]), lines[1].strip())
