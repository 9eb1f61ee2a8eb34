import logging

import rollbar_notifier


def test_all_is_sorted_unique_and_importable():
    names = rollbar_notifier.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(rollbar_notifier, name) is not None


def test_the_design_names_are_public():
    expected = {"init", "Notifier", "RollbarHandler", "install_excepthook",
                "uninstall_excepthook", "report_exception", "report_message",
                "report_deploy", "flush"}
    assert expected <= set(rollbar_notifier.__all__)


def test_the_package_logger_is_silent_by_default():
    handlers = logging.getLogger("rollbar_notifier").handlers
    assert any(isinstance(handler, logging.NullHandler) for handler in handlers)


def test_the_package_ships_type_information():
    import importlib.resources

    assert (importlib.resources.files("rollbar_notifier") / "py.typed").is_file()


def test_scope_is_the_function_though_a_module_has_its_name():
    """Importing the module ``rollbar_notifier.scope`` (as the notifier does) must not make
    the package attribute the module."""
    import rollbar_notifier.notifier  # imports the module rollbar_notifier.scope
    from rollbar_notifier.scope import Scope

    assert {"scope", "set_person", "set_context", "set_extra"} <= set(rollbar_notifier.__all__)
    with rollbar_notifier.scope(context="GET /") as current:
        assert isinstance(current, Scope) and current.context == "GET /"
