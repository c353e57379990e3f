"""The vendor as the seller: its legal and bank details (staff settings, copied onto each invoice as issued) and
the sales taxes it charges each buyer."""
