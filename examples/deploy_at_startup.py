"""A service that records a deploy each time it starts.

``init(report_deploy=True)`` reports the revision found in ``ROLLBAR_CODE_VERSION``, a
CI variable (``GIT_COMMIT``, ``SOURCE_VERSION``, ``HEROKU_SLUG_COMMIT``, ``GITHUB_SHA``,
``CI_COMMIT_SHA``) or ``git rev-parse HEAD``, and never holds start-up for longer than
``timeout``. A failure is logged, not raised: the service starts anyway.

    ROLLBAR_ACCESS_TOKEN=<post_server_item token> ROLLBAR_CODE_VERSION=$(git rev-parse HEAD) \\
        python examples/deploy_at_startup.py

From a deploy script, ``examples/deploy.sh`` does the same with the command line.
"""

import logging

import rollbar_notifier

logging.basicConfig(level=logging.INFO)


def main() -> None:
    rollbar_notifier.init(environment="production", report_deploy=True)
    logging.getLogger("service").info("started")


if __name__ == "__main__":
    main()
