"""The JSON API (/api/v1): activations and license status for installations."""
