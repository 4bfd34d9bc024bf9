"""A FastAPI app served by uvicorn for the SIGTERM test: exports over OTLP to ``--endpoint``.

Prints ``ready`` on stdout once the server accepts connections.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

import leadtrace
from leadtrace.integrations.asgi import instrument_fastapi


def main() -> None:
    """Configure leadtrace for the receiver and serve one page until SIGTERM."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    leadtrace.configure(service_name="sigterm-web", endpoint=args.endpoint)
    app = FastAPI()

    @app.get("/")
    async def landing() -> dict[str, str]:
        leadtrace.emit("form_viewed", form_id="demo", form_version="1")
        return {"ok": "yes"}

    instrument_fastapi(app)
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    server = uvicorn.Server(config)

    original_startup = server.startup

    async def startup(sockets: object = None) -> None:
        await original_startup(sockets)  # type: ignore[arg-type]
        print("ready", flush=True)

    server.startup = startup  # type: ignore[method-assign]
    server.run()


if __name__ == "__main__":
    main()
