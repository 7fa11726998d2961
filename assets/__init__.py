"""Dagster assets by domain; each is a thin layer over the pure functions in skyddsnat/."""
