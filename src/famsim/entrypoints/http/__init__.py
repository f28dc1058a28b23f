"""famsim's REST API (FastAPI): ``/v1``, OpenAPI served, errors as RFC 9457 problems."""
