"""The `cufactor` command of the package: the CLI built with the library and installed
inside the package (cufactor/bin/cufactor), run in place of this process."""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def cli_path():
    """Path of the bundled `cufactor` command-line program (CUFACTOR_CLI overrides it)."""
    return os.environ.get("CUFACTOR_CLI") or os.path.join(_HERE, "bin", "cufactor")


def main():
    path = cli_path()
    if not os.access(path, os.X_OK):
        sys.exit(f"cufactor: the command-line program is missing from the package ({path})")
    os.execv(path, [path] + sys.argv[1:])
