"""The sandbox processor (issue 21): the embedded default that plays a card processor's part, served as its own
blueprint under /sandbox-processor. See `portal.sandbox_processor.processor` for its test cards."""
