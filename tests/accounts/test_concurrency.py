"""Races that real users cause (double clicks, two tabs), run against PostgreSQL with real threads."""

from __future__ import annotations

import threading

import pytest

from portal.accounts import services
from portal.accounts.models import PasswordTokenPurpose
from portal.errors import RuleError
from portal.extensions import db
from tests.factories import actor, make_user


@pytest.mark.postgres_only
def test_a_password_link_used_in_two_tabs_at_once_works_only_once(app):
    with app.app_context():
        user = make_user(password=None)
        raw = services.issue_password_token(user, PasswordTokenPurpose.SET)
        db.session.commit()

    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def use_link(n: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                services.set_password_with_token(raw, f"password number {n}", actor())
                db.session.commit()
                outcomes.append("set")
            except RuleError:
                db.session.rollback()
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=use_link, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused"] * 7 + ["set"]
