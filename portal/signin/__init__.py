"""Sign-in security: server-side sessions (listed and ended at /account/security) and two-step sign-in (TOTP)."""
