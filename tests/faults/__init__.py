"""The fault suite (`make faults`): real processes on their own PostgreSQL, Redis and fake SMS provider,
each fault injected in turn, and a table of what was filed, told, sent, fired, dropped, lost and doubled."""
