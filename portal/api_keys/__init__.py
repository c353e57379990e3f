"""API keys: a Chain & User Manager's credentials for the automation API (/account/api-keys)."""
