"""Lists: what each list holds and for whom, re-identification, sealing and the workbooks."""
