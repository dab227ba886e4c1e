"""The class commands of ``python -m autograder`` (a JupyterHub class, nbgrader's exchange).

``provision-env``  the course environment where every account can run it (provision.py)
"""

from __future__ import annotations

import argparse

COMMANDS = ("provision-env",)


def register(commands, common: argparse.ArgumentParser) -> None:
    """Add the class commands to the CLI's sub-parsers."""
    from . import provision

    p = commands.add_parser("provision-env", help="the course environment, readable and runnable by every account")
    provision.add_arguments(p)


def run(args) -> int:
    if args.command == "provision-env":
        from . import provision

        return provision.run_command(args)
    raise ValueError(f"not a class command: {args.command!r}")
