"""Locations and the devices installed at them (DOMAIN §5): what device and location plans count."""
