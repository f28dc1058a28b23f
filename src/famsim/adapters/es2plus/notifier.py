"""The SM-DP+'s HandleDownloadProgressInfo callbacks over HTTP (httpx): one destination.

:class:`HttpDestination` posts a stored body to the operator's
``/gsma/rsp2/es2plus/handleDownloadProgressInfo`` with the ``X-Admin-Protocol`` header and
counts any 2xx (the spec answers 204) as delivered; anything else, or no answer, raises
:class:`~famsim.service.smdp_delivery.DeliveryFailed`, which the sender retries with the
same body (and so the same ``functionCallIdentifier``). As for the ES2+ client, plain
HTTP is refused except on loopback.
"""

from __future__ import annotations

import ipaddress

import httpx

from famsim.adapters.es2plus.messages import ADMIN_PROTOCOL, ADMIN_PROTOCOL_HEADER, PATHS
from famsim.domain.errors import InvalidInput
from famsim.service.smdp_delivery import DeliveryFailed

DEFAULT_TIMEOUT_S = 10.0
CALLBACK_PATH = PATHS["handleDownloadProgressInfo"]


def callback_url(operator_url: str) -> str:
    """The callback's full URL for the operator's ES2+ base URL (or the full URL itself).

    ``https://op.example`` -> ``https://op.example/gsma/rsp2/es2plus/handleDownloadProgressInfo``;
    a URL that already ends with that path is kept. Plain ``http`` only on loopback.
    """
    url = httpx.URL(operator_url.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidInput(f"operator URL {operator_url!r}: expected https://host[:port][/path]")
    if url.scheme == "http" and not _loopback(url.host):
        raise InvalidInput(
            f"operator URL {operator_url!r}: ES2+ runs over HTTPS; plain HTTP is only for an "
            "operator on this machine (loopback)"
        )
    if url.path.rstrip("/").endswith(CALLBACK_PATH):
        return str(url)
    return str(url.copy_with(path=url.path.rstrip("/") + CALLBACK_PATH))


class HttpDestination:
    """Posts bodies to the operator's callback; a ``Callable[[bytes], None]`` for the sender."""

    def __init__(
        self,
        operator_url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        cert: tuple[str, str] | None = None,
        verify: str | bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = callback_url(operator_url)
        self._http = httpx.Client(
            timeout=timeout_s,
            cert=cert,
            verify=verify,
            transport=transport,
            headers={ADMIN_PROTOCOL_HEADER: ADMIN_PROTOCOL, "Content-Type": "application/json"},
        )

    def __call__(self, body: bytes) -> None:
        try:
            response = self._http.post(self.url, content=body)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(
                f"no answer from {self.url}: {type(exc).__name__}: {exc}".rstrip(": ")
            ) from None
        if not response.is_success:
            detail = " ".join(response.text[:100].split())
            raise DeliveryFailed(
                f"HTTP {response.status_code} from {self.url}" + (f": {detail}" if detail else "")
            )

    def close(self) -> None:
        self._http.close()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
