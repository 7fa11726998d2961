"""The delivery: every list re-identified in one step, sealed where protected, published."""
