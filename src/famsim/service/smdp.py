"""The built-in SM-DP+ as a service: its inventory in memory, every call written through.

One SM-DP+ process owns its inventory (as a real SM-DP+ does): it reads every profile at
start, runs each ES2+ function or device step under one lock, and saves whatever the call
touched before answering, refusals included (a wrong confirmation code must stay counted
after a restart), together with the progress notifications the call produced (the
outbox, :mod:`famsim.service.smdp_outbox`), in one transaction. If saving fails, the
in-memory inventory is read again from the store, so memory never runs ahead of what is
stored. Listeners (the notification sender) hear when notifications were stored.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from famsim.domain.esim.smdp import (
    DEFAULT_CONFIRMATION_ATTEMPTS,
    DEFAULT_ORDER_VALIDITY,
    SmdpInventory,
)
from famsim.domain.identifiers import Iccid
from famsim.service.ports import SmdpStore
from famsim.service.smdp_outbox import OutgoingNotification, StoredNotification

T = TypeVar("T")


class SmdpService:
    def __init__(
        self,
        store: SmdpStore,
        smdp_address: str,
        now: Callable[[], datetime],
        *,
        order_validity: timedelta = DEFAULT_ORDER_VALIDITY,
        confirmation_attempts: int = DEFAULT_CONFIRMATION_ATTEMPTS,
    ) -> None:
        self._store = store
        self._now = now
        self._lock = threading.Lock()
        self._settings = (smdp_address, order_validity, confirmation_attempts)
        self._inventory = self._read()
        self._logged: dict[Iccid, int] = {}
        self._note_logged()
        self._listeners: list[Callable[[], None]] = []

    @property
    def smdp_address(self) -> str:
        return self._inventory.smdp_address

    @property
    def store(self) -> SmdpStore:
        """The store, whose outbox a notification sender reads."""
        return self._store

    def listen(self, listener: Callable[[], None]) -> None:
        """Call *listener* (quickly, it runs under the SM-DP+'s lock) after every call that
        stored notifications: a sender wakes up on it."""
        self._listeners.append(listener)

    def notifications(self, *, pending_only: bool = False) -> list[StoredNotification]:
        """The outbox, oldest first (only the undelivered ones with *pending_only*)."""
        return self._store.notifications(pending_only=pending_only)

    def run(self, call: Callable[[SmdpInventory, datetime], T]) -> T:
        """Run one ES2+ function or device step on the inventory and save what it touched.

        *call* gets the inventory and the current time; its result is returned, or its
        exception raised, after the touched profiles are stored.
        """
        with self._lock:
            inventory = self._inventory
            inventory.touched.clear()
            inventory.notifications.clear()
            try:
                return call(inventory, self._now())
            finally:
                self._save(inventory)

    def _save(self, inventory: SmdpInventory) -> None:
        touched = [inventory.profiles[i] for i in sorted(inventory.touched, key=str)]
        outgoing = [
            OutgoingNotification(uuid.uuid4().hex, inventory.smdp_address, notification)
            for notification in inventory.notifications
        ]
        inventory.touched.clear()
        inventory.notifications.clear()
        if not touched and not outgoing:
            return
        try:
            self._store.save(touched, self._logged, outgoing)
        except BaseException:
            self._inventory = self._read()  # memory must not run ahead of the store
            self._logged = {}
            self._note_logged()
            raise
        for profile in touched:
            self._logged[profile.iccid] = len(profile.history)
        if outgoing:
            for listener in self._listeners:
                listener()

    def _read(self) -> SmdpInventory:
        address, validity, attempts = self._settings
        inventory = SmdpInventory(address, order_validity=validity, confirmation_attempts=attempts)
        for profile in self._store.load():
            inventory.profiles[profile.iccid] = profile
        return inventory

    def _note_logged(self) -> None:
        for iccid, profile in self._inventory.profiles.items():
            self._logged[iccid] = len(profile.history)
