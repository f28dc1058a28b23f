"""The built-in SM-DP+ as a service: its inventory in memory, every call written through.

One SM-DP+ process owns its inventory (as a real SM-DP+ does): it reads every profile at
start, runs each ES2+ function or device step under one lock, and saves whatever the call
touched before answering, refusals included (a wrong confirmation code must stay counted
after a restart). If saving fails, the in-memory inventory is read again from the store,
so memory never runs ahead of what is stored.
"""

from __future__ import annotations

import threading
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

    @property
    def smdp_address(self) -> str:
        return self._inventory.smdp_address

    def run(self, call: Callable[[SmdpInventory, datetime], T]) -> T:
        """Run one ES2+ function or device step on the inventory and save what it touched.

        *call* gets the inventory and the current time; its result is returned, or its
        exception raised, after the touched profiles are stored.
        """
        with self._lock:
            inventory = self._inventory
            inventory.touched.clear()
            try:
                return call(inventory, self._now())
            finally:
                self._save(inventory)

    def _save(self, inventory: SmdpInventory) -> None:
        touched = [inventory.profiles[i] for i in sorted(inventory.touched, key=str)]
        inventory.touched.clear()
        if not touched:
            return
        try:
            self._store.save(touched, self._logged)
        except BaseException:
            self._inventory = self._read()  # memory must not run ahead of the store
            self._logged = {}
            self._note_logged()
            raise
        for profile in touched:
            self._logged[profile.iccid] = len(profile.history)

    def _read(self) -> SmdpInventory:
        address, validity, attempts = self._settings
        inventory = SmdpInventory(address, order_validity=validity, confirmation_attempts=attempts)
        for profile in self._store.load():
            inventory.profiles[profile.iccid] = profile
        return inventory

    def _note_logged(self) -> None:
        for iccid, profile in self._inventory.profiles.items():
            self._logged[iccid] = len(profile.history)
