"""The options the framework integrations read: defaults, strings from the environment
or a config file, and refusals naming the option."""

from __future__ import annotations

from typing import Any, Dict

import pytest

from rollbar_notifier.config import Config


def make(environ: Dict[str, str] = {}, **options: Any) -> Config:  # noqa: B006 (never mutated)
    return Config.from_options(options, environ=environ)


def test_defaults_send_no_body_no_username_or_email_and_an_anonymized_ip() -> None:
    config = make()
    assert (config.include_request_body, config.capture_ip, config.trusted_proxies,
            config.capture_username, config.capture_email) == (False, "anonymize", (), False,
                                                               False)


def test_strings_from_the_environment_are_converted() -> None:
    config = make({"ROLLBAR_INCLUDE_REQUEST_BODY": "yes", "ROLLBAR_CAPTURE_IP": "false",
                   "ROLLBAR_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7 ,::1",
                   "ROLLBAR_CAPTURE_USERNAME": "1", "ROLLBAR_CAPTURE_EMAIL": "on"})
    assert (config.include_request_body, config.capture_ip, config.capture_username,
            config.capture_email) == (True, False, True, True)
    assert config.trusted_proxies == ("10.0.0.0/8", "192.168.1.7/32", "::1/128")
    assert make({"ROLLBAR_CAPTURE_IP": "Anonymize"}).capture_ip == "anonymize"
    assert make(capture_ip=True).capture_ip is True
    assert make(trusted_proxies=["172.16.0.0/12"]).trusted_proxies == ("172.16.0.0/12",)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"capture_ip": "partly"}, "capture_ip must be true, false or 'anonymize'"),
        ({"capture_ip": 2}, "capture_ip must be true, false or 'anonymize'"),
        ({"trusted_proxies": "10.0.0.300"}, "trusted_proxies must list IP addresses"),
        ({"trusted_proxies": ["proxy.local"]}, "trusted_proxies must list IP addresses"),
        ({"include_request_body": "sometimes"}, "include_request_body must be true or false"),
        ({"capture_username": 1}, "capture_username must be true or false"),
        ({"capture_email": "maybe"}, "capture_email must be true or false"),
    ],
)
def test_invalid_values_are_refused_naming_the_option(options: Dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**options)


def test_an_invalid_variable_is_named_and_left_out(caplog: pytest.LogCaptureFixture) -> None:
    assert make({"ROLLBAR_TRUSTED_PROXIES": "not-an-ip"}).trusted_proxies == ()
    assert "ROLLBAR_TRUSTED_PROXIES must list IP addresses" in caplog.text
