"""Intercept mode: the proxy as the apps' ``HTTPS_PROXY``, decrypting only the hosts the config names.

mitmproxy's regular (forward) mode with ``allow_hosts``: a ``CONNECT`` to any other host becomes a raw TCP
tunnel, never decrypted, so that host's own certificate reaches the app. Decrypted flows run the same addon
chain as reverse mode; the upstream behind an intercepted host is the configured incumbent URL.

The CA the apps trust is mitmproxy's, kept in ``intercept.ca_dir``. Python's ``SSL_CERT_FILE`` replaces the
default trust store, so it must point at a bundle (the public roots plus ours), while Node's
``NODE_EXTRA_CA_CERTS`` adds to its roots and takes our certificate alone.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.config import Settings

CA_BASENAME = "mitmproxy"  # mitmproxy's file names in its confdir: mitmproxy-ca.pem, mitmproxy-ca-cert.pem
BUNDLE_NAME = "ca-bundle.pem"


def allow_host_patterns(hosts: tuple[str, ...]) -> list[str]:
    """mitmproxy matches ``host:port`` strings with ``re.search``; anchor each name so
    ``api.openai.com`` does not also match ``api.openai.com.evil.example``."""
    return [rf"^{re.escape(host)}:\d+$" for host in hosts]


def in_scope(host: str, hosts: tuple[str, ...]) -> bool:
    return host.lower().rstrip(".") in hosts


def mode_options(config: Settings, host: str, port: int) -> dict[str, Any]:
    """The mitmproxy options that differ between reverse and intercept mode."""
    if config.mode != "intercept":
        return {"mode": [f"reverse:{origin(config.incumbent.url)}@{host}:{port}"]}
    return {
        "mode": [f"regular@{host}:{port}"],
        "allow_hosts": allow_host_patterns(config.intercept.hosts),
        "confdir": str(ca_dir(config)),
    }


def origin(url: str) -> str:
    """``scheme://host:port`` of a base URL: mitmproxy's reverse mode takes no path (``upstream.retarget`` adds
    the base URL's path to each request)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def ca_dir(config: Settings) -> Path:
    return Path(os.path.expanduser(config.intercept.ca_dir))


@dataclass(frozen=True)
class CaInfo:
    """Where the CA is and how to trust it."""

    cert: Path
    bundle: Path
    fingerprint_sha256: str
    created: bool

    def env(self) -> dict[str, str]:
        return {
            "SSL_CERT_FILE": str(self.bundle),
            "REQUESTS_CA_BUNDLE": str(self.bundle),
            "NODE_EXTRA_CA_CERTS": str(self.cert),
        }


def ensure_ca(directory: Path) -> CaInfo:
    """Creates the CA in ``directory`` when there is none (mitmproxy's own generator), writes the bundle of the
    public roots plus ours, and returns where they are and the CA's fingerprint."""
    import certifi
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from mitmproxy import certs

    cert = directory / f"{CA_BASENAME}-ca-cert.pem"
    created = not cert.exists()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    certs.CertStore.from_store(directory, CA_BASENAME, 2048)
    pem = cert.read_bytes()
    bundle = directory / BUNDLE_NAME
    roots = Path(certifi.where()).read_bytes()
    if not bundle.exists() or bundle.read_bytes() != roots + b"\n" + pem:
        bundle.write_bytes(roots + b"\n" + pem)
    digest = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256())
    return CaInfo(cert, bundle, ":".join(f"{b:02X}" for b in digest), created)
