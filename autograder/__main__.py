"""``python -m autograder …``: the instructor's command line (see :mod:`autograder.cli`)."""

import sys

from .cli import main

sys.exit(main())
