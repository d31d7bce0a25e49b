"""The observations domain (built in a later issue)."""
