"""Action programmes against failing grades, per school."""
