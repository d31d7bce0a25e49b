"""People: students and their guardians, staff and monitors as users with roles on grid units."""
