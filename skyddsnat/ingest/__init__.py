"""Ingest: the inbox's files, their freshness, and turning each row into a pseudonymous row.

Decode, structure-check, parse, pseudonymise, quarantine; the first room data passes.
"""
