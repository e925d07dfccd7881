"""The supervisor's validation of the kernel's control messages and its bounds on what they carry.

The control channel's messages are ``protocol/kernel_channel.py``'s; ``validate`` here reads one as the
supervisor does (a JSON line through the strict codec) and gives its fields back as a dict."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remrepl import Session
from remrepl._exceptions import RemoteProtocolError as KernelMessageError
from remrepl.protocol import Result, encode
from remrepl.protocol.codec import MAX_HEADER_BYTES
from remrepl.protocol.kernel_channel import decode_line
from remrepl.server.supervisor.bounds import FIELD_BUDGET, batches, clip, valid_text


def validate(msg: object) -> dict[str, Any]:
    """``msg`` as the kernel would send it, decoded as the supervisor does: its fields, checked."""
    message = decode_line(json.dumps(msg).encode())
    fields = message._asdict()
    if "ename" in fields:  # the exception a run ended with, as one value
        names = ("ename", "evalue", "traceback")
        error = {k: fields.pop(k) for k in names}
        fields["error"] = None if error["ename"] is None else error
    return fields


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ops = st.sampled_from(["ready", "results", "display", "input_request", "progress", "done", "other"])


@given(ops, st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_any_message_is_either_refused_or_fully_typed(op: str, fields: dict[str, object]) -> None:
    try:
        msg = validate({**fields, "type": op})
    except KernelMessageError:
        return
    if op == "done":
        assert msg["status"] in ("ok", "error", "interrupted", "exit") and type(msg["exit_code"]) is int
        assert all(isinstance(t, str) for t in msg["results"])
        assert msg["error"] is None or all(isinstance(v, str) for v in msg["error"].values())
    for value in msg.values():
        if isinstance(value, str):
            value.encode("utf-8")  # valid text: a lone surrogate would raise here


@pytest.mark.parametrize(
    "msg",
    [None, [], "done", {"type": "done", "exit_code": "x"}, {"type": "done", "status": "ok", "exit_code": 1.5}],
)
def test_what_user_code_writes_is_refused(msg: object) -> None:
    with pytest.raises(KernelMessageError):
        validate(msg)


def test_lone_surrogates_become_backslash_escapes() -> None:
    msg = validate({"type": "done", "status": "error", "ename": "E", "traceback": "File job-\udce9.py"})
    assert msg["error"]["traceback"] == "File job-\\udce9.py"
    assert valid_text("caf\ud800") == "caf\\ud800" and valid_text("café") == "café"


@pytest.mark.parametrize("char", ["x", "\x00", "é", "\U0001f600"])
def test_a_clipped_text_fits_and_says_how_much_is_missing(char: str) -> None:
    text = char * 1_000_000
    clipped = clip(text, FIELD_BUDGET, "traceback", " (see sys.last_value)")
    assert len(json.dumps(clipped)) <= FIELD_BUDGET
    assert "characters of this traceback were left out (see sys.last_value)" in clipped
    assert clipped.startswith(char * 100) and clipped.endswith(char * 100)
    assert clip("short", FIELD_BUDGET, "traceback") == "short"


def test_batches_fit_a_message_and_keep_the_order() -> None:
    texts = [str(i) for i in range(200_000)] + ["\U0001f600" * 100_000, "x" * 2_000_000, "last"]
    out = list(batches(texts))
    assert out[-2] == "x" * 2_000_000 and out[-1] == ["last"]  # too big for a Result: alone
    flat = [t for b in out for t in (b if isinstance(b, list) else [b])]
    assert flat == texts
    for batch in out:
        if isinstance(batch, list):
            assert len(encode(Result(1, "r", batch[0], tuple(batch[1:])))[0]) <= MAX_HEADER_BYTES


def test_a_message_the_kernel_cannot_send_still_ends_the_run(session: Session) -> None:
    """An exit code beyond 64 bits is refused by the control codec (as the supervisor would refuse it):
    the kernel says so on stderr and ends the run all the same, instead of leaving it hanging."""
    result = session.run("raise SystemExit(2**70)", timeout=60)
    assert (result.status, result.exit_code) == ("exit", 1) and "not sent" in result.stderr
    assert session.run("6 * 7").value == "42"
