"""The prompt's intelligence in a real terminal (tmux): remote completion, help, magics, shell commands,
restart, output of background threads, configuration.

Every wait polls the screen against a deadline; no fixed sleep is ever the synchronisation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import remrepl_command
from tests.support.servers import RunningServer
from tests.support.terminal import CONTINUATION, PROMPT, TmuxTerminal, kernel_pid, wait_busy


def tab_complete(terminal: TmuxTerminal, typed: str, completed: str) -> int:
    """Type ``typed``, press Tab and wait until the line reads ``completed``; the screen mark from before."""
    start = terminal.mark()
    terminal.type(typed)
    terminal.send("Tab")
    terminal.wait_for(f"{PROMPT} {completed}", since=start - 1)
    return start


def test_tab_completes_a_name_only_the_remote_side_has(launched: TmuxTerminal) -> None:
    assert launched.run("only_remote_variable_xyz = 6 * 7") == []
    start = tab_complete(launched, "only_remote_vari", "only_remote_variable_xyz")
    launched.send("Enter")
    assert launched.wait_prompt(start)[-1] == "42"


def test_tab_completes_attributes_and_keys(launched: TmuxTerminal) -> None:
    launched.run("settings = {'remote_key': 1}")
    start = tab_complete(launched, "settings['remote_", "settings['remote_key'")
    launched.type("]")
    launched.send("Enter")
    assert launched.wait_prompt(start)[-1] == "1"
    start = tab_complete(launched, "settings.ke", "settings.keys")
    launched.type("()")
    launched.send("Enter")
    assert launched.wait_prompt(start)[-1] == "dict_keys(['remote_key'])"


@pytest.mark.parametrize("jedi", [True, False], ids=["jedi", "no-jedi"])
def test_tab_completes_an_attribute_of_a_literal(launched: TmuxTerminal, jedi: bool) -> None:
    if not jedi:  # the kernel's completer falls back to the standard library's
        assert launched.run("import sys; sys.modules['jedi'] = None") == []
    start = tab_complete(launched, '"abc".up', '"abc".upper')  # not "abc".upArithmeticError
    launched.type("()")
    launched.send("Enter")
    assert launched.wait_prompt(start)[-1] == "'ABC'"


def test_tab_completes_remote_paths_for_download_and_local_ones_for_upload(
    launched: TmuxTerminal, tmp_path: Path
) -> None:
    remote = tmp_path / "remote"
    (remote / "results").mkdir(parents=True)
    (remote / "results" / "run 1.csv").write_text("a,b\n")
    (tmp_path / "local_notes.md").write_text("x")
    assert launched.run(f"import os; os.chdir({str(remote)!r})") == []  # %download is relative to it
    start = tab_complete(launched, "%download resu", "%download results/")
    launched.send("Tab")
    launched.wait_for(f"{PROMPT} %download results/run\\ 1.csv", since=start - 1)  # a shell word
    launched.type(f" {tmp_path}/copy.csv")
    launched.send("Enter")
    launched.wait_prompt(start)
    assert (tmp_path / "copy.csv").read_text() == "a,b\n"
    start = tab_complete(launched, f"%upload {tmp_path}/local_no", f"%upload {tmp_path}/local_notes.md")
    launched.type(" resu")
    launched.send("Tab")
    launched.wait_for(f"{PROMPT} %upload {tmp_path}/local_notes.md results/", since=start - 1)
    launched.send("Enter")
    launched.wait_prompt(start)
    assert (remote / "results" / "local_notes.md").read_text() == "x"
    start = tab_complete(launched, "%cd resu", "%cd results/")  # a remote directory
    launched.send("Enter")
    launched.wait_prompt(start)
    tab_complete(launched, "%download loc", "%download local_notes.md")  # relative to the new directory


def test_help_shows_signature_docstring_and_source(launched: TmuxTerminal) -> None:
    start = launched.mark()
    launched.type("def area(radius): 'The area of a circle.'; return 3.14 * radius ** 2")
    launched.send("Enter")
    launched.wait_for_line(lambda line: line.startswith(CONTINUATION), "a continuation line", since=start)
    launched.send("Enter")  # an empty line ends the compound statement
    launched.wait_prompt(start)
    shown = launched.run("area?")
    assert "Signature: area(radius)" in shown and "The area of a circle." in shown
    assert not any("return 3.14" in line for line in shown)
    assert "def area(radius): 'The area of a circle.'; return 3.14 * radius ** 2" in launched.run("area??")
    assert "Signature: len(obj, /)" in launched.run("?len")
    assert any("Object `nothing_here` not found" in line for line in launched.run("nothing_here?"))
    shown = launched.run("help(len)")
    assert any("Return the number of items in a container." in line for line in shown)


def test_put_and_get_round_trip_a_dict_and_a_lambda(launched: TmuxTerminal) -> None:
    assert launched.run("%local d = {'alpha': 1, 'beta': [2, 3]}") == []
    launched.run("%local square = lambda x: x * x")
    assert launched.run("%put d") == ["remrepl: remote d = local d (dict)"]
    assert launched.run("%put square sq") == ["remrepl: remote sq = local square (function)"]
    assert launched.run("sq(d['alpha'] + d['beta'][1])") == ["16"]
    launched.run("remote_dict = {'k': sq(3)}; cube = lambda x: x ** 3")
    assert launched.run("%get remote_dict") == ["remrepl: local remote_dict = remote remote_dict (dict)"]
    assert launched.run("%get cube local_cube") == ["remrepl: local local_cube = remote cube (function)"]
    assert launched.run("%local remote_dict, local_cube(2)") == ["({'k': 9}, 8)"]
    assert launched.run("%who_local") == ["d  local_cube  remote_dict  square"]
    assert launched.run("%who") == ["cube  d  remote_dict  sq"]
    start = tab_complete(launched, "%get remote_di", "%get remote_dict")  # Tab after %get completes a remote name
    launched.send("C-c")
    launched.wait_prompt(start)


def test_get_of_a_missing_or_unpicklable_object_changes_nothing(launched: TmuxTerminal) -> None:
    launched.run("%local kept = 'before'")
    launched.run("import threading; kept = threading.Lock()")
    shown = launched.run("%get kept")
    assert len(shown) == 1 and "cannot pickle 'kept'" in shown[0] and "nothing was changed" in shown[0]
    shown = launched.run("%get nothing_here kept")
    assert shown == ["remrepl: %get: name 'nothing_here' is not defined on the remote side; nothing was changed"]
    assert launched.run("%local kept") == ["'before'"]
    shown = launched.run("%put nothing_local")
    assert shown == [
        "remrepl: %put: there is no local name 'nothing_local' (%who_local lists them); nothing was changed"
    ]


def test_bad_magic_arguments_print_the_usage(launched: TmuxTerminal) -> None:
    assert launched.run("%get") == ["usage: %get NAME [LOCAL]"]
    assert launched.run("%put a b c") == ["usage: %put LOCAL [NAME]"]
    assert launched.run("%get 1x") == ["usage: %get NAME [LOCAL]", "  ('1x' is not a Python name)"]
    assert launched.run("%time now") == ["usage: %time"]
    assert launched.run("%local") == ["usage: %local CODE"]
    assert launched.run("%restart please") == ["usage: %restart [-f]"]
    assert launched.run("!") == ["usage: !CMD"]
    assert launched.run("%nonsense") == ["remrepl: unknown magic %nonsense; %help lists them"]
    shown = "\n".join(launched.run("%help"))
    for usage in ("%get NAME [LOCAL]", "%put LOCAL [NAME]", "%local CODE", "%who_local", "%time", "!CMD", "%restart"):
        assert usage in shown


def test_shell_commands_stream_and_stop_on_ctrl_c(launched: TmuxTerminal) -> None:
    assert launched.run("!echo hello $((6 * 7))") == ["hello 42"]
    start = launched.mark()
    launched.type("!echo started; sleep 60; echo finished")
    launched.send("Enter")
    launched.wait_for("started", since=start)
    launched.send("C-c")
    shown = launched.wait_prompt(start)
    assert "finished" not in shown and "Traceback (most recent call last):" not in shown
    assert launched.run("1 + 1") == ["2"]


def test_restart_gives_a_fresh_interpreter(launched: TmuxTerminal, state_dir: Path) -> None:
    launched.run("x = 1")
    before = kernel_pid(state_dir)
    notice = "[remrepl] The remote interpreter was restarted: names defined before are gone."
    assert launched.run("%restart") == [notice]
    assert any("NameError: name 'x' is not defined" in line for line in launched.run("x"))
    assert kernel_pid(state_dir) != before
    assert launched.run("1 + 1") == ["2"]


def test_time_toggles_the_wall_time(launched: TmuxTerminal) -> None:
    assert launched.run("%time") == ["remrepl: timing is on"]
    shown = launched.run("1 + 1")
    assert shown[0] == "2" and shown[1].startswith("[wall time ") and shown[1].endswith(" s]")
    assert launched.run("%time") == ["remrepl: timing is off"]
    assert launched.run("1 + 1") == ["2"]


def test_background_output_appears_above_a_half_typed_line(launched: TmuxTerminal) -> None:
    code = (
        "import threading, time; threading.Thread(daemon=True, "
        "target=lambda: [(time.sleep(0.3), print('tick', i, flush=True)) for i in range(5)]).start()"
    )
    start = launched.mark()
    launched.run(code)
    launched.type("half_typed = 12")
    launched.wait_for("tick 4", since=start)
    launched.wait_for_line(lambda line: line == f"{PROMPT} half_typed = 12", "the half-typed line, intact", since=start)
    lines = launched.lines()[start:]
    assert lines[-1] == f"{PROMPT} half_typed = 12"  # redrawn below the output, as typed
    ticks = [line for line in lines if "tick" in line]
    assert ticks == [f"tick {i}" for i in range(5)]  # whole lines, none mixed with the prompt
    after = launched.mark()
    launched.send("Enter")
    launched.wait_prompt(after)
    assert launched.run("half_typed") == ["12"]


def test_vi_mode_from_the_config_file(terminal: TmuxTerminal, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('editing_mode = "vi"\ncolor_scheme = "monokai"\n')
    terminal.env["REMREPL_CONFIG"] = str(config)
    terminal.start([*remrepl_command(), "connect", "--launch"])
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    start = terminal.mark()
    terminal.type("garbage")
    terminal.wait_for(f"{PROMPT} garbage", since=start - 1)
    terminal.send("Escape")
    terminal.type("ddi")  # vi: delete the line, back to insert mode
    terminal.type("6 * 7")
    terminal.wait_for(f"{PROMPT} 6 * 7", since=start - 1)
    terminal.send("Enter")
    assert terminal.wait_prompt(start)[-1] == "42"


def test_tab_completes_while_a_computation_keeps_the_kernel_busy(launched: TmuxTerminal, state_dir: Path) -> None:
    """At the prompt the kernel's main thread is idle, so the busy kernel here is a thread of the user's
    spinning in pure Python (holding the GIL as a long computation does); the menu must still come."""
    launched.run("busy_remote_name = 1")
    spin = (
        "import threading; stop = threading.Event(); "
        "threading.Thread(target=lambda: any(iter(stop.is_set, True))).start()"  # spins until stop.set()
    )
    launched.run(spin)
    try:
        wait_busy(kernel_pid(state_dir))
        start = tab_complete(launched, "busy_remote_na", "busy_remote_name")
        launched.send("Enter")
        assert launched.wait_prompt(start)[-1] == "1"
    finally:
        launched.run("stop.set()")


def test_a_takeover_while_the_prompt_waits_ends_it_at_once(
    terminal: TmuxTerminal, server: RunningServer, password_file: Path
) -> None:
    """The prompt's output receiver also notices the session ending (another client attached): the prompt
    ends with the reason, without waiting for Enter."""
    argv = ["connect", "--connection-file", str(server.connection_file), "--password-file", str(password_file)]
    terminal.start([*remrepl_command(), *argv])
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    terminal.type("half_typed")
    with server.connect() as other:
        terminal.wait_for("remrepl: the server detached this client: another client attached to this session and took")
        assert "the namespace and any run go on" in terminal.screen()
        assert terminal.wait_exit() == 1
        assert other.run("6 * 7").value == "42"
