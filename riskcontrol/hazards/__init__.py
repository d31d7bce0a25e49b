"""The hazards domain (built in a later issue)."""
