"""The development notifier: one-time codes go to the outbox and to the log, not to a phone.

Without an SMS gateway or a mail server, whoever runs famsim must still be able to read
the code an invitee would get: it is logged (``famsim.notifier``) and put in the family's
outbox as a ``notification`` event (channel, address, text), where the webhook dispatcher
can hand it to an operator's own sender. Production replaces this adapter with one that
really sends; the port is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from famsim.service.ports import UnitOfWork

log = logging.getLogger("famsim.notifier")

NOTIFICATION = "notification"


class LogNotifier:
    """Writes each message to the outbox (in its own unit of work) and to the log."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def send(self, family_id: str, channel: str, address: str, text: str, at: datetime) -> None:
        with self._uow() as uow:
            uow.outbox.add(
                family_id, NOTIFICATION, {"channel": channel, "address": address, "text": text}, at
            )
            uow.commit()
        log.info("to %s %s: %s", channel, address, text)
