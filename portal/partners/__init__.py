"""Installation Partner grants (DOMAIN §2, Scenario 2): a customer's main chain lets a partner organization
install and support it, for a limited time, through the partner users its managers assign."""
