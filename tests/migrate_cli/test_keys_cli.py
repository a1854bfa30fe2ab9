from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.store import Store
from migrate_cli.main import cli
from proxy.keys import KEY_PREFIX, KeyStore


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALVEARE_STORE", raising=False)
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_create_prints_the_key_once_and_list_never_shows_it(store_url: str) -> None:
    code, out, err = run("keys", "create", "--store", store_url, "--name", "billing", "--rpm", "30")
    assert code == 0, out + err
    created, plaintext = out.splitlines()
    assert plaintext.startswith(KEY_PREFIX)
    assert created.startswith("created key_") and "billing (30 rpm, 2000000 tpm)" in created
    assert "cannot be shown again" in err
    record = KeyStore(Store.open(store_url)).verify(plaintext)
    assert record is not None and record.rpm == 30

    code, out, _ = run("keys", "list", "--store", store_url)
    assert code == 0 and record.key_id in out and "active" in out and record.hint in out
    assert plaintext not in out
    code, out, _ = run("keys", "list", "--store", store_url, "--json")
    assert json.loads(out)[0]["key_id"] == record.key_id and plaintext not in out


def test_limits_default_from_the_config(store_url: str, tmp_path: Path) -> None:
    config = tmp_path / "alveare.yaml"
    config.write_text(f"store: {store_url}\nlimits: {{rpm: 7, tpm: 900}}\n")
    code, out, _ = run("keys", "create", "-c", str(config), "--name", "app", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["rpm"], data["tpm"]) == (7, 900) and data["key"].startswith(KEY_PREFIX)


def test_revoke(store_url: str) -> None:
    record, plaintext = KeyStore(Store.open(store_url)).create("app", rpm=1, tpm=1)
    code, out, _ = run("keys", "revoke", "--store", store_url, record.key_id)
    assert code == 0 and out.strip() == f"revoked {record.key_id} (app)"
    assert KeyStore(Store.open(store_url)).verify(plaintext) is None
    _, out, _ = run("keys", "list", "--store", store_url)
    assert "revoked 20" in out


def test_user_errors_say_how_to_fix(store_url: str) -> None:
    code, _, err = run("keys", "revoke", "--store", store_url, "key_nope")
    assert code == 2 and "no key 'key_nope'; see `alveare-migrate keys list`" in err
    code, _, err = run("keys", "create", "--store", store_url, "--name", "app", "--rpm", "0")
    assert code == 2 and "at least 1" in err
    code, _, err = run("keys", "list", "--store", "mysql://x/db")
    assert code == 2 and "use sqlite:///PATH" in err
    _, out, _ = run("keys", "list", "--store", store_url)
    assert "no keys" in out
