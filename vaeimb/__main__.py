"""``python -m vaeimb``: see ``vaeimb.cli``."""

import sys

from .cli import main

sys.exit(main())
