"""Staff review of account transfer requests: approve (with an optional service-ticket charge) or reject."""

from portal.admin import bp  # noqa: F401 - routes register on the admin blueprint
