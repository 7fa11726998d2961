"""School-duty monitoring (skolpliktsbevakning)."""
