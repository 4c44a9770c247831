"""Without the system packages, the fixtures fail with the command that installs them."""

import pytest

from tests.fixtures import browser, servers


def test_missing_sshd_names_the_package(monkeypatch):
    monkeypatch.setattr(servers, "SSHD", "/nonexistent/sshd")
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y openssh-server"):
        servers.SftpServer()


def test_missing_chromium_names_the_package():
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        browser.require_chromium("/nonexistent/chromium")
    assert browser.require_chromium() == "/usr/bin/chromium"
