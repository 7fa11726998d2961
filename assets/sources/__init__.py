"""One asset per inbox source: validated, quarantined and pseudonymised at the door."""
