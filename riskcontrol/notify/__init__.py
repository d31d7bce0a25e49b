"""The notify domain (built in a later issue)."""
