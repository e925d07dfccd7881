"""``python -m remrepl.reaper``: the command line the head node's boot runs (a wire contract)."""

import sys

from .run import main

sys.exit(main())
