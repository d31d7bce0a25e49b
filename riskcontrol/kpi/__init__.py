"""The kpi domain (built in a later issue)."""
