"""The plan catalog file: a TOML document validated with pydantic into domain plans."""

from famsim.adapters.catalog.loader import (
    CatalogError,
    load_catalog,
    parse_catalog,
    sample_catalog_path,
)
from famsim.adapters.catalog.schema import plan_from_document, plan_to_document

__all__ = [
    "CatalogError",
    "load_catalog",
    "parse_catalog",
    "plan_from_document",
    "plan_to_document",
    "sample_catalog_path",
]
