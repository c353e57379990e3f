"""Reseller plans (DOMAIN §8): Basic, Free and Standard, bought through the cart, renewed by the renewal run; the
storefront alias, the welcome email, cancellation, and the purge of closed storefronts after retention."""
