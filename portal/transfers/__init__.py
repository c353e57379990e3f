"""Account transfers (DOMAIN §2, Scenario 3): a reseller hands one of its sub-chains over to the end customer."""
