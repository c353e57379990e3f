"""Builders shared by the transfer tests: a valid request's details and uploads."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import current_app

from portal.transfers.services import UPLOAD_FOLDER, TransferDetails, Upload
from tests.factories import SAMPLE_PDF

FORM = {"legal_name": "Contoso Retail Holdings Ltd", "address_line1": "77 Pike Street", "address_line2": "",
        "city": "Seattle", "region": "WA", "postal_code": "98101", "country": "US",
        "invoice_email": "ap@contoso.example.com", "phone": "+1 (206) 555-0142",
        "manager_email": "carol@contoso.example.com"}


def details(**changes) -> TransferDetails:
    return TransferDetails(**{**FORM, **changes})


def pdf(data: bytes = SAMPLE_PDF, name: str = "authorization.pdf") -> Upload:
    return Upload(filename=name, stream=io.BytesIO(data))


def stored_files(app=None) -> list[Path]:
    """The authorizations stored under the instance folder (the app's, or the current one's)."""
    folder = Path((app or current_app).instance_path) / UPLOAD_FOLDER
    return sorted(folder.glob("*")) if folder.exists() else []


@pytest.fixture
def form_data():
    """What the request form posts, with a fresh PDF each call."""

    def build(sub_chain_id: int, data: bytes = SAMPLE_PDF, name: str = "authorization.pdf", **changes) -> dict:
        return {**FORM, "sub_chain_id": str(sub_chain_id), "authorization": (io.BytesIO(data), name), **changes}

    return build
