"""The message bus: the one door from entrypoints into the use cases.

It gives each command a fresh unit of work, so handlers never share a transaction, and
an entrypoint needs to know nothing but the command it builds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from famsim.service.commands import Command
from famsim.service.handlers import HANDLERS, Handler
from famsim.service.ports import Clock, UnitOfWork


class MessageBus:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        handlers: Mapping[type[Command], Handler] = HANDLERS,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._handlers = handlers

    def handle(self, command: Command) -> Any:
        handler = self._handlers[type(command)]
        return handler(command, self._uow_factory(), self._clock)
