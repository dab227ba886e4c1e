"""Where a class's shared pieces live on the machine (each overridable by an environment variable).

A module of its own, importing nothing heavy, so that building the command line (every
``python -m autograder`` command) does not import nbgrader just to print these defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the course environment every account runs (``provision-env``)
DEFAULT_PREFIX = Path(os.environ.get("GD_CLASS_ENV", "/opt/gd-five-ways"))
#: the class's description written by ``create-class``
DEFAULT_CLASS_FILE = Path(os.environ.get("GD_CLASS_FILE", "/etc/gd-five-ways/class.json"))
#: nbgrader's exchange (its own default root is /srv/nbgrader/exchange)
DEFAULT_EXCHANGE = Path("/usr/local/share/nbgrader/exchange")
