"""Links in emails work (issue 17 item 10): they point at the port the portal is served on. `make run PORT=8000`
passes PORT to the app, whose PUBLIC_URL then defaults to http://127.0.0.1:8000; a PUBLIC_URL set wins."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from portal import create_app
from portal.config import PROJECT_ROOT, ConfigError, Settings
from tests.conftest import PortalClient, test_config


@pytest.fixture
def no_public_url(monkeypatch):
    monkeypatch.delenv("PUBLIC_URL", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    return monkeypatch


def test_links_default_to_the_local_server_on_port_5000(no_public_url):
    assert Settings.from_environ().public_url == "http://127.0.0.1:5000"


def test_the_port_the_app_is_served_on_makes_the_links_base(no_public_url):
    no_public_url.setenv("PORT", "8000")
    assert Settings.from_environ().public_url == "http://127.0.0.1:8000"


def test_a_public_url_set_wins_over_the_port(no_public_url):
    no_public_url.setenv("PORT", "8000")
    no_public_url.setenv("PUBLIC_URL", "https://partners.example.com/")
    assert Settings.from_environ().public_url == "https://partners.example.com"


@pytest.mark.parametrize("port", ["eighty", "0", "70000", "８０"])
def test_a_port_that_is_not_one_stops_the_start_with_a_message(no_public_url, port):
    no_public_url.setenv("PORT", port)
    with pytest.raises(ConfigError, match="PORT must be a port number"):
        Settings.from_environ()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_passes_its_port_to_the_app():
    dry_run = subprocess.run(["make", "-n", "run", "PORT=8000"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             check=True).stdout
    serve = next(line for line in dry_run.splitlines() if " run --host" in line)
    assert "PORT=8000 " in serve and serve.endswith("--port 8000")


def test_a_reset_email_sent_by_an_app_served_on_8000_links_to_8000(no_public_url, database_url, smtp_server,
                                                                   demo, mailbox, tmp_path):
    no_public_url.setenv("PORT", "8000")
    served_on_8000 = create_app(test_config(database_url, f"smtp://127.0.0.1:{smtp_server[1]}",
                                            PUBLIC_URL=Settings.from_environ().public_url,
                                            INSTANCE_PATH=str(tmp_path)))
    served_on_8000.test_client_class = PortalClient
    client = served_on_8000.test_client()

    assert client.submit("/password/forgot", {"email": "carol@contoso.example.com"}).status_code == 302

    [mail] = mailbox.to("carol@contoso.example.com")
    [link] = re.findall(r"https?://\S+/password/set/\S+", mail.get_content())
    assert link.startswith("http://127.0.0.1:8000/password/set/")
