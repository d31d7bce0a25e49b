"""The escalation domain (built in a later issue)."""
