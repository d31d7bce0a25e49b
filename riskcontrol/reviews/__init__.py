"""The reviews domain (built in a later issue)."""
