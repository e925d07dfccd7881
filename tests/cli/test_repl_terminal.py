"""The ``remote>`` prompt in a real terminal: a private tmux server runs ``remrepl connect``, the tests type
into it with ``send-keys`` and read the screen with ``capture-pane``.

Every wait polls the screen (or /proc) against a deadline; no fixed sleep is ever the synchronisation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support.cli import remrepl_command
from tests.support.processes import alive, server_processes, terminate
from tests.support.servers import RunningServer
from tests.support.terminal import CONTINUATION, PROMPT, TmuxTerminal, kernel_pid, wait_busy
from tests.support.waiting import wait_until

# --- the tests ----------------------------------------------------------------------------------------


def test_launch_shows_the_prompt_and_evaluates(launched: TmuxTerminal) -> None:
    screen = launched.screen()
    assert "remrepl: connected to local" in screen
    assert launched.lines()[-1] == PROMPT
    assert launched.run("x = 21 * 2") == []
    assert launched.run("x") == ["42"]
    help_lines = "\n".join(launched.run("%help"))
    assert "%exit" in help_lines and "%shutdown" in help_lines


def test_multiline_block_uses_the_continuation_prompt(launched: TmuxTerminal) -> None:
    start = launched.mark()
    launched.type("for i in range(3):")
    launched.send("Enter")
    first = launched.wait_for_line(lambda line: line.startswith(CONTINUATION), "a continuation line", since=start)
    launched.type("print(i)")
    launched.send("Enter")
    launched.wait_for_line(lambda line: line.startswith(CONTINUATION), "a second continuation line", since=first + 1)
    launched.send("Enter")  # the empty line ends the block
    shown = launched.wait_prompt(start)
    assert re.fullmatch(r"\.\.\.\s+print\(i\)", shown[0]), shown  # indented for the block by the prompt
    assert [line for line in shown if not line.startswith(CONTINUATION)] == ["0", "1", "2"]


def test_ctrl_c_interrupts_a_running_loop_and_the_namespace_survives(launched: TmuxTerminal, state_dir: Path) -> None:
    launched.run("x = 21 * 2")
    kernel = kernel_pid(state_dir)
    start = launched.mark()
    launched.type("while True: pass")
    launched.send("Enter")
    launched.wait_for_line(lambda line: line.startswith(CONTINUATION), "a continuation line", since=start)
    launched.send("Enter")
    wait_busy(kernel)
    launched.send("C-c")
    shown = "\n".join(launched.wait_prompt(start))
    assert "KeyboardInterrupt" in shown
    assert "remrepl/" not in shown
    assert kernel_pid(state_dir) == kernel  # the same interpreter, not a restarted one
    assert launched.run("x") == ["42"]


def test_ctrl_c_at_the_prompt_clears_the_line(launched: TmuxTerminal) -> None:
    launched.run("x = 21 * 2")
    start = launched.mark()
    launched.type("half_typed_name")
    launched.wait_for(f"{PROMPT} half_typed_name", since=start - 1)
    launched.send("C-c")
    launched.wait_prompt(start)
    assert launched.run("x") == ["42"]  # neither half_typed_name nor half_typed_namex ran
    assert "NameError" not in launched.screen()


def test_repeated_ctrl_c_never_ends_the_session(launched: TmuxTerminal, state_dir: Path) -> None:
    """A user who presses Ctrl-C again and again (at the prompt, or to stop a loop) keeps the session: a
    Ctrl-C between two prompts, when the terminal is briefly out of raw mode, must not end the client
    (which, with --launch, would also stop the server and lose the namespace)."""
    launched.run("x = 21 * 2")
    servers = server_processes(state_dir)
    kernel = kernel_pid(state_dir)

    def hammer(presses: int) -> None:
        for _ in range(presses):  # one tmux call each, so the presses are spread over the prompt's redraws
            try:
                launched.send("C-c")
            except AssertionError:
                break  # the pane is gone: the checks below report it with the screen

    hammer(150)
    launched.settle()
    start = launched.mark()
    assert launched.run("x") == ["42"], launched.screen()

    launched.type("while True: pass")
    launched.send("Enter")
    launched.wait_for_line(lambda line: line.startswith(CONTINUATION), "a continuation line", since=start)
    launched.send("Enter")
    wait_busy(kernel)
    hammer(150)
    launched.settle()
    assert launched.run("x") == ["42"], launched.screen()

    screen = launched.screen()
    assert "remrepl: interrupted" not in screen
    assert "site-packages" not in screen and "RuntimeWarning" not in screen
    assert all(alive(pid) for pid in servers)


def test_up_recalls_the_previous_command(launched: TmuxTerminal) -> None:
    launched.run("x = 21 * 2")
    assert launched.run("x + 1") == ["43"]
    start = launched.mark()
    launched.send("Up")
    launched.wait_for(f"{PROMPT} x + 1", since=start - 1)
    launched.send("Enter")
    assert launched.wait_prompt(start) == ["43"]


def test_ctrl_r_finds_an_earlier_command_and_enter_runs_it(launched: TmuxTerminal) -> None:
    launched.run("alpha = 20")
    launched.run("beta = 1")
    launched.run("alpha + beta")
    start = launched.mark()
    launched.send("C-r")
    launched.type("alpha =")
    launched.wait_for("alpha = 20", since=start - 1)
    launched.send("Enter")  # accept the match into the line...
    launched.wait_for(f"{PROMPT} alpha = 20", since=start - 1)
    launched.send("End")
    launched.type("0")  # ...edit it...
    launched.send("Enter")  # ...and run it
    launched.wait_prompt(start)
    assert launched.run("alpha") == ["200"]


def test_a_pasted_block_runs_as_one(launched: TmuxTerminal, tmp_path: Path) -> None:
    block = tmp_path / "block.py"
    block.write_text("def double(x):\n    y = x * 2\n\n    return y\n\nprint(double(21))\n")
    start = launched.mark()
    launched.tmux("load-buffer", str(block))
    launched.tmux("paste-buffer", "-p", "-t", launched.pane)  # -p: bracketed paste, as terminals do
    launched.wait_for("print(double(21))", since=start - 1)
    launched.send("Enter")
    assert "42" in launched.wait_prompt(start)
    assert launched.run("double(5)") == ["10"]


def test_remote_input_is_answered_from_the_keyboard(launched: TmuxTerminal) -> None:
    start = launched.mark()
    launched.type('name = input("name? ")')
    launched.send("Enter")
    launched.wait_for("name?", since=start)
    launched.type("Ada Lovelace")
    launched.send("Enter")
    assert launched.wait_prompt(start) == ["name? Ada Lovelace"]
    assert launched.run("name") == ["'Ada Lovelace'"]


def test_ctrl_c_at_a_remote_input_interrupts_the_code(launched: TmuxTerminal) -> None:
    launched.run("x = 21 * 2")
    start = launched.mark()
    launched.type('answer = input("answer? ")')
    launched.send("Enter")
    launched.wait_for("answer?", since=start)
    launched.send("C-c")
    shown = "\n".join(launched.wait_prompt(start))
    assert "KeyboardInterrupt" in shown
    assert "NameError" in "\n".join(launched.run("answer"))  # the assignment never happened
    assert launched.run("x") == ["42"]


def test_output_without_a_final_newline_does_not_swallow_the_prompt(launched: TmuxTerminal) -> None:
    assert launched.run('print("no newline", end="")') == ["no newline"]
    assert launched.run("1 + 1") == ["2"]


def test_system_exit_at_the_prompt_detaches_from_a_served_server_and_its_namespace_stays(
    terminal: TmuxTerminal, server: RunningServer, password_file: Path
) -> None:
    """As ``>>>`` ends on sys.exit(3) with status 3, so does the prompt; leaving a server that runs on its
    own detaches (as Ctrl-D does), so the namespace is there on the next connect."""
    command = [*remrepl_command(), "connect", "--connection-file", str(server.connection_file)]
    command += ["--password-file", str(password_file)]
    terminal.start(command)
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    terminal.run("x = 21 * 2")
    terminal.type("import sys; sys.exit(3)")
    terminal.send("Enter")
    assert terminal.wait_exit() == 3
    assert server.process.poll() is None
    terminal.start(command)
    terminal.wait_for_line(lambda line: line == PROMPT, "the prompt after reconnecting", timeout=30)
    assert terminal.run("x") == ["42"]


def test_an_error_shows_the_users_traceback_and_the_session_goes_on(launched: TmuxTerminal) -> None:
    launched.run("x = 21 * 2")
    start = launched.mark()
    launched.type("def parse(text): return int(text)")
    launched.send("Enter")
    launched.wait_for_line(lambda line: line.startswith(CONTINUATION), "a continuation line", since=start)
    launched.send("Enter")
    assert launched.wait_prompt(start) == [CONTINUATION]
    shown = launched.run('parse("zz")')
    text = "\n".join(shown)
    assert shown[0] == "Traceback (most recent call last):", text
    assert re.search(r'File "<remote-\d+>", line 1, in <module>', text), text
    assert re.search(r'File "<remote-\d+>", line 1, in parse', text), text
    assert shown[-1] == "ValueError: invalid literal for int() with base 10: 'zz'"
    for internal in ("remrepl/server", "remrepl/client", "kernel.py", "site-packages"):
        assert internal not in text
    assert launched.run("x") == ["42"]


def test_ctrl_d_leaves_and_stops_the_launched_server(launched: TmuxTerminal, state_dir: Path) -> None:
    servers = server_processes(state_dir)
    assert len(servers) == 2, servers  # the supervisor and its kernel, found by this test's state directory
    launched.send("C-d")
    assert launched.wait_exit() == 0
    assert "the server launched for this session was stopped" in launched.screen()
    wait_until(lambda: not any(alive(pid) for pid in servers), 10, "the launched server to end")
    assert server_processes(state_dir) == []


def test_closing_the_terminal_stops_the_launched_server(launched: TmuxTerminal, state_dir: Path) -> None:
    """The terminal goes away under the client (SIGHUP, no clean exit): the server it launched must not
    live on unseen."""
    launched.run("x = 1")
    servers = server_processes(state_dir)
    assert len(servers) == 2, servers
    launched.kill()
    wait_until(lambda: not any(alive(pid) for pid in servers), 15, "the launched server to end")


def test_shutdown_magic_stops_a_connection_file_server(
    terminal: TmuxTerminal, server: RunningServer, password_file: Path
) -> None:
    terminal.start(
        [
            *remrepl_command(),
            "connect",
            "--connection-file",
            str(server.connection_file),
            "--password-file",
            str(password_file),
        ]
    )
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    assert terminal.run("6 * 7") == ["42"]
    start = terminal.mark()
    terminal.type("%shutdown")
    terminal.send("Enter")
    terminal.wait_for("remrepl: the server was shut down.", since=start)
    assert terminal.wait_exit() == 0
    assert server.process.wait(10) == 0


def test_keep_leaves_the_server_running_for_a_reconnect(terminal: TmuxTerminal, state_dir: Path) -> None:
    terminal.start([*remrepl_command(), "connect", "--launch", "--keep"])
    terminal.wait_for_line(lambda line: line == PROMPT, "the first remote> prompt", timeout=30)
    terminal.run("kept = 'still here'")
    terminal.send("C-d")
    assert terminal.wait_exit() == 0
    match = re.search(r"^\s*remrepl connect (\S+)$", terminal.screen(), re.MULTILINE)
    assert match, terminal.screen()
    name = match.group(1)
    record = state_dir / "sessions" / f"{name}.json"
    assert f"the record is {record}" in terminal.screen()
    assert record.stat().st_mode & 0o777 == 0o600
    server_pid = int(json.loads(record.read_text())["pid"])
    try:
        assert alive(server_pid)
        assert server_pid in server_processes(state_dir)

        # a record is also a connection file
        terminal.start([*remrepl_command(), "connect", "--connection-file", str(record)])
        terminal.wait_for_line(lambda line: line == PROMPT, "the prompt after reconnecting", timeout=30)
        assert terminal.run("kept") == ["'still here'"]
        terminal.send("C-d")
        assert terminal.wait_exit() == 0
        assert alive(server_pid)  # a connection-file session detaches; the server stays
    finally:
        terminate([server_pid])
    assert not alive(server_pid)


STUBBORN = 'import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); exec("while True: pass")'
HINT = "remrepl: the code has not stopped; Ctrl-C again offers to restart the remote interpreter"
QUESTION = "Restart the remote interpreter (its namespace will be lost)? [y/N]"


def test_a_repeated_ctrl_c_offers_to_restart_code_that_ignores_it(launched: TmuxTerminal, state_dir: Path) -> None:
    launched.run("x = 21 * 2")
    kernel = kernel_pid(state_dir)
    start = launched.mark()
    launched.type(STUBBORN)
    launched.send("Enter")
    wait_busy(kernel)
    launched.send("C-c")  # interrupts: ignored by the code
    launched.wait_for(HINT, since=start)  # the client says so
    launched.send("C-c")  # again: the code did not stop
    launched.wait_for(QUESTION, since=start)
    launched.type("n")
    launched.send("Enter")
    launched.wait_for("remrepl: still waiting", since=start)
    assert kernel_pid(state_dir) == kernel
    wait_busy(kernel)  # no means the run goes on

    asked_again = launched.mark()
    launched.send("C-c")
    launched.wait_for(HINT, since=asked_again - 1)
    launched.send("C-c")
    launched.wait_for(QUESTION, since=asked_again - 1)
    launched.type("y")
    launched.send("Enter")
    shown = "\n".join(launched.wait_prompt(asked_again))
    assert "The remote interpreter was killed and restarted" in shown, shown
    wait_until(
        lambda: server_processes(state_dir, marker="remrepl.server.kernel.main") not in ([], [kernel]),
        20,
        "a new kernel",
    )
    assert kernel_pid(state_dir) != kernel
    assert "NameError: name 'x' is not defined" in "\n".join(launched.run("x"))
    assert launched.run("1 + 1") == ["2"]


def test_restart_f_at_the_prompt_gives_a_fresh_interpreter(launched: TmuxTerminal, state_dir: Path) -> None:
    launched.run("x = 1")
    before = kernel_pid(state_dir)
    assert launched.run("%restart -f") == [
        "[remrepl] The remote interpreter was restarted: names defined before are gone."
    ]
    assert kernel_pid(state_dir) != before
    assert any("NameError" in line for line in launched.run("x"))


def test_a_result_bigger_than_a_message_is_shown_whole_and_the_prompt_goes_on(launched: TmuxTerminal) -> None:
    # Over the protocol's 1 MiB header as one message, but within the pane's 10,000 lines of scroll-back.
    launched.run("canary = 'alive'")
    start = launched.mark()
    launched.type("'x' * 1_100_000")
    launched.send("Enter")
    shown = launched.wait_prompt(start, timeout=60)
    assert shown[-1] == repr("x" * 1_100_000), [line[:80] for line in shown]
    assert launched.run("1 + 1") == ["2"]
    assert launched.run("canary") == ["'alive'"]
