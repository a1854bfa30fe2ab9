"""`alveare-migrate ca` creates the intercept CA once and shows how to trust it; intercept config is checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from core.config import ConfigError, load_config
from migrate_cli.main import cli


def test_ca_is_created_once_and_shown_with_its_fingerprint_and_env_vars(tmp_path: Path) -> None:
    folder = tmp_path / "ca"
    first = CliRunner().invoke(cli, ["ca", "--ca-dir", str(folder)])
    assert first.exit_code == 0, first.output
    assert "(created now)" in first.output
    again = CliRunner().invoke(cli, ["ca", "--ca-dir", str(folder), "--json"])
    shown = json.loads(again.output)
    assert shown["created"] is False
    cert = x509.load_pem_x509_certificate(Path(shown["cert"]).read_bytes())
    assert shown["fingerprint_sha256"] == cert.fingerprint(hashes.SHA256()).hex(":").upper()
    assert shown["env"] == {
        "SSL_CERT_FILE": str(folder / "ca-bundle.pem"),
        "REQUESTS_CA_BUNDLE": str(folder / "ca-bundle.pem"),
        "NODE_EXTRA_CA_CERTS": str(folder / "mitmproxy-ca-cert.pem"),
    }
    bundle = Path(shown["bundle"]).read_bytes()
    assert bundle.endswith(Path(shown["cert"]).read_bytes()) and bundle.count(b"BEGIN CERTIFICATE") > 10
    assert f"export NODE_EXTRA_CA_CERTS={folder / 'mitmproxy-ca-cert.pem'}" in first.output


def test_the_ca_folder_comes_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "alveare.yaml"
    config.write_text(f"intercept:\n  ca_dir: {tmp_path / 'from-config'}\n  hosts: [api.openai.com]\n")
    result = CliRunner().invoke(cli, ["ca", "--config", str(config)])
    assert result.exit_code == 0 and (tmp_path / "from-config" / "mitmproxy-ca-cert.pem").is_file()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("mode: forward\n", "mode: 'forward' is not one of reverse, intercept"),
        ("intercept:\n  hosts: []\n", "intercept.hosts: give a list of host names"),
        ("intercept:\n  port: 1\n", "intercept.port"),
    ],
)
def test_bad_intercept_settings_are_one_line(tmp_path: Path, raw: str, message: str) -> None:
    config = tmp_path / "alveare.yaml"
    config.write_text(raw)
    with pytest.raises(ConfigError, match=message):
        load_config(config, environ={})


def test_intercept_hosts_come_from_env_too() -> None:
    config = load_config(None, environ={"ALVEARE_INTERCEPT_HOSTS": "API.openai.com, example.org"})
    assert config.intercept.hosts == ("api.openai.com", "example.org")
