"""The incidents domain (built in a later issue)."""
