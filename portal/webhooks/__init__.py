"""Webhooks: a main chain's HTTPS endpoints that receive signed events (Standard Webhooks) from the portal."""
