"""Domain rules: school duty, absence, maxtaxa, the income check, the board's suppression.

Pure functions over pseudonymous tables; they never see a name, an address or a key.
"""
