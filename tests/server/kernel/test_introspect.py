"""The kernel's completer and help, in process: jedi, and the standard-library fallback."""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Any

import pytest

from remrepl.server.kernel.introspect import complete, describe


def sample(x: int, y: str = "a") -> int:
    """Add things up."""
    return x


@pytest.fixture
def namespace() -> dict[str, Any]:
    return {
        "__builtins__": __builtins__,
        "os": os,
        "collections": collections,
        "only_remote_value": 42,
        "settings": {"alpha": 1, "beta": 2, 7: "seven"},
        "sample": sample,
    }


def matches(namespace: dict[str, Any], code: str, use_jedi: bool) -> tuple[list[str], str]:
    start, found, kinds = complete(namespace, code, len(code), use_jedi=use_jedi)
    assert len(kinds) == len(found)
    return found, code[:start]


@pytest.mark.parametrize("use_jedi", [True, False], ids=["jedi", "rlcompleter"])
class TestCompletion:
    def test_names_from_the_namespace_and_builtins(self, namespace: dict[str, Any], use_jedi: bool) -> None:
        found, kept = matches(namespace, "only_rem", use_jedi)
        assert found == ["only_remote_value"] and kept == ""
        assert "print" in matches(namespace, "x = pri", use_jedi)[0]

    def test_attributes(self, namespace: dict[str, Any], use_jedi: bool) -> None:
        found, kept = matches(namespace, "collections.Ord", use_jedi)
        assert kept + found[0] == "collections.OrderedDict"
        assert any(m.endswith("path") for m in matches(namespace, "os.pa", use_jedi)[0])

    def test_dictionary_keys(self, namespace: dict[str, Any], use_jedi: bool) -> None:
        found, kept = matches(namespace, "settings['al", use_jedi)
        assert kept + found[0] == "settings['alpha'"

    def test_imports(self, namespace: dict[str, Any], use_jedi: bool) -> None:
        found, kept = matches(namespace, "import collec", use_jedi)
        assert "collections" in [kept[len("import ") :] + m for m in found]
        found, kept = matches(namespace, "from os import pat", use_jedi)
        assert "path" in found

    def test_paths_on_this_host(self, namespace: dict[str, Any], use_jedi: bool, tmp_path: Path) -> None:
        (tmp_path / "remote_only_file.txt").write_text("x")
        (tmp_path / "remote_dir").mkdir()
        code = f"open('{tmp_path}/remote_"
        found, kept = matches(namespace, code, use_jedi)
        assert sorted(kept + m for m in found) == [f"{code}dir/", f"{code}only_file.txt'"]  # a file closes the string

    def test_nothing_to_offer_is_an_empty_answer(self, namespace: dict[str, Any], use_jedi: bool) -> None:
        assert matches(namespace, "no_such_thing_anywhere.x", use_jedi)[0] == []
        assert matches(namespace, "1 + (", use_jedi)[0] is not None  # odd input never raises

    def test_the_cursor_may_sit_inside_the_code(self, namespace: dict[str, Any], use_jedi: bool) -> None:
        start, found, _ = complete(namespace, "only_rem + 1", 8, use_jedi=use_jedi)
        assert start == 0 and found == ["only_remote_value"]


def test_describe_shows_signature_docstring_and_source(namespace: dict[str, Any]) -> None:
    found, text = describe(namespace, "sample")
    assert found
    assert "Signature: sample(x: 'int', y: 'str' = 'a') -> 'int'" in text  # postponed annotations
    assert "Add things up." in text
    assert "return x" not in text
    found, text = describe(namespace, "sample", detail=1)
    assert "def sample(x: int" in text and "return x" in text


def test_describe_an_attribute_and_a_missing_name(namespace: dict[str, Any]) -> None:
    assert "Join two or more pathname components" in describe(namespace, "os.path.join")[1]
    assert describe(namespace, "nothing_here") == (
        False,
        "Object `nothing_here` not found (NameError: name 'nothing_here' is not defined).",
    )
    found, text = describe(namespace, "os.no_such_attribute")
    assert not found and "AttributeError" in text


def test_describe_evaluates_nothing(namespace: dict[str, Any]) -> None:
    found, text = describe(namespace, "sample()")
    assert not found and "not a dotted name" in text
