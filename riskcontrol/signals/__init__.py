"""The signals domain (built in a later issue)."""
