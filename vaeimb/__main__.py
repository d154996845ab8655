"""``python -m vaeimb``: see ``vaeimb.interfaces.cli``."""

import sys

from .interfaces.cli import main

sys.exit(main())
