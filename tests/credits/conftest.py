"""The invoicing tests' helpers (the demo with an application context, checkout purchases) for credit notes."""

from tests.billing.conftest import billing  # noqa: F401 - the fixture, shared with tests/billing
