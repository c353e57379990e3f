"""Where mail goes: an SMTP server (`smtp://`, `smtp+starttls://`, `smtps://`) or a folder of .eml files."""

from __future__ import annotations

import os
import smtplib
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit


class Transport:
    def send(self, message: EmailMessage) -> None:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class FolderTransport(Transport):
    """Writes one .eml file per message (the embedded default; staff read them at /admin/mail)."""

    folder: Path

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{message['X-Outbox-Id'].zfill(8)}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(message))
        os.replace(tmp, self.folder / name)  # atomic: a reader never sees half a message


@dataclass
class SMTPTransport(Transport):
    host: str
    port: int
    mode: str = "plain"  # plain | starttls | ssl
    username: str | None = None
    password: str | None = None
    timeout: float = 10.0

    def send(self, message: EmailMessage) -> None:
        cls = smtplib.SMTP_SSL if self.mode == "ssl" else smtplib.SMTP
        with cls(self.host, self.port, timeout=self.timeout) as smtp:
            if self.mode == "starttls":
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def transport_from_url(mail_url: str) -> Transport:
    """Build the transport that MAIL_URL names."""
    parts = urlsplit(mail_url)
    modes = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "ssl"}
    if parts.scheme in modes:
        default_port = {"plain": 25, "starttls": 587, "ssl": 465}[modes[parts.scheme]]
        return SMTPTransport(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or default_port,
            mode=modes[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )
    if parts.scheme == "file":
        return FolderTransport(Path(unquote(parts.path)))
    if parts.scheme:
        raise ValueError(f"MAIL_URL scheme {parts.scheme!r} is not supported (smtp, smtps, smtp+starttls, file)")
    return FolderTransport(Path(mail_url))
