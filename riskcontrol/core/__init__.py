"""Shared mechanisms that know no domain: database, clock, security, audit, i18n."""
