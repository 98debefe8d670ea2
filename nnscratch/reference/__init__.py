"""Slow, obvious loop versions of the fast ops: the tests' oracle."""
