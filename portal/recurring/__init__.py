"""The recurring billing engine: plans and auto-renewing Maintenance & Support bill themselves (DOMAIN §5)."""
