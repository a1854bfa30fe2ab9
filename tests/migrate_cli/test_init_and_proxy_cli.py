"""`init` writes a starter config the proxy accepts; config mistakes are one line naming file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from core.config import load_config
from migrate_cli.main import cli


def test_init_writes_a_config_the_proxy_accepts(tmp_path: Path) -> None:
    target = tmp_path / "alveare.yaml"
    result = CliRunner().invoke(cli, ["init", "--path", str(target)])
    assert result.exit_code == 0, result.output
    config = load_config(target, environ={})
    assert config.specialists["classify"] == "qwen:classify"
    again = CliRunner().invoke(cli, ["init", "--path", str(target)])
    assert again.exit_code == 1 and "already exists" in again.output and "--force" in again.output


@pytest.mark.parametrize(
    ("yaml_text", "flags", "expected"),
    [
        ("mirorr: 0.1\n", [], "mirorr: unknown key"),
        ("incumbent: {url: api.openai.com}\n", [], "incumbent.url: 'api.openai.com' is not an http(s) URL"),
        ("", ["--store", "mysql://x"], "store URL 'mysql://x' is not supported"),
        ("", ["--mirror", "150%"], "--mirror: mirror.rate: rate '150%' is out of range"),
        ("listen: [127.0.0.1\nmirror: {\n", [], "not valid YAML ("),
        ("", ["--models", "gpt-4o-mini"], "--models: models: 'gpt-4o-mini' is not NAME=VALUE"),
    ],
)
def test_proxy_config_errors_are_one_line(
    tmp_path: Path, yaml_text: str, flags: list[str], expected: str
) -> None:
    path = tmp_path / "alveare.yaml"
    path.write_text(yaml_text)
    result = CliRunner().invoke(cli, ["proxy", "--config", str(path), *flags])
    assert result.exit_code == 2  # bad input the user can fix
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], result.output
