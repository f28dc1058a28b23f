"""Reading a catalog file (TOML) into domain plans, with errors that point at the bad key."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from famsim.adapters.catalog.schema import LOCATION_MARK, Catalog
from famsim.domain.errors import InvalidInput
from famsim.domain.plan import Plan


class CatalogError(InvalidInput):
    """The catalog file cannot be read or does not validate; the message names the key."""


def sample_catalog_path() -> Path:
    """The sample catalog shipped with famsim (Hong Kong, Russia, United States)."""
    return Path(str(resources.files("famsim") / "data" / "sample_catalog.toml"))


def load_catalog(path: Path) -> list[Plan]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CatalogError(f"catalog {path} is not UTF-8 text") from None
    return parse_catalog(text, source=str(path))


def parse_catalog(text: str, *, source: str = "catalog") -> list[Plan]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{source}: not valid TOML: {exc}") from None
    try:
        catalog = Catalog.model_validate(document)
    except ValidationError as exc:
        raise CatalogError(f"{source}: {_first_problem(exc, document)}") from None
    return [spec.to_domain() for spec in catalog.plans]


def _first_problem(exc: ValidationError, document: dict[str, Any]) -> str:
    """One line for the first error: the dotted key (with the plan's code) and the reason."""
    error = exc.errors(include_url=False)[0]
    location: list[str | int] = list(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if message.startswith(LOCATION_MARK):
        path, _, message = message.removeprefix(LOCATION_MARK).partition(": ")
        location += _steps(path)
    parts: list[str] = []
    node: Any = document
    for step in location:
        if isinstance(step, int) and isinstance(node, list) and step < len(node):
            node = node[step]
            code = node.get("code") if isinstance(node, dict) else None
            parts[-1] += f"[{step}]" + (f" ({code})" if code else "")
            continue
        parts.append(str(step))
        node = node.get(step) if isinstance(node, dict) else None
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    count = exc.error_count()
    more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
    return f"{'.'.join(parts) or 'top level'}: {message}{more}"


def _steps(path: str) -> list[str | int]:
    """``"roaming_zones[1].mccs"`` -> ``["roaming_zones", 1, "mccs"]``."""
    steps: list[str | int] = []
    for part in path.split("."):
        name, *indices = part.replace("]", "").split("[")
        steps.append(name)
        steps.extend(int(i) for i in indices)
    return steps
