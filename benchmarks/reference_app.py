"""The issue's yardstick: a FastAPI endpoint that only validates a body.

Issue #4 states its targets against one ("about 8,600 requests/s on this machine"
with 2 uvicorn workers). Machines of the same kind have differed twofold between
sessions, so `intake_load.py` serves this app beside the service and drives it with
the same client and the same submission bodies: its rate, measured in the same run,
says how fast this machine is against the issue's.
"""

from fastapi import FastAPI

from aggregator.concerns.schemas import ConcernSubmission


def create_app() -> FastAPI:
    """Validation of the intake's own body schema, and nothing else."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/validate")
    async def validate(body: ConcernSubmission) -> dict[str, str]:
        return {"external_ref": body.external_ref}

    return app
