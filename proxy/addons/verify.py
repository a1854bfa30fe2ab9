"""VerifyKey: in pass-through auth, split only requests whose OpenAI key the incumbent has accepted.

An unseen key's chat request is held (mitmproxy's intercept, at ``requestheaders``, before its body is read)
while one ``GET /v1/models`` with that key goes to the incumbent; concurrent requests with the same key share the
check. Then, in ``request`` (after Route), a request the candidate would see (served or mirrored) whose key is not
known to be good is not split: it goes to the incumbent untouched, which answers a bad key with its own 401. See :mod:`proxy.keycheck`.
"""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import http

from proxy.addons.route import is_chat
from proxy.fields import header
from proxy.keycheck import KeyVerdicts, key_digest
from proxy.keys import KeyStore
from proxy.runtime import Runtime, flow_info
from proxy.sides import SideClient

log = logging.getLogger(__name__)


class VerifyKey:
    def __init__(self, runtime: Runtime, keys: KeyStore, sides: SideClient) -> None:
        self.runtime = runtime
        self.keys = keys
        self.sides = sides
        self.verdicts = KeyVerdicts(runtime.config.key_check_ttl_s)
        self.checks: dict[str, asyncio.Task[bool | None]] = {}

    def _applies(self, flow: http.HTTPFlow) -> bool:
        return flow.response is None and not self.keys.any_active() and is_chat(flow)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if not self._applies(flow) or not self._could_split():
            return
        digest = key_digest(header(flow.request.headers, b"authorization"))
        if self.verdicts.get(digest) is not None:
            return
        check = self.checks.get(digest)
        if check is None:
            authorization = header(flow.request.headers, b"authorization")
            check = self.checks[digest] = asyncio.get_running_loop().create_task(
                self._check(digest, authorization)
            )
        flow.intercept()
        check.add_done_callback(lambda _: flow.resume())

    def request(self, flow: http.HTTPFlow) -> None:
        info = flow_info(flow)
        if not info.split or not self._applies(flow) or info.key is not None:
            return
        if info.side != "candidate" and self.runtime.config.mirror.rate <= 0:
            return  # the candidate would not see it
        digest = key_digest(header(flow.request.headers, b"authorization"))
        if self.verdicts.get(digest) is not True:
            info.target = None  # not split: the incumbent serves it as it is
            info.side = "incumbent"
            self.runtime.counts["unverified_keys"] += 1

    def _could_split(self) -> bool:
        return self.runtime.percent > 0 or self.runtime.config.mirror.rate > 0

    async def _check(self, digest: str, authorization: str) -> bool | None:
        try:
            status = await self.sides.check_key(authorization)
            verdict = self.verdicts.put(digest, status)
            if verdict is None:
                log.warning("could not verify a client key with the incumbent (%s); not splitting it", status)
            return verdict
        finally:
            self.checks.pop(digest, None)
