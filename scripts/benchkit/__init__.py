"""The pieces of ``scripts/bench.py``: the harness, the contenders, and one module per section.

``sections/`` is the registry (``sections.SECTIONS``): each section module makes one ``Section`` with
its ``run`` (measure, return JSON-able numbers) and ``render`` (those numbers as table lines), its
targets, its own command-line options and their ``--quick`` values. ``bench.py`` only parses the command
line, runs the chosen sections in registry order, checks the targets and prints.
"""
