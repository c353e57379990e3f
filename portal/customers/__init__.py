"""Customers: a reseller's page for one of its customers, and the license picker its assignments use."""
