"""convfuzz: property-based differential fuzzing of convolution.

Installed, all of convfuzz lives under this one name: `convfuzz.strategies` (what to generate), `convfuzz.oracles`
(who computes) and `convfuzz.fuzz` (the engine, the CLI and the pytest plugin). In the repository those are the
top-level folders strategies/, oracles/ and fuzz/; this package reaches them through links of the same names, so
the code is imported by one name from a checkout and from an install alike.
"""

import time

# When convfuzz started: the first import of this package, which is the first thing `convfuzz` and `python -m
# convfuzz` do. A campaign's --time-budget counts from here, so that its own start-up counts against the budget
# but an installer or shell script that ran before it in the same process (`exec convfuzz ...`) does not.
STARTED = time.time()
