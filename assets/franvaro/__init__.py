"""Problematic absence: per pupil, per principal, and the board's suppressed picture."""
