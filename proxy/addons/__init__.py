"""mitmproxy addons, one per file, listed in order by proxy.engine.default_addons()."""
