"""An operator's webhook receiver for tests (not a test module): an ASGI app to serve with
``smdp_server.served`` on loopback.

It records every POST (headers, raw body, whether the signature verified with the secret
it was given, the status it answered), answers 500 to the first ``refuse_first`` calls
and 204 after, as a receiver that was briefly down would.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from famsim.domain.webhook_signature import verify_signature


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool
    answer: int


@dataclass
class WebhookReceiver:
    secret: str = ""  # set once famsim has registered the endpoint and said the secret
    refuse_first: int = 1
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        valid = verify_signature(
            self.secret, headers.get("famsim-signature", ""), body, datetime.now(UTC)
        )
        with self.lock:
            answer = 500 if self.refuse_first > 0 else 204
            self.refuse_first -= 1
            self.received.append(Received(scope["path"], headers, body, valid, answer))
        await send({"type": "http.response.start", "status": answer, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def calls(self) -> list[Received]:
        with self.lock:
            return list(self.received)
