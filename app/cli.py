"""The ``datanexus`` command: Faust's CLI for the app (worker, agents, ...) plus our commands.

Workers run on uvloop unless ``--loop`` is given.
"""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if not any(a in ("-L", "--loop") or a.startswith("--loop=") for a in argv):
        sys.argv[1:] = ["--loop", "uvloop", *argv]
    from app import commands  # noqa: F401  (registers our commands on the app)
    from app.main import get_app

    get_app().main()


if __name__ == "__main__":
    main()
