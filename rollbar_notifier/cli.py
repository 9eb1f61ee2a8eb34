"""The ``rollbar-notifier`` command (also ``python -m rollbar_notifier``).

Meant for deploy scripts and CI steps as much as for people: every command exits 0 on
success, 2 on a usage or configuration error (bad option, no token) and 1 when the
server refused or could not be reached, with the reason on stderr; and it reads the
same ``ROLLBAR_*`` variables as the library, so a pipeline sets them once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import sys
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from . import delivery
from ._version import __version__
from .config import Config
from .contract import DEPLOY_STATUSES, LEVELS
from .deploy import DeployError, report_deploy, update_deploy
from .http_transport import HttpTransport
from .notifier import Notifier
from .transport import PING, answers_pong, server_message

log = logging.getLogger(__name__)

PROG = "rollbar-notifier"
EXIT_FAILURE = 1
EXIT_USAGE = 2

Command = Callable[[argparse.Namespace], int]


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command: Optional[Command] = getattr(args, "command", None)
    if command is None:
        return _usage(parser)
    if not getattr(args, "own_logging", False):
        # The notifier's messages carry their own "rollbar_notifier:" prefix.
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        return command(args)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except DeployError as exc:
        _error(str(exc))
        return EXIT_FAILURE


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection (default: the ROLLBAR_* variables)")
    group.add_argument("--access-token", metavar="TOKEN",
                       help="project access token [ROLLBAR_ACCESS_TOKEN]")
    group.add_argument("--endpoint", metavar="URL",
                       help="API base URL [ROLLBAR_ENDPOINT, default Rollbar's]")
    group.add_argument("--environment", metavar="NAME",
                       help="environment name [ROLLBAR_ENVIRONMENT, default production]")
    group.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="HTTP timeout [ROLLBAR_TIMEOUT, default 5]")

    parser = argparse.ArgumentParser(
        prog=PROG, description="Report deploys and messages to Rollbar, check the endpoint, "
                               "or run a local Rollbar-compatible server.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    ping = commands.add_parser("ping", parents=[common], help="check that the endpoint answers",
                               description="GET status/ping; succeeds when it answers pong.")
    ping.set_defaults(command=_ping)

    deploy = commands.add_parser("deploy", parents=[common], help="record a deploy",
                                 description="POST deploy/ and print the new deploy's id.")
    deploy.add_argument("--revision", help="the deployed revision (default: "
                        "ROLLBAR_CODE_VERSION, a CI variable, or git rev-parse HEAD)")
    deploy.add_argument("--status", choices=DEPLOY_STATUSES, default="succeeded",
                        help="deploy status (default: succeeded)")
    deploy.add_argument("--comment", help="free text, e.g. the release notes")
    deploy.add_argument("--user", dest="local_username",
                        help="who deployed (default: the OS user)")
    deploy.add_argument("--rollbar-username", help="the Rollbar account that deployed")
    deploy.set_defaults(command=_deploy)

    update = commands.add_parser("deploy-update", parents=[common],
                                 help="change a deploy's status or comment",
                                 description="PATCH deploy/ID, e.g. from started to succeeded.")
    update.add_argument("deploy_id", metavar="ID", help="the id printed by deploy")
    update.add_argument("--status", choices=DEPLOY_STATUSES, required=True, help="new status")
    update.add_argument("--comment", help="new comment")
    update.set_defaults(command=_deploy_update)

    report = commands.add_parser("report", help="report an item",
                                 description="Send one item and wait for the server's answer.")
    report.set_defaults(command=lambda args: _usage(report))
    kinds = report.add_subparsers(title="kinds", metavar="KIND")
    message = kinds.add_parser("message", parents=[common], help="report a message item",
                               description="Report TEXT as a message item; prints its uuid.")
    message.add_argument("text", metavar="TEXT")
    message.add_argument("--level", choices=LEVELS, default="info",
                         help="item level (default: info)")
    message.set_defaults(command=_report_message)

    _add_plugin(commands, "serve", ".devserver.command",
                "run the local Rollbar-compatible devserver")
    _add_plugin(commands, "tail", ".devserver.tail",
                "follow a running devserver's occurrences in the terminal")
    _add_plugin(commands, "demo", ".demo",
                "start a devserver, report through every path, show what it stored")
    return parser


def _add_plugin(commands: Any, name: str, module_name: str, help_text: str) -> None:
    """Commands living in optional modules: imported here so ``--help`` shows their
    arguments, and the rest of the CLI still works if one cannot be imported."""
    parser = commands.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(own_logging=True)
    try:
        module = importlib.import_module(module_name, __package__)
    except ImportError as exc:
        reason = str(exc)
        parser.set_defaults(command=lambda args: _unavailable(name, reason))
        return
    module.add_arguments(parser)
    parser.set_defaults(command=module.run)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _unavailable(name: str, reason: str) -> int:
    _error(f"the {name} command is unavailable: {reason}")
    return EXIT_FAILURE


def _options(args: argparse.Namespace) -> Dict[str, Any]:
    """The common options given on the command line; Config falls back to ROLLBAR_*."""
    given = {"access_token": args.access_token, "endpoint": args.endpoint,
             "environment": args.environment, "timeout": args.timeout}
    return {key: value for key, value in given.items() if value is not None}


def _config(args: argparse.Namespace) -> Config:
    return Config.from_options(_options(args))


@contextlib.contextmanager
def _connection(args: argparse.Namespace) -> Iterator[Tuple[Config, HttpTransport]]:
    """The command's config and a transport to its endpoint, closed when done."""
    config = _config(args)
    transport = HttpTransport(config.endpoint, config.access_token, config.timeout,
                              verify=config.verify_tls)
    try:
        yield config, transport
    finally:
        transport.close()


