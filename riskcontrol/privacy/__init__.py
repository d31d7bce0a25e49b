"""Privacy (PIPL): retention periods, legal holds, the daily retention run, the privacy report, and the
data subject's rights (the `subject` sub-package)."""
