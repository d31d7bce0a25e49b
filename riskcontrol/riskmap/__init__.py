"""The riskmap domain (built in a later issue)."""
