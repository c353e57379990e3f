"""SANDBOX_CARD_LIMIT, the cards the sandbox processor takes per client address, comes from the environment like the
other rate limits (a load test from one address raises it)."""

from portal.config import Settings


def test_the_sandbox_card_limit_is_thirty_a_minute_unless_the_environment_says_otherwise(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a-real-production-secret-of-some-length")
    monkeypatch.delenv("SANDBOX_CARD_LIMIT", raising=False)
    assert Settings.from_environ().as_flask_config()["SANDBOX_CARD_LIMIT"] == "30 per minute"

    monkeypatch.setenv("SANDBOX_CARD_LIMIT", "1000 per minute")
    assert Settings.from_environ().as_flask_config()["SANDBOX_CARD_LIMIT"] == "1000 per minute"
