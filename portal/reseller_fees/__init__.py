"""Reseller fees (DOMAIN §8): what the vendor charges a reseller every month for each customer account holding a
license of a product with a fee, and how it is billed (the monthly summary, or a fee invoice charged by the
renewal run)."""
