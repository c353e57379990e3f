"""Hardware orders (issue 20): devices bought through the cart, shipped to a location, installed as devices that
count towards the plans, and returned under RMA."""
