"""The kernel's children see its interpreter first on PATH and its venv as VIRTUAL_ENV."""

from remrepl.server.kernel.environment import interpreter_environment


def test_a_venv_interpreter_comes_first_and_is_the_virtual_env() -> None:
    env = interpreter_environment(
        {"PATH": "/usr/bin:/venv/bin:/bin", "HOME": "/h"}, "/venv/bin/python", "/venv", "/usr"
    )
    assert env == {"PATH": "/venv/bin:/usr/bin:/bin", "VIRTUAL_ENV": "/venv", "HOME": "/h"}


def test_outside_a_venv_no_stale_virtual_env_is_left() -> None:
    env = interpreter_environment(
        {"PATH": "/usr/bin", "VIRTUAL_ENV": "/old"}, "/opt/py/bin/python3", "/opt/py", "/opt/py"
    )
    assert env == {"PATH": "/opt/py/bin:/usr/bin"}
