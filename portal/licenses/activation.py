"""Activating licenses on installations (DOMAIN §4): what the activation API does, without HTTP.

Rules:
- Only an assigned license can be activated (an unassigned one is still the reseller's stock).
- A license is active on at most one installation. The database guarantees it (a partial unique index on the
  active activation of each license), so two installations racing for one license cannot both win: the loser's
  insert fails, and the caller, after rolling back, asks again and is told where the license is active.
- Activating again on the installation where the license is active changes nothing (same activation), except
  that it clears "reactivation required": the installation has picked up the modified license.
- Deactivating needs the activation's id and the license's key (possession of the key is the credential).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.audit.services import Actor, record
from portal.db_types import utcnow
from portal.extensions import db
from portal.licenses.keys import normalize_key
from portal.licenses.models import Activation, License

MAX_INSTALLATION_ID = 128


class InvalidRequest(ValueError):
    """The request is malformed: a missing or ill-formed field (a typo in a key included)."""


class LicenseNotFound(LookupError):
    """No license with that key (or no activation with that id for that key)."""


class NotAssigned(Exception):
    """The license is not assigned to a customer yet, so it cannot be activated."""


class ActiveElsewhere(Exception):
    """The license is active on another installation until that activation is deactivated."""

    def __init__(self, activation: Activation):
        super().__init__(activation.id)
        self.activation = activation


@dataclass(frozen=True)
class Activated:
    activation: Activation
    license: License
    created: bool  # False when the license was already active on this installation


def license_key(text: object) -> str:
    """The canonical form of a key sent to the API; InvalidRequest when it is missing or mistyped."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("license_key is required: the license key, such as XXXXX-XXXXX-XXXXX-XXXXX-XXXXX.")
    try:
        return normalize_key(text)
    except ValueError as error:
        raise InvalidRequest(f"license_key: {error}") from None


def installation_id(text: object) -> str:
    """An installation's identifier as the installer sends it: 1 to 128 printable characters."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("installation_id is required: a string that identifies the installation.")
    text = text.strip()
    if len(text) > MAX_INSTALLATION_ID or not text.isprintable():
        raise InvalidRequest(f"installation_id must be at most {MAX_INSTALLATION_ID} printable characters.")
    return text


def find_license(key: str) -> License:
    """The license with this (canonical) key, with what its status shows; LicenseNotFound otherwise."""
    license_ = db.session.scalars(
        select(License).where(License.key == key)
        .options(joinedload(License.product), joinedload(License.edition), selectinload(License.addons))
    ).first()
    if license_ is None:
        raise LicenseNotFound(key)
    return license_


def active_activation(license_: License) -> Activation | None:
    return db.session.scalars(select(Activation).where(Activation.license_id == license_.id,
                                                       Activation.deactivated_at.is_(None))).first()


def activate(key: str, installation: str, actor: Actor) -> Activated:
    """Activate the license on `installation`. The caller commits; an IntegrityError on flush means another
    installation won a race for this license: roll back and call again for the answer."""
    license_ = find_license(key)
    if license_.customer_id is None:
        raise NotAssigned(key)
    current = active_activation(license_)
    if current is not None and current.installation_id != installation:
        raise ActiveElsewhere(current)
    reactivated = license_.reactivation_required
    license_.reactivation_required = False
    if current is not None:
        if reactivated:
            record(actor, "license.reactivated", current, license_.owner_id, key=key, installation=installation)
        return Activated(current, license_, created=False)
    activation = Activation(license_id=license_.id, installation_id=installation, ip=actor.ip)
    db.session.add(activation)
    db.session.flush()  # the partial unique index refuses a second active activation here
    record(actor, "license.activated", activation, license_.owner_id, key=key, installation=installation,
           reactivated=reactivated or None)
    return Activated(activation, license_, created=True)


def deactivate(activation_id: int, key: str, actor: Actor) -> Activation:
    """End an activation, proven by the license's key; deactivating twice is harmless. LicenseNotFound when the
    id and the key do not belong together (which of the two is wrong is not told)."""
    activation = db.session.scalars(
        select(Activation).join(License, Activation.license_id == License.id)
        .where(Activation.id == activation_id, License.key == key).options(joinedload(Activation.license))
    ).first()
    if activation is None:
        raise LicenseNotFound(key)
    if activation.deactivated_at is None:
        activation.deactivated_at = utcnow()
        record(actor, "license.deactivated", activation, activation.license.owner_id, key=key,
               installation=activation.installation_id)
    return activation
