"""Pandera models and Great Expectations suites for the pseudonymous source tables."""
