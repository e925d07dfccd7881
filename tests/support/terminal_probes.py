"""Probes for the fidelity suite's terminal part (tests/fidelity/test_terminal.py): small scripts that draw
with common libraries (rich, tqdm, pandas, click, colorama, pygments) or ask about the terminal, each run in
a real tmux terminal by ``python FILE``, by ``remrepl exec --launch FILE`` and at the ``remote>`` prompt,
and compared screen to screen (colours included: ``capture-pane -e``)."""

from __future__ import annotations

import re

from tests.support.terminal import EXITED, TmuxTerminal

WIDTH, HEIGHT = 100, 30  # the terminal every probe runs in

PROBES: dict[str, str] = {
    "isatty": "import sys\nprint(sys.stdin.isatty(), sys.stdout.isatty(), sys.stderr.isatty())\n",
    "os.get_terminal_size": "import os\nprint(os.get_terminal_size())\n",
    "shutil.get_terminal_size": "import shutil\nprint(shutil.get_terminal_size())\n",
    "TERM": "import os\nprint(os.environ.get('TERM'), os.environ.get('COLORTERM'))\n",
    "ansi-colours": "for code in (31, 32, 1, 4, 7):\n    print(f'\\x1b[{code}mcode {code}\\x1b[0m plain')\n",
    "ansi-256-colours": "print(''.join(f'\\x1b[38;5;{n}m#' for n in range(0, 256, 8)) + '\\x1b[0m')\n",
    "long-line-wraps": "print('x' * 250)\nprint('after')\n",
    "carriage-return": "import sys\nfor i in range(5):\n    sys.stdout.write(f'\\rstep {i}')\nprint()\n",
    "stderr-and-stdout": "import sys\nprint('out')\nprint('err', file=sys.stderr)\nprint('out again')\n",
    "ls-color-auto": "import os, tempfile\nd = tempfile.mkdtemp()\nos.mkdir(os.path.join(d, 'sub'))\n"
    "open(os.path.join(d, 'file'), 'w').close()\nos.system(f'ls --color=auto {d}')\n",
    "colorama": "from colorama import Fore, Style, just_fix_windows_console\njust_fix_windows_console()\n"
    "print(Fore.RED + 'red' + Style.RESET_ALL + ' plain ' + Fore.GREEN + 'green' + Style.RESET_ALL)\n",
    "click-style": "import click\nclick.echo(click.style('bold red', fg='red', bold=True))\nclick.secho('blue', fg='blue')\n",
    "click-width": "import click\nclick.echo(click.formatting.HelpFormatter().width)\n",
    "rich-print": "from rich import print\nprint('[bold red]bold red[/] and [green]green[/]', {'a': [1, 2, 3]})\n",
    "rich-console-width": "from rich.console import Console\nc = Console()\nprint(c.width, c.height, c.is_terminal, c.color_system)\n",
    "rich-table": "from rich.console import Console\nfrom rich.table import Table\nt = Table(title='Films')\n"
    "for col in ('Released', 'Title', 'Box office'):\n    t.add_column(col)\n"
    "t.add_row('1977', 'Star Wars: A New Hope', '$775,398,007')\nt.add_row('1980', 'The Empire Strikes Back', '$538,375,067')\n"
    "Console().print(t)\n",
    "rich-rule": "from rich.console import Console\nConsole().rule('[bold]a rule across the terminal')\n",
    "rich-progress-final": "from rich.progress import track\nfor _ in track(range(20), description='working'):\n    pass\n",
    "rich-syntax": "from rich.console import Console\nfrom rich.syntax import Syntax\n"
    "Console().print(Syntax('def f(x):\\n    return x + 1\\n', 'python'))\n",
    "tqdm-final": "from tqdm import tqdm\nfor _ in tqdm(range(50), bar_format='{l_bar}{bar}| {n_fmt}/{total_fmt}'):\n    pass\n",
    "pandas-width": "import pandas as pd\nprint(pd.get_option('display.width'))\n",
    "pandas-wide-frame": "import pandas as pd\ndf = pd.DataFrame({f'column_{i}': range(i, i + 3) for i in range(14)})\nprint(df)\n",
    "pygments-terminal": "from pygments import highlight\nfrom pygments.lexers import PythonLexer\n"
    "from pygments.formatters import TerminalFormatter\nprint(highlight('x = [1, \"a\"]', PythonLexer(), TerminalFormatter()), end='')\n",
    "textwrap-width": "import shutil, textwrap\nw = shutil.get_terminal_size().columns\nprint(textwrap.fill('word ' * 60, width=w))\n",
}

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
