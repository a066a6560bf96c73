"""What to generate: convolution cases and their tensor values (no framework imports here).

Import the modules themselves (strategies.case, strategies.conv, ...). The package imports nothing on purpose:
an isolated oracle's worker unpickles cases (strategies.case) at every start, and importing Hypothesis there
(strategies.conv) would add a tenth of a second to each restart after a crash.
"""
