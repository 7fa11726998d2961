"""Lists and their delivery: what each list holds, for whom, and how it is written."""
