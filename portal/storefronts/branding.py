"""A storefront's look and contact details: its display name, accent colour and logo, the contact details its
customers see, and the reseller's tax and company registration numbers printed on its invoices as seller.

The logo and the accent colour are Standard's (a storefront on Free keeps the default look). A logo is decoded
with Pillow before anything is kept: PNG, JPEG or WebP, at most 1 MB and 2000 x 2000 pixels (a decompression
bomb is refused before its pixels are read), then re-encoded to PNG without its metadata and stored
(portal/storage.py: the instance folder, or the database when several nodes share it). The storefront's pages
link it at /s/<alias>/logo.png and take the colour from /s/<alias>/theme.css (the CSP forbids inline styles).
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from PIL import Image, UnidentifiedImageError

from portal.audit.services import Actor, record
from portal.errors import RuleError
from portal.extensions import db
from portal.reseller_plans import plans
from portal.storage import storage, store_bytes
from portal.storefronts.models import Storefront

MAX_LOGO_BYTES = 1024 * 1024
MAX_LOGO_SIDE = 2000  # pixels, each way
LOGO_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
LOGO_FOLDER = "storefront-logos"  # under the instance folder; served by the storefronts.logo view only
DEFAULT_ACCENT = "#1f6feb"
ACCENT = re.compile(r"#[0-9a-f]{6}", re.ASCII)
PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{3,38}", re.ASCII)
_LIMITS = {"display_name": 200, "contact_email": 254, "contact_phone": 40, "contact_address": 1000,
           "tax_id": 64, "registration_id": 64}


@dataclass(frozen=True)
class StorefrontDetails:
    """What the reseller sets on /account/storefront besides the logo. The accent colour is ignored on Free."""

    display_name: str
    accent_colour: str
    contact_email: str = ""
    contact_phone: str = ""
    contact_address: str = ""
    tax_id: str = ""
    registration_id: str = ""


def has_branding(storefront: Storefront) -> bool:
    """Whether the reseller's own logo and colour apply: on Standard only."""
    return plans.has_standard_features(storefront)


def _clean(details: StorefrontDetails) -> dict[str, str]:
    values = {name: str(getattr(details, name) or "").strip() for name in (*_LIMITS, "accent_colour")}
    values["accent_colour"] = values["accent_colour"].lower()
    values["contact_address"] = "\n".join(line.strip() for line in values["contact_address"].splitlines()
                                          if line.strip())
    if not values["display_name"]:
        raise RuleError("Enter the name your customers see.", "display_name")
    for name, limit in _LIMITS.items():
        if len(values[name]) > limit:
            raise RuleError(f"At most {limit} characters.", name)
    if not ACCENT.fullmatch(values["accent_colour"]):
        raise RuleError("Enter a colour as # and six hexadecimal digits, such as #1f6feb.", "accent_colour")
    if values["contact_email"]:
        try:
            values["contact_email"] = validate_email(values["contact_email"], check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise RuleError(str(exc), "contact_email") from exc
    if values["contact_phone"] and not PHONE.fullmatch(values["contact_phone"]):
        raise RuleError("Enter a phone number: digits, spaces, a leading +, hyphens and parentheses.",
                        "contact_phone")
    return values


def update_details(storefront: Storefront, details: StorefrontDetails, actor: Actor) -> dict[str, list]:
    """Save the storefront's name, colour and contact details and the reseller's tax and registration numbers,
    audited with what changed. RuleError beside the first wrong field; nothing changes."""
    values = _clean(details)
    if values["accent_colour"] != storefront.accent_colour and not has_branding(storefront):
        raise RuleError("Your own colour comes with the Standard plan.", "accent_colour")
    changed = {name: [getattr(storefront, name), value] for name, value in values.items()
               if getattr(storefront, name) != value}
    for name, value in values.items():
        setattr(storefront, name, value)
    if changed:
        record(actor, "storefront.details_updated", storefront, storefront.organization_id, changed=changed)
    return changed


# ---------------------------------------------------------------- the logo


def decode_logo(data: bytes) -> bytes:
    """The logo as PNG, re-encoded from a PNG, JPEG or WebP of at most 1 MB and 2000 x 2000 pixels; RuleError
    beside the logo field for anything else (not an image, a damaged one, too large, a decompression bomb)."""
    if not data:
        raise RuleError("That file is empty. Upload a PNG, JPEG or WebP image.", "logo")
    if len(data) > MAX_LOGO_BYTES:
        raise RuleError("The logo is larger than 1 MB. Upload a smaller image.", "logo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=tuple(LOGO_FORMATS)) as probe:
                width, height = probe.size
                if width > MAX_LOGO_SIDE or height > MAX_LOGO_SIDE:  # before a single pixel is decoded
                    raise RuleError(f"The logo is {width} x {height} pixels: at most {MAX_LOGO_SIDE} x "
                                    f"{MAX_LOGO_SIDE}.", "logo")
                probe.verify()
            with Image.open(io.BytesIO(data), formats=tuple(LOGO_FORMATS)) as image:
                image.load()
                rgb = image.convert("RGBA" if _has_alpha(image) else "RGB")
        out = io.BytesIO()
        rgb.save(out, format="PNG", optimize=True)  # no text chunks, EXIF or profile carried over
        return out.getvalue()
    except RuleError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RuleError("That image is too large to decode. Upload a logo of at most 2000 x 2000 pixels.",
                        "logo") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise RuleError("That file is not a PNG, JPEG or WebP image, or it is damaged.", "logo") from exc


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def set_logo(storefront: Storefront, data: bytes, actor: Actor) -> str | None:
    """Replace the storefront's logo with the uploaded image (Standard only), re-encoded to PNG and stored.
    Returns the path of the logo it replaced, for the caller to discard once committed (None if none)."""
    if not has_branding(storefront):
        raise RuleError("Your own logo comes with the Standard plan.", "logo")
    png = decode_logo(data)
    before = storefront.logo_path
    storefront.logo_path = store_bytes(LOGO_FOLDER, f"storefront-{storefront.id}", png, "png")
    storefront.logo_type = "image/png"
    record(actor, "storefront.logo_set", storefront, storefront.organization_id, bytes=len(png))
    return before if before != storefront.logo_path else None


def remove_logo(storefront: Storefront, actor: Actor) -> str | None:
    """Take the logo off the storefront (its pages show its name instead). Returns the file to discard once
    committed."""
    before = storefront.logo_path
    if before is None:
        return None
    storefront.logo_path = storefront.logo_type = None
    record(actor, "storefront.logo_removed", storefront, storefront.organization_id)
    return before


def discard_file(relative: str | None) -> None:
    """Delete a replaced logo's file, after the change is committed (a rollback keeps the old one in use); commits
    the deletion (the database backend deletes in a transaction)."""
    if relative and relative.startswith(f"{LOGO_FOLDER}/"):
        storage().delete(relative)
        db.session.commit()


def theme_css(storefront: Storefront) -> str:
    """The storefront's stylesheet: its accent colour as a CSS custom property (the default on Free)."""
    colour = storefront.accent_colour if ACCENT.fullmatch(storefront.accent_colour or "") else DEFAULT_ACCENT
    if not has_branding(storefront):
        colour = DEFAULT_ACCENT
    return f":root {{\n  --storefront-accent: {colour};\n}}\n"