def _ping(args: argparse.Namespace) -> int:
    with _connection(args) as (config, transport):
        response = transport.send(PING)
    if answers_pong(response):
        print("pong")
        return 0
    if response.status == 0:
        _error(f"{config.endpoint} did not answer: {response.error}")
    else:
        detail = server_message(response.body) or response.body[:200].decode("utf-8", "replace")
        _error(f"{config.endpoint}status/ping answered HTTP {response.status}: {detail}")
    return EXIT_FAILURE


def _deploy(args: argparse.Namespace) -> int:
    with _connection(args) as (config, transport):
        deploy_id = report_deploy(transport, config, args.revision, status=args.status,
                                  comment=args.comment, local_username=args.local_username,
                                  rollbar_username=args.rollbar_username)
    print(deploy_id)
    return 0


def _deploy_update(args: argparse.Namespace) -> int:
    with _connection(args) as (config, transport):
        result = update_deploy(transport, config, args.deploy_id, status=args.status,
                               comment=args.comment)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


def _report_message(args: argparse.Namespace) -> int:
    """Blocking mode, so the answer is known before exiting. The reason of a failure has
    already been logged to stderr by the notifier when this reports it: a refusal at
    WARNING, and giving up on an unreachable server at INFO, which is let through here
    because for a command that is the answer."""
    config = _config(args)
    if not config.access_token:
        _error("an access token is required (--access-token or ROLLBAR_ACCESS_TOKEN)")
        return EXIT_USAGE
    delivery_log = logging.getLogger(delivery.__name__)
    previous_level = delivery_log.level
    delivery_log.setLevel(logging.INFO)
    try:
        with Notifier(**_options(args), mode="blocking", install_hooks=False) as notifier:
            uuid = notifier.report_message(args.text, level=args.level)
            sent = notifier.stats()["sent"]
    finally:
        delivery_log.setLevel(previous_level)
    if uuid is None or not sent:
        _error("the item was not delivered")
        return EXIT_FAILURE
    print(uuid)
    return 0


def _error(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)
