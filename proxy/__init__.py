"""Reverse proxy on mitmproxy: split, mirror, record, fail over."""
