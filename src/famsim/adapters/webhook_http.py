"""Webhook POSTs over HTTP with httpx: the :data:`~famsim.service.webhooks.WebhookPost` port.

Any answer is returned as its status (the service decides what counts as delivered);
no answer (refused, timed out, TLS failed) raises
:class:`~famsim.service.webhooks.WebhookUnreachable`. Redirects are not followed: a
signed body goes only where the operator registered it. The URL is checked again here
(https, or plain http only on loopback), so no code path sends events in clear text
across a network.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from famsim.domain.webhooks import check_url
from famsim.service.webhooks import WebhookUnreachable

DEFAULT_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
USER_AGENT = "famsim-webhooks/1"


class HttpWebhookPost:
    """``(url, body, headers) -> status``, with one connection pool for every endpoint."""

    def __init__(
        self,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        verify: str | bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(CONNECT_TIMEOUT_S, timeout_s)),
            verify=verify,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        target = check_url(url)
        try:
            response = self._http.post(target, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise WebhookUnreachable(
                f"no answer from {target}: {type(exc).__name__}: {exc}".rstrip(": ")
            ) from None
        return response.status_code

    def close(self) -> None:
        self._http.close()
