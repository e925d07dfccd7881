"""Validating what the kernel sends on its control socket: the one place that trusts none of it.

The kernel runs the user's code, and that code can write to the control socket (it is an fd of its
process): from the supervisor's side every control message is untrusted input. ``validate`` checks the
``op`` and every field's presence and type against ``SCHEMAS``, fills in defaults, and makes every string
valid text (``bounds.valid_text``); anything else is a ``KernelMessageError`` and the message is dropped.
(The messages themselves are listed in ``kernel.py``'s docstring.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .bounds import valid_text


class KernelMessageError(ValueError):
    """A control message from the kernel that is not one the kernel sends."""


_REQUIRED = object()
Field = tuple[Callable[[object], object], object]  # (converter that raises KernelMessageError, default)


def _fail(what: str, value: object) -> KernelMessageError:
    return KernelMessageError(f"{what}: {value!r:.80}")


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise _fail("not a string", value)
    return valid_text(value)


def _int(value: object) -> int:
    if type(value) is not int or not -(2**63) <= value < 2**63:
        raise _fail("not an integer", value)
    return value


def _number(value: object) -> float:
    if type(value) not in (int, float) or value != value:  # NaN is no measure of time
        raise _fail("not a number", value)
    return float(value)  # type: ignore[arg-type]


def _bool(value: object) -> bool:
    if type(value) is not bool:
        raise _fail("not a boolean", value)
    return value


def _texts(value: object) -> list[str]:
    if not isinstance(value, list):
        raise _fail("not a list", value)
    return [_str(v) for v in value]


def _status(value: object) -> str:
    if value not in ("ok", "error", "interrupted", "exit"):
        raise _fail("not a run status", value)
    return str(value)


def _error(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail("not an error", value)
    return {k: _str(value.get(k, "")) for k in ("ename", "evalue", "traceback")}


SCHEMAS: dict[str, dict[str, Field]] = {
    "ready": {"pid": (_int, 0), "python": (_str, "")},
    "results": {"texts": (_texts, _REQUIRED)},
    "display": {"mime": (_str, _REQUIRED), "data": (_str, _REQUIRED), "ack": (_bool, False)},
    "input_request": {"prompt": (_str, ""), "password": (_bool, False)},
    "progress": {
        "task": (_str, _REQUIRED),
        "label": (_str, _REQUIRED),
        "done": (_int, _REQUIRED),
        "total": (_int, _REQUIRED),
        "elapsed": (_number, _REQUIRED),
        "final": (_bool, False),
    },
    "done": {
        "status": (_status, _REQUIRED),
        "exit_code": (_int, 0),
        "results": (_texts, []),
        "error": (_error, None),
    },
}


def validate(msg: object) -> dict[str, Any]:
    """``msg`` checked and normalized (every field present, every string valid); ``KernelMessageError``."""
    if not isinstance(msg, dict):
        raise _fail("a control message must be an object", msg)
    op = msg.get("op")
    schema = SCHEMAS.get(op) if isinstance(op, str) else None
    if schema is None:
        raise _fail("unknown control message", op)
    checked: dict[str, Any] = {"op": op}
    for name, (convert, default) in schema.items():
        if name in msg:
            try:
                checked[name] = convert(msg[name])
            except KernelMessageError as exc:
                raise KernelMessageError(f"{op}.{name}: {exc}") from None
        elif default is _REQUIRED:
            raise KernelMessageError(f"{op} lacks {name!r}")
        else:
            checked[name] = list(default) if isinstance(default, list) else default  # never a shared list
    return checked
