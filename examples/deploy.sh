#!/bin/sh
# Record a deploy from a deploy script or CI step, from a git checkout.
# ROLLBAR_ACCESS_TOKEN must be a post_server_item token; ROLLBAR_ENDPOINT is optional.
set -e
rollbar-notifier deploy --revision "$(git rev-parse HEAD)" --environment production \
    --comment "deployed by ${USER:-ci}"
