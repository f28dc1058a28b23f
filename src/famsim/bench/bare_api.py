"""The benchmark's baseline server: the same framework (FastAPI under uvicorn, same
settings) answering the charging path with a fixed body, doing no work.

``python -m famsim.bench.bare_api --port P``
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ANSWER = {
    "session_id": "s",
    "request_number": 1,
    "outcome": "success",
    "zone": "home",
    "services": [
        {
            "resource": "data",
            "tethered": False,
            "outcome": "success",
            "granted": 1000000,
            "validity_seconds": 600,
            "final_action": None,
            "redirect_url": None,
        }
    ],
}


def create_bare_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/v1/charging/update")
    async def update(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse(ANSWER)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_bare_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
