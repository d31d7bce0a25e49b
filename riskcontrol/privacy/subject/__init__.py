"""A student's rights over the data held about them: an export of everything (PIPL Art. 45) and correction requests (Art. 46)."""
