"""Reseller storefronts (DOMAIN §8): a reseller on the Free or Standard plan sells at its own prices at /s/<alias>."""
