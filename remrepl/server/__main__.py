"""``python -m remrepl.server``: what every launcher runs on the head node."""

import sys

from .serve import main

sys.exit(main())
