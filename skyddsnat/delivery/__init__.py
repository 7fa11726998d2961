"""Delivery: the night's outbox, the data basis it states and the register of processing."""
