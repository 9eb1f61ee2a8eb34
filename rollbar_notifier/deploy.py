"""Deploy reporting: ``POST deploy/``, ``PATCH deploy/{id}``, and finding the revision.

Unlike item reporting, a deploy is an explicit call whose caller wants to know the
outcome (a CI step should fail when the deploy was not recorded), so failures raise
:class:`DeployError` with the server's own message instead of being swallowed.
"""

from __future__ import annotations

import getpass
import json
import logging
from typing import Any, Dict, Mapping, Optional

from .codebase import REVISION_VARIABLES as REVISION_VARIABLES  # where tests and users find it
from .codebase import detect_revision as find_revision
from .config import Config
from .contract import DEPLOY_STATUSES, MAX_DEPLOY_COMMENT, MAX_DEPLOY_FIELD
from .transport import Request, Response, Transport, server_message

log = logging.getLogger(__name__)


class DeployError(RuntimeError):
    """A deploy was refused or not recorded; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.status = status


class DeployConfigError(DeployError, ValueError):
    """The notifier cannot report deploys as configured (no token, a client token): a
    usage error before any request, so it is also a ``ValueError``, like bad options."""


def report_deploy(transport: Transport, config: Config, revision: Optional[str] = None, *,
                  environment: Optional[str] = None, rollbar_username: Optional[str] = None,
                  local_username: Optional[str] = None, comment: Optional[str] = None,
                  status: str = "succeeded") -> str:
    """Record a deploy and return its id; ``revision=None`` detects it (see
    :func:`detect_revision`) and ``local_username=None`` is the OS user."""
    _check_server_token(config, "report deploys")
    if status not in DEPLOY_STATUSES:
        raise ValueError(f"status must be one of {', '.join(DEPLOY_STATUSES)}, got {status!r}")
    revision = revision or detect_revision(config)
    if not revision:
        raise DeployError("no revision: pass one, or set ROLLBAR_CODE_VERSION or run in a "
                          f"git checkout (root={config.root!r})")
    body: Dict[str, Any] = {
        "environment": environment or config.environment,
        "revision": revision,
        "status": status,
        "local_username": local_username or _os_user(),
        "rollbar_username": rollbar_username,
        "comment": comment,
    }
    body = {key: value for key, value in body.items() if value is not None}
    _check_lengths(body)
    data = _call(transport, Request("POST", "deploy/", _encode(body)), "report the deploy")
    result = data.get("data") or data.get("result")
    deploy_id = result.get("deploy_id") if isinstance(result, dict) else None
    if deploy_id is None:
        raise DeployError(f"the server answered without a deploy_id: {_short(data)}")
    log.info("rollbar_notifier: deploy %s recorded (revision %s)", deploy_id, revision)
    return str(deploy_id)


def update_deploy(transport: Transport, config: Config, deploy_id: Any,
                  status: Optional[str] = None, comment: Optional[str] = None) -> Dict[str, Any]:
    """Change a deploy's status or comment (e.g. ``started`` then ``succeeded``)."""
    _check_server_token(config, "update deploys")
    if not str(deploy_id).isdigit():
        raise ValueError(f"deploy_id must be a number, got {deploy_id!r}")
    if status is not None and status not in DEPLOY_STATUSES:
        raise ValueError(f"status must be one of {', '.join(DEPLOY_STATUSES)}, got {status!r}")
    body = {key: value for key, value in (("status", status), ("comment", comment))
            if value is not None}
    if not body:
        raise ValueError("update_deploy needs a status or a comment")
    _check_lengths(body)
    data = _call(transport, Request("PATCH", f"deploy/{deploy_id}", _encode(body)),
                 f"update deploy {deploy_id}")
    result = data.get("result")
    return result if isinstance(result, dict) else data


def detect_revision(config: Config, environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The ``code_version`` items carry (given or detected), else the same detection in
    ``environ`` (see :func:`.codebase.detect_revision`)."""
    return config.code_version or find_revision(config.root, environ)


def _os_user() -> Optional[str]:
    """``getpass`` fails in containers whose uid has no passwd entry; that is no error."""
    try:
        return getpass.getuser()
    except Exception:
        return None


def _check_server_token(config: Config, action: str) -> None:
    if config.is_client:
        raise DeployConfigError(f"a post_client_item token cannot {action}: deploys need a "
                                "post_server_item token, which must not ship inside client "
                                "apps")
    if not config.access_token:
        raise DeployConfigError(f"an access token is required to {action} "
                                "(access_token= or ROLLBAR_ACCESS_TOKEN)")


def _check_lengths(body: Mapping[str, Any]) -> None:
    for key, value in body.items():
        limit = MAX_DEPLOY_COMMENT if key == "comment" else MAX_DEPLOY_FIELD
        if not isinstance(value, str) or len(value) > limit:
            raise ValueError(f"{key} must be a string of at most {limit} characters")


def _encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body).encode("utf-8")


def _call(transport: Transport, request: Request, action: str) -> Dict[str, Any]:
    response = transport.send(request)
    if response.status == 0:
        raise DeployError(f"could not {action}: {response.error}", 0)
    if not 200 <= response.status < 300:
        message = server_message(response.body) or _short(response.body)
        raise DeployError(f"could not {action}: HTTP {response.status}: {message}",
                          response.status)
    return _json_object(response, action)


def _json_object(response: Response, action: str) -> Dict[str, Any]:
    try:
        data = json.loads(response.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise DeployError(f"could not {action}: unexpected answer {_short(response.body)}",
                          response.status)
    return data


def _short(value: Any) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return text if len(text) <= 300 else text[:300] + "..."
