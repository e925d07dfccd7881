"""The kernel's completer and help, in process: jedi, and the standard-library fallback."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
        "nested": types.SimpleNamespace(inner=types.SimpleNamespace(zeta=1, zed=2)),
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

    @pytest.mark.parametrize(
        "code, completed",
        [
            ('"abc".up', '"abc".upper'),  # without jedi this once gave "abc".upArithmeticError
            ("[1].ap", "[1].append"),
            ("nested.inner.ze", "nested.inner.zeta"),
            ("nested.inner.", "nested.inner.zed"),
            ('x = print("abc".up', 'x = print("abc".upper'),
            ("only_remote_value + nested.inner.ze", "only_remote_value + nested.inner.zeta"),
            ("(1).re", "(1).real"),
            ('f"{only_remote_value}".up', 'f"{only_remote_value}".upper'),
            ("str(only_remote_value).zf", "str(only_remote_value).zfill"),
            ("{1: 2}.ite", "{1: 2}.items"),
            ('if True:\n    "abc".up', 'if True:\n    "abc".upper'),  # several lines: jedi's, when it is there
            ("if True:\n    nested.inner.ze", "if True:\n    nested.inner.zeta"),
            ("whi", "while"),
            ("import col", "import collections"),
            ("from os import pa", "from os import path"),
            ('settings["be', 'settings["beta"'),
        ],
    )
    def test_completes_expressions_names_keywords_and_imports(
        self, namespace: dict[str, Any], use_jedi: bool, code: str, completed: str
    ) -> None:
        found, kept = matches(namespace, code, use_jedi)
        assert completed in [kept + m for m in found]

    @pytest.mark.parametrize(
        "code",
        ['"abc".up', '"abc"up', "1.re", "1up", '"abc"', "sample(1)", "nested.inner.", "import col", "settings[", "x._"],
    )
    def test_every_match_starts_with_the_text_it_replaces(
        self, namespace: dict[str, Any], use_jedi: bool, code: str
    ) -> None:
        start, found, _ = complete(namespace, code, len(code), use_jedi=use_jedi)
        assert all(m.lower().startswith(code[start:].lower()) for m in found), (code[start:], found[:5])

    @pytest.mark.parametrize("code", ['"abc"up', "1up", '"abc"', "1.re", "sample(1)"])
    def test_nothing_is_offered_where_no_name_can_go(
        self, namespace: dict[str, Any], use_jedi: bool, code: str
    ) -> None:
        assert matches(namespace, code, use_jedi)[0] == []  # "abc"upArithmeticError would be garbage


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab_1.'\"()[]{}+,:=#", max_size=30))
def test_the_plain_completer_never_raises_nor_offers_garbage(code: str) -> None:
    namespace: dict[str, Any] = {"a": "text", "ab": [1], "b_": {"a": 1}}
    start, found, kinds = complete(namespace, code, len(code), use_jedi=False)
    assert 0 <= start <= len(code) and len(kinds) == len(found)
    assert all(m.startswith(code[start:]) for m in found), (code[start:], found[:5])


def test_a_kernel_without_jedi_completes_attributes_with_the_standard_library() -> None:
    script = (
        "import sys; sys.modules['jedi'] = None\n"  # as when jedi is not installed: import jedi fails
        "from remrepl.server.kernel import introspect\n"
        "code = '\"abc\".up'\n"
        "print(introspect.complete({}, code, len(code)), introspect._load_jedi())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["(6,", "['upper'],", "['function'])", "False"]


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
