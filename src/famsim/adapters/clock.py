"""The real clock, behind the service layer's Clock port so tests can fix the date."""

from __future__ import annotations

from datetime import date


class SystemClock:
    def today(self) -> date:
        return date.today()
