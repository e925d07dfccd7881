"""The suite's guards, fixtures and markers are a plugin: tests/support/plugin.py."""

pytest_plugins = ["tests.support.plugin"]
