"""The income check of childcare fees (inkomstkontroll, maxtaxa)."""
