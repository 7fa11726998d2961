"""Reading inbox files: decode, structure-check, parse, pseudonymise, quarantine."""
