"""`python -m fuzz` is the `convfuzz` command."""

import sys

from fuzz.cli import main

sys.exit(main())
