"""The engine and CLI: run cases on oracles, judge, record findings, replay them."""
