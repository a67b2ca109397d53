"""``python -m vinops.cli …``: the same as the ``vinops`` command."""

import sys

from vinops.cli import main

sys.exit(main())
