"""Renewals: the notices that tell managers what expires or renews soon (and, as recurring billing lands, the
renewal run itself)."""
