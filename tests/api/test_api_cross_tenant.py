"""A key of Litware never reads or changes Northwind's objects: every operation of the automation API that names
an object, given the id of one of Northwind's, answers 404, as for an id that does not exist (a body the operation
refuses before looking is refused the same way for both), and nothing changes."""

from __future__ import annotations

from sqlalchemy import select

from portal.accounts.models import Organization
from portal.extensions import db
from tests.access import key_authenticated
from tests.api.access import API_ID_PARAMS, API_OTHER_PARAMS
from tests.test_cross_tenant import _snapshot


def _id_operations(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if key_authenticated(app, rule.endpoint) and rule.arguments:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def test_every_parameter_has_a_sample(app):
    missing = ({arg for rule, _ in _id_operations(app) for arg in rule.arguments}
               - API_ID_PARAMS.keys() - API_OTHER_PARAMS.keys())
    assert not missing, f"add these to tests/api/access.py API_ID_PARAMS: {sorted(missing)}"


def test_litware_never_reaches_northwinds_objects(app, api):
    litware = api("frank", "Litware Solutions")
    with app.app_context():
        northwind = db.session.scalars(select(Organization).where(Organization.name == "Northwind IT")).one()
        theirs = {name: make(northwind) for name, make in API_ID_PARAMS.items()}
        db.session.commit()
        before = _snapshot()
    leaks, tried = [], 0
    for rule, method in _id_operations(app):
        body = {} if method in {"POST", "PATCH", "PUT"} else None
        answers = []
        if not set(rule.arguments) & API_ID_PARAMS.keys():
            continue  # names no tenant's object (a catalog product)
        others = {a: API_OTHER_PARAMS[a] for a in rule.arguments if a in API_OTHER_PARAMS}
        for values in ({**others, **{a: theirs[a] for a in rule.arguments if a in theirs}},
                       {**others, **{a: "999999" if a.endswith("_id") else "NOPE-999999"
                                     for a in rule.arguments if a in theirs}}):
            url = rule.build(values, append_unknown=False)[1]
            answers.append(litware.client.open(url, method=method, json=body,
                                               headers={"Authorization": f"Bearer {litware.token}"}))
        tried += 1
        theirs_answer, missing_answer = answers
        if theirs_answer.status_code != 404 and (theirs_answer.status_code, theirs_answer.get_json()) != (
                missing_answer.status_code, missing_answer.get_json()):
            leaks.append((method, rule.rule, theirs_answer.status_code, missing_answer.status_code))
    with app.app_context():
        assert _snapshot() == before
    assert tried >= 8
    assert not leaks, leaks
