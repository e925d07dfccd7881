"""Probes for the fidelity suite's terminal part (tests/fidelity/test_terminal.py): small scripts that draw
with common libraries (rich, tqdm, pandas, click, colorama, pygments) or ask about the terminal, each run in
a real tmux terminal by ``python FILE``, by ``remrepl exec --launch FILE`` and at the ``remote>`` prompt,
and compared screen to screen (colours included: ``capture-pane -e``)."""

from __future__ import annotations

import re
import textwrap

from tests.support.terminal import EXITED, TmuxTerminal

WIDTH, HEIGHT = 100, 30  # the terminal every probe runs in

PROBES_SOURCE = {
    "isatty": "import sys; print(sys.stdin.isatty(), sys.stdout.isatty(), sys.stderr.isatty())",
    "os.get_terminal_size": "import os; print(os.get_terminal_size())",
    "shutil.get_terminal_size": "import shutil; print(shutil.get_terminal_size())",
    "TERM": "import os; print(os.environ.get('TERM'), os.environ.get('COLORTERM'))",
    "ansi-colours": """
        for code in (31, 32, 1, 4, 7):
            print(f'\\x1b[{code}mcode {code}\\x1b[0m plain')
    """,
    "ansi-256-colours": "print(''.join(f'\\x1b[38;5;{n}m#' for n in range(0, 256, 8)) + '\\x1b[0m')",
    "long-line-wraps": "print('x' * 250)\nprint('after')",
    "carriage-return": """
        import sys
        for i in range(5):
            sys.stdout.write(f'\\rstep {i}')
        print()
    """,
    "stderr-and-stdout": "import sys\nprint('out')\nprint('err', file=sys.stderr)\nprint('out again')",
    "ls-color-auto": """
        import os, tempfile
        d = tempfile.mkdtemp()
        os.mkdir(os.path.join(d, 'sub'))
        open(os.path.join(d, 'file'), 'w').close()
        os.system(f'ls --color=auto {d}')
    """,
    "colorama": """
        from colorama import Fore, Style, just_fix_windows_console
        just_fix_windows_console()
        print(Fore.RED + 'red' + Style.RESET_ALL + ' plain ' + Fore.GREEN + 'green' + Style.RESET_ALL)
    """,
    "click-style": """
        import click
        click.echo(click.style('bold red', fg='red', bold=True))
        click.secho('blue', fg='blue')
    """,
    "click-width": "import click; click.echo(click.formatting.HelpFormatter().width)",
    "rich-print": "from rich import print\nprint('[bold red]bold red[/] and [green]green[/]', {'a': [1, 2, 3]})",
    "rich-console-width": """
        from rich.console import Console
        c = Console()
        print(c.width, c.height, c.is_terminal, c.color_system)
    """,
    "rich-table": """
        from rich.console import Console
        from rich.table import Table
        t = Table(title='Films')
        for col in ('Released', 'Title', 'Box office'):
            t.add_column(col)
        t.add_row('1977', 'Star Wars: A New Hope', '$775,398,007')
        t.add_row('1980', 'The Empire Strikes Back', '$538,375,067')
        Console().print(t)
    """,
    "rich-rule": "from rich.console import Console\nConsole().rule('[bold]a rule across the terminal')",
    "rich-progress-final": """
        from rich.progress import track
        for _ in track(range(20), description='working'):
            pass
    """,
    "rich-syntax": """
        from rich.console import Console
        from rich.syntax import Syntax
        Console().print(Syntax('def f(x):\\n    return x + 1\\n', 'python'))
    """,
    "tqdm-final": """
        from tqdm import tqdm
        for _ in tqdm(range(50), bar_format='{l_bar}{bar}| {n_fmt}/{total_fmt}'):
            pass
    """,
    "pandas-width": "import pandas as pd; print(pd.get_option('display.width'))",
    "pandas-wide-frame": """
        import pandas as pd
        print(pd.DataFrame({f'column_{i}': range(i, i + 3) for i in range(14)}))
    """,
    "pygments-terminal": """
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import PythonLexer
        print(highlight('x = [1, "a"]', PythonLexer(), TerminalFormatter()), end='')
    """,
    "textwrap-width": """
        import shutil, textwrap
        print(textwrap.fill('word ' * 60, width=shutil.get_terminal_size().columns))
    """,
}
PROBES = {name: textwrap.dedent(source).strip() + "\n" for name, source in PROBES_SOURCE.items()}


def probe_file(name: str) -> str:
    """The probe's file name: prefixed, so that ``colorama.py`` does not shadow the module it imports."""
    return "probe_" + re.sub(r"[^a-z0-9]", "_", name.lower()) + ".py"


# The screen lines as tmux holds them, colours as escape sequences; the command's own lines only.
SGR = re.compile(r"\x1b\[[0-9;]*m")


def capture(terminal: TmuxTerminal) -> list[str]:
    text = terminal.tmux("capture-pane", "-p", "-e", "-J", "-S", "-", "-t", terminal.pane)
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not SGR.sub("", lines[-1]).strip():
        lines.pop()
    return lines


def script_output(lines: list[str]) -> list[str]:
    """The lines of a finished command's window before the shell's exit line."""
    plain = [SGR.sub("", line) for line in lines]
    end = next(i for i, line in enumerate(plain) if EXITED.search(line))
    return lines[:end]
