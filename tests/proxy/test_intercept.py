"""Intercept mode: the official SDK, left at its default base URL (https://api.openai.com), reaches the proxy
through HTTPS_PROXY and trusts its CA; api.openai.com is mapped to the local stand-in by config. Any other
HTTPS host is tunnelled with its own certificate, never decrypted; plain HTTP to other hosts is left alone."""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proxy.intercept import CaInfo, allow_host_patterns, ensure_ca, in_scope
from tests.proxy.conftest import RunningProxy
from tests.proxy.test_node_sdk import NODE_DIR

PROXY_ENV = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
)


class _Echo(BaseHTTPRequestHandler):
    """Answers every GET with what it received, so a test can tell this server answered, not the proxy."""

    def do_GET(self) -> None:
        body = json.dumps({"server": "echo", "path": self.path, "host": self.headers.get("host")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself, as an unrelated HTTPS service would have."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-openai.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "other-cert.pem", tmp_path / "other-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def other_hosts(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """An HTTPS and a plain-HTTP echo server on 127.0.0.1: (https URL, http URL, the HTTPS server's cert)."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    tls, plain = ThreadingHTTPServer(("127.0.0.1", 0), _Echo), ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    for server in (tls, plain):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{tls.server_port}", f"http://127.0.0.1:{plain.server_port}", cert
    finally:
        for server in (tls, plain):
            server.shutdown()
            server.server_close()


@pytest.fixture
def intercepting(
    proxy_factory: Any, sim_process: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[RunningProxy, CaInfo]:
    """The proxy in intercept mode (all mapped traffic to the candidate), and the app's environment set as
    `alveare-migrate ca` says: HTTPS_PROXY and SSL_CERT_FILE; no base URL anywhere."""
    ca = ensure_ca(tmp_path / "ca")
    proxy = proxy_factory(
        sim_process("openai"),
        sim_process("sglang"),
        percent=100,
        mode="intercept",
        intercept__ca_dir=str(ca.cert.parent),
    )
    for name in (*PROXY_ENV, "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    for name, value in ca.env().items():
        monkeypatch.setenv(name, value)
    return proxy, ca


def test_the_python_sdk_at_its_default_base_url_is_split(intercepting: tuple[RunningProxy, CaInfo]) -> None:
    proxy, _ = intercepting
    with openai.OpenAI(api_key="sk-app-key", max_retries=0, timeout=20) as client:
        assert str(client.base_url) == "https://api.openai.com/v1/"
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Classify: great food"}]
        )
        stream = client.chat.completions.create(
            model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Summarise: a day"}], stream=True
        )
        streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
        unmapped = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hello"}]
        )
        models = client.models.list()
    assert raw.headers["x-alveare-upstream"] == "candidate"
    assert raw.parse().model == "gpt-4o-mini" and raw.parse().choices[0].message.content
    assert streamed
    assert "x-alveare-upstream" not in unmapped.headers and unmapped.parse().model.startswith("gpt-4o")
    assert models.data, "a pass-through path reaches the incumbent (the stand-in) too"
    assert {p.served_side for p in proxy.pairs(expected=2)} == {"candidate"}


def test_other_https_hosts_are_tunnelled_with_their_own_certificate(
    intercepting: tuple[RunningProxy, CaInfo], other_hosts: tuple[str, str, Path]
) -> None:
    proxy, ca = intercepting
    https_url, _, own_cert = other_hosts
    with httpx.Client(proxy=proxy.url, verify=ssl.create_default_context(cafile=own_cert)) as client:
        answer = client.get(https_url + "/untouched")
    assert answer.json() == {
        "server": "echo",
        "path": "/untouched",
        "host": https_url.removeprefix("https://"),
    }
    with (
        httpx.Client(proxy=proxy.url, verify=ssl.create_default_context(cafile=ca.cert)) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(https_url + "/untouched")  # the proxy's CA did not sign what this host presented
    assert proxy.pairs() == []


def test_plain_http_to_other_hosts_is_forwarded_as_it_came(
    intercepting: tuple[RunningProxy, CaInfo], other_hosts: tuple[str, str, Path]
) -> None:
    proxy, _ = intercepting
    _, http_url, _ = other_hosts
    with httpx.Client(proxy=proxy.url) as client:
        answer = client.get(http_url + "/v1/chat/completions")
    assert answer.json()["server"] == "echo", "the request was routed to the incumbent instead of its host"
    assert "x-alveare-upstream" not in answer.headers


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("api.openai.com:443", True),
        ("API.OpenAI.com:443", True),
        ("api.openai.com.evil.example:443", False),
        ("xapi.openai.com:443", False),
        ("example.org:443", False),
    ],
)
def test_only_the_named_hosts_are_decrypted(host: str, allowed: bool) -> None:
    import re

    patterns = allow_host_patterns(("api.openai.com",))
    assert any(re.search(p, host, re.IGNORECASE) for p in patterns) is allowed
    assert in_scope(host.rsplit(":", 1)[0], ("api.openai.com",)) is allowed


def test_responses_requests_pass_through_and_are_counted(intercepting: tuple[RunningProxy, CaInfo]) -> None:
    proxy, _ = intercepting
    with openai.OpenAI(api_key="sk-app-key", max_retries=0, timeout=20) as client:
        answer = (
            client.responses.with_raw_response.create
        )  # the stand-in has no /v1/responses: OpenAI's 404 shape
        with pytest.raises(openai.NotFoundError):
            answer(model="gpt-4o-mini", input="hello")
    assert proxy.server.runtime.status()["passthrough_responses"] == 1
    assert proxy.pairs() == [], "mapped model or not, /v1/responses is not split or recorded"


def test_the_node_sdk_at_its_default_base_url_is_split(intercepting: tuple[RunningProxy, CaInfo]) -> None:
    """Node 20 ignores HTTPS_PROXY, so the app is started with the global-agent preload (no code change); on
    Node >= 22.21 NODE_USE_ENV_PROXY=1 with HTTPS_PROXY does the same."""
    proxy, ca = intercepting
    node = shutil.which("node")
    assert node, "Node.js is needed for this test: install it, then run scripts/setup.sh"
    assert (NODE_DIR / "node_modules" / "global-agent").is_dir(), (
        "run scripts/setup.sh (it installs tests/node)"
    )
    env = {k: v for k, v in os.environ.items() if k not in (*PROXY_ENV, "OPENAI_BASE_URL")}
    env |= {
        "NODE_OPTIONS": "--require global-agent/bootstrap",
        "GLOBAL_AGENT_HTTP_PROXY": proxy.url,
        "NODE_EXTRA_CA_CERTS": str(ca.cert),
    }
    done = subprocess.run(
        [node, "client.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=60
    )  # no base URL argument: the SDK's default, https://api.openai.com/v1
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["model"] == "gpt-4o-mini" and result["content"] and result["streamed"]
    assert result["error"]["code"] == "model_not_found"
    assert {p.served_side for p in proxy.pairs(expected=3)} == {"candidate"}
