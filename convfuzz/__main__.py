"""`python -m convfuzz` is the `convfuzz` command."""

import sys

from convfuzz.fuzz.cli import main

# Guarded: spawned worker processes re-import the main module, and must not start a second CLI.
if __name__ == "__main__":
    sys.exit(main())
