"""Admin routes of the ingest API: issued API keys (create, list, rotate, revoke) and the audit log."""
