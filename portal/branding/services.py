"""Validating, storing and finding the portal's favicon and logo.

An upload is sniffed from its bytes, never trusted by its name or declared type: a PNG (decoded by Pillow, within
a pixel limit checked before any pixel is read), an ICO (favicon only) or an SVG (parsed; refused with a DOCTYPE
or entity, a script, an event handler, a foreignObject or any reference outside the file). The file replaces the
previous one of its kind at branding/<kind>.<ext> in the portal's storage (portal/storage.py: the instance
folder, written atomically, or the database), and the change is audited. Without an upload the static defaults apply.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from xml.etree import ElementTree

from PIL import Image, UnidentifiedImageError

from portal.audit.services import Actor, record
from portal.errors import RuleError
from portal.storage import storage

FOLDER = "branding"  # the keys' folder in the storage
TYPES = {"png": "image/png", "svg": "image/svg+xml", "ico": "image/vnd.microsoft.icon"}
SVG_NS = "{http://www.w3.org/2000/svg}"
_FORBIDDEN_SVG = {"script", "foreignobject", "iframe", "embed", "object", "audio", "video", "handler", "listener"}
_REFERENCE_ATTRIBUTES = {"href", "src"}
_EXTERNAL_URL = re.compile(r"url\(\s*['\"]?(?!#)", re.I)


@dataclass(frozen=True)
class Kind:
    """One replaceable image: what it is called, the formats and the limits it accepts."""

    name: str
    label: str
    formats: tuple[str, ...]
    max_bytes: int
    max_side: int  # pixels, each way (PNG and ICO)
    default: str  # under portal/static

    @property
    def id(self) -> str:  # what the audit log names it by
        return self.name


KINDS = {
    "favicon": Kind("favicon", "Favicon", ("png", "svg", "ico"), 100 * 1024, 512, "img/favicon.svg"),
    "logo": Kind("logo", "Logo", ("png", "svg"), 512 * 1024, 2000, "img/logo.svg"),
}


def describe(kind: Kind) -> str:
    """What the upload field accepts, in words."""
    names = " or ".join(f.upper() for f in kind.formats)
    return f"{names}, at most {kind.max_bytes // 1024} KB and {kind.max_side} × {kind.max_side} pixels."


def _refuse(kind: Kind, message: str) -> RuleError:
    return RuleError(f"{message} Upload a {' or '.join(f.upper() for f in kind.formats)} file.", "image")


def sniff(kind: Kind, data: bytes) -> str:
    """The format of an uploaded image ('png', 'svg', 'ico') once checked; RuleError beside the field otherwise."""
    if not data:
        raise _refuse(kind, "That file is empty.")
    if len(data) > kind.max_bytes:
        raise RuleError(f"The file is larger than {kind.max_bytes // 1024} KB. Upload a smaller one.", "image")
    if data.startswith(b"\x89PNG\r\n\x1a\n") and "png" in kind.formats:
        _check_raster(kind, data, "PNG")
        return "png"
    if data.startswith(b"\x00\x00\x01\x00") and "ico" in kind.formats:
        _check_raster(kind, data, "ICO")
        return "ico"
    if "svg" in kind.formats and b"<svg" in data[:4096]:
        _check_svg(kind, data)
        return "svg"
    raise _refuse(kind, "That file is not an image this field accepts.")


def _check_raster(kind: Kind, data: bytes, pillow_format: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=(pillow_format,)) as probe:
                width, height = probe.size
                if width > kind.max_side or height > kind.max_side:  # before a single pixel is decoded
                    raise RuleError(f"The image is {width} × {height} pixels: at most {kind.max_side} × "
                                    f"{kind.max_side}.", "image")
                probe.verify()
    except RuleError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, UnidentifiedImageError, OSError,
            SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise _refuse(kind, f"That {pillow_format} file is damaged or too large to decode.") from exc


def _check_svg(kind: Kind, data: bytes) -> None:
    if re.search(rb"<!(DOCTYPE|ENTITY)", data, re.I):  # no entity expansion, no external entities
        raise _refuse(kind, "That SVG declares a DOCTYPE or entities, which a logo never needs.")
    try:
        root = ElementTree.fromstring(data)  # noqa: S314 - a DOCTYPE or entity is refused above: nothing expands
    except ElementTree.ParseError as exc:
        raise _refuse(kind, "That SVG is not well-formed.") from exc
    if root.tag != f"{SVG_NS}svg":
        raise _refuse(kind, "That file is not an SVG image.")
    for element in root.iter():
        name = element.tag.rsplit("}", 1)[-1].lower() if isinstance(element.tag, str) else ""
        if name in _FORBIDDEN_SVG:
            raise _refuse(kind, f"That SVG holds a <{name}> element, which runs or embeds other content.")
        if name == "style" and (_EXTERNAL_URL.search(element.text or "") or "@import" in (element.text or "")):
            raise _refuse(kind, "That SVG's style loads something from outside the file.")
        for attribute, value in element.attrib.items():
            local = attribute.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                raise _refuse(kind, f"That SVG holds an event handler ({local}), which runs a script.")
            if local in _REFERENCE_ATTRIBUTES and not value.strip().startswith("#"):
                raise _refuse(kind, "That SVG refers to a file or address outside itself.")
            if _EXTERNAL_URL.search(value):
                raise _refuse(kind, "That SVG refers to a file or address outside itself.")


def _key(kind: Kind, extension: str) -> str:
    return f"{FOLDER}/{kind.name}.{extension}"


def stored(kind: Kind) -> tuple[str, str] | None:
    """The storage key of the uploaded file of this kind and its content type, or None (the static default
    applies)."""
    files = storage()
    for extension in kind.formats:
        if files.exists(_key(kind, extension)):
            return _key(kind, extension), TYPES[extension]
    return None


def replace_image(kind: Kind, data: bytes, actor: Actor) -> str:
    """Make the uploaded image the portal's favicon or logo (for every page from now on), audited; returns its
    format. RuleError beside the field for anything but an accepted image within the limits; nothing changes."""
    extension = sniff(kind, data)
    files = storage()
    files.put(_key(kind, extension), data)
    for other in kind.formats:  # one file of each kind: the newest
        if other != extension:
            files.delete(_key(kind, other))
    record(actor, f"branding.{kind.name}_replaced", kind, None, format=extension, bytes=len(data))
    return extension


def restore_default(kind: Kind, actor: Actor) -> bool:
    """Go back to the portal's default favicon or logo, audited. False if it was the default already."""
    found = stored(kind)
    if found is None:
        return False
    for extension in kind.formats:
        storage().delete(_key(kind, extension))
    record(actor, f"branding.{kind.name}_restored", kind, None)
    return True
