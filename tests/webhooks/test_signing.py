"""Standard Webhooks signatures: the reference library's vector, and one computed here independently."""

from __future__ import annotations

import base64
import hashlib
import hmac

from portal.webhooks import signing

# The vector of the reference implementation's own test (standard-webhooks, libraries/python/tests).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = '{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_matches_the_standard_webhooks_reference_vector():
    assert signing.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_the_signature_is_the_hmac_of_id_timestamp_and_body_under_the_decoded_secret():
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    body = '{"type":"order.placed","data":{}}'
    expected = base64.b64encode(hmac.new(base64.b64decode(secret.removeprefix("whsec_")),
                                         f"msg_1.1700000000.{body}".encode(), hashlib.sha256).digest()).decode()
    assert signing.sign(secret, "msg_1", 1700000000, body) == f"v1,{expected}"


def test_headers_verify_and_a_changed_body_or_an_old_timestamp_does_not():
    secret = signing.new_secret()
    sent = signing.headers(secret, "msg_abc", '{"a":1}', timestamp=1_700_000_000)
    assert sent["webhook-id"] == "msg_abc" and sent["webhook-timestamp"] == "1700000000"
    assert signing.verify(secret, sent, '{"a":1}', now=1_700_000_010)
    assert not signing.verify(secret, sent, '{"a":2}', now=1_700_000_010)
    assert not signing.verify(secret, sent, '{"a":1}', now=1_700_000_000 + 301)
    assert not signing.verify(signing.new_secret(), sent, '{"a":1}', now=1_700_000_010)
    # several signatures (a receiver rolling secrets): one valid is enough
    rolled = {**sent, "webhook-signature": "v1,AAAA " + sent["webhook-signature"]}
    assert signing.verify(secret, rolled, '{"a":1}', now=1_700_000_010)


def test_a_stored_secret_reads_back_and_not_under_another_secret_key(app):
    secret = signing.new_secret()
    with app.app_context():
        token = signing.encrypt(secret)
        assert secret not in token
        assert signing.decrypt(token) == secret
        app.config["SECRET_KEY"], saved = "another-secret-key-for-this-test", app.config["SECRET_KEY"]
        try:
            assert signing.decrypt(token) is None
        finally:
            app.config["SECRET_KEY"] = saved
