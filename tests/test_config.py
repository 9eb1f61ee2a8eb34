import logging

import pytest

from rollbar_notifier.config import Config


def make(**options):
    return Config.from_options(options, environ={})


def test_defaults_match_the_design():
    config = make()
    assert config.environment == "production"
    assert config.endpoint == "https://api.rollbar.com/api/1/"
    assert config.token_scope == "post_server_item"
    assert config.mode == "thread"
    assert config.queue_size == 1000
    assert config.shutdown_timeout == 5.0
    assert config.retry_for == 300.0
    assert config.verify_tls is True
    assert config.platform not in ("client", "browser")


def test_environment_variables_are_the_fallback():
    environ = {
        "ROLLBAR_ACCESS_TOKEN": "tok",
        "ROLLBAR_ENVIRONMENT": "staging",
        "ROLLBAR_ENDPOINT": "http://127.0.0.1:5005/api/1",
        "ROLLBAR_CODE_VERSION": "abc123",
        "ROLLBAR_QUEUE_SIZE": "10",
        "ROLLBAR_CAPTURE_LOCALS": "false",
        "ROLLBAR_SCRUB_FIELDS": "ip, phone",
    }
    config = Config.from_options({}, environ=environ)
    assert config.access_token == "tok"
    assert config.environment == "staging"
    assert config.endpoint == "http://127.0.0.1:5005/api/1/"
    assert config.code_version == "abc123"
    assert config.queue_size == 10
    assert config.capture_locals is False
    assert config.scrub_fields == ("ip", "phone")


def test_keyword_options_win_over_the_environment():
    config = Config.from_options({"environment": "dev"}, environ={"ROLLBAR_ENVIRONMENT": "prod"})
    assert config.environment == "dev"


def test_the_token_never_appears_in_repr():
    assert "sekrit-token" not in repr(make(access_token="sekrit-token"))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"telemetry_level": "loud"}, "unknown level"),
        ({"endpoint": "ftp://example.com/"}, "endpoint"),
        ({"endpoint": "not a url"}, "endpoint"),
        ({"queue_size": -1}, "queue_size"),
        ({"retry_for": -5}, "retry_for"),
        ({"timeout": 0}, "timeout"),
        ({"token_scope": "post_client_item", "platform": "linux"}, "client-side platform"),
        ({"token_scope": "admin"}, "token_scope"),
        ({"mode": "async"}, "mode"),
        ({"environment": ""}, "environment"),
        ({"code_version": "x" * 41}, "code_version"),
        ({"ignore": ["ValueError"]}, "ignore"),
        ({"ignore": 5}, "ignore"),
        ({"before_send": 42}, "before_send"),
        ({"no_such_option": 1}, "unknown rollbar_notifier option"),
        ({"code_version": 123}, "code_version must be a non-empty string"),
        ({"host": 5}, "host"),
        ({"branch": 5}, "branch"),
        ({"framework": 1}, "framework"),
        ({"platform": 1}, "platform"),
        ({"root": 3.5}, "root must be a path"),
        ({"capture_locals": "maybe"}, "capture_locals must be true or false"),
        ({"verify_tls": 0}, "verify_tls"),
        ({"timeout": float("nan")}, "timeout must be a finite number"),
        ({"timeout": float("inf")}, "timeout"),
        ({"retry_for": float("nan")}, "retry_for"),
        ({"queue_size": "abc"}, "queue_size must be a number"),
        ({"queue_size": 2.5}, "queue_size must be a finite whole number"),
        ({"max_body_bytes": 1024}, "max_body_bytes must be at least 8192"),
        ({"max_body_bytes": 200_000}, "max_body_bytes must be at most 131072"),
        ({"endpoint": "https://user:pw@api.example.com/api/1/"}, "credentials"),
        ({"endpoint": "https://api.example.com/api/1/?access_token=x"}, "query"),
    ],
)
def test_bad_options_fail_once_with_a_clear_error(options, message):
    with pytest.raises(ValueError, match=message):
        make(**options)


def test_bad_environment_variable_is_named_and_its_default_used(caplog):
    """An environment value is not a programming error: it must not crash start-up."""
    with caplog.at_level(logging.WARNING, logger="rollbar_notifier"):
        config = Config.from_options({}, environ={"ROLLBAR_QUEUE_SIZE": "many"})
    assert config.queue_size == 1000
    assert "ROLLBAR_QUEUE_SIZE" in caplog.text


def test_strings_from_file_config_or_the_environment_are_converted():
    config = make(capture_locals="false", verify_tls="no", enabled="1", timeout="2.5",
                  queue_size="10", telemetry_level="20", scrub_fields="ip,phone")
    assert config.capture_locals is False
    assert config.verify_tls is False
    assert config.enabled is True
    assert config.timeout == 2.5 and config.queue_size == 10
    assert config.telemetry_level == logging.INFO
    assert config.scrub_fields == ("ip", "phone")
    assert Config.from_options({}, environ={"ROLLBAR_TELEMETRY_LEVEL": "20"}).telemetry_level == 20


def test_a_token_with_a_trailing_newline_is_refused_without_echoing_it():
    with pytest.raises(ValueError) as raised:
        make(access_token="SECRETTOKEN12345\n")
    assert "white space" in str(raised.value)
    assert "SECRETTOKEN12345" not in str(raised.value)


def test_paths_may_be_path_objects(tmp_path):
    config = make(root=tmp_path / "app", spool_dir=tmp_path / "spool")
    assert config.root == str(tmp_path / "app")
    assert config.spool_dir == str(tmp_path / "spool")


def test_client_token_defaults_to_a_client_platform():
    assert make(token_scope="post_client_item").platform == "client"
    assert make(token_scope="post_client_item", platform="browser").platform == "browser"


def test_levels_accept_names_and_logging_numbers():
    assert make(telemetry_level="warning").telemetry_level == logging.WARNING
    assert make(telemetry_level=logging.DEBUG).telemetry_level == logging.DEBUG


def test_root_has_no_trailing_slash():
    assert make(root="/srv/app/").root == "/srv/app"
