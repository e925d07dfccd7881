"""The suite's guards, fixtures and markers are a plugin: tests/support/plugin.py (pytester: for
tests/test_markers.py, which runs pytest on a small example)."""

pytest_plugins = ["tests.support.plugin", "pytester"]
