"""``handgrad serve RUN_DIR``: a page and a JSON API to try a trained model (FastAPI + uvicorn).

Routes: ``/`` the page (a surname box with a bar chart, or an image drop zone with the ten class
probabilities and the class templates), ``/api/info`` what the model is, ``GET
/api/predict?name=...`` and ``POST /api/predict {"names": [...]}`` for surname models,
``POST /api/classify`` (multipart field ``image``) for CIFAR-10 models, ``/templates.png``.
Every refusal is a 4xx with ``{"error": message, ...}``; the page shows the message.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from handgrad.errors import HandgradError
from handgrad.serve import model as served
from handgrad.serve.batching import Batcher
from handgrad.serve.model import InputError

HERE = Path(__file__).parent
#: a request body above this is refused before it is read (an image, with room for the form)
MAX_BODY_BYTES = served.MAX_IMAGE_BYTES + 64 * 1024


class Names(BaseModel):
    names: list


def _error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def create_app(run_dir: Path | str) -> FastAPI:
    """The app for one run folder (read once, here: a bad folder fails before the server starts;
    requests predict from memory, concurrent ones together: ``serve/batching.py``)."""
    sm = served.load(run_dir)
    batcher = Batcher(sm.predictor.predict) if sm.predictor is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if batcher is not None:
            batcher.close()

    app = FastAPI(title=f"handgrad: {sm.info['name']}", docs_url="/api/docs", redoc_url=None, lifespan=lifespan)
    app.state.model, app.state.batcher = sm, batcher

    async def predict(names: list) -> list[dict]:
        served.check_names(sm, names)  # a 4xx before the request joins a batch
        try:
            return await batcher(names)
        except HandgradError as e:  # anything predict itself refuses is still the user's input
            raise InputError(str(e)) from None
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is not None:
            if not size.isdigit():
                return _error(400, f"bad Content-Length header {size!r}")
            if int(size) > MAX_BODY_BYTES:
                return _error(413, f"the request is {int(size) / 2**20:.1f} MB; at most "
                                   f"{served.MAX_IMAGE_BYTES // 2**20} MB of image are accepted")
        return await call_next(request)

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError):
        return _error(exc.status, str(exc), **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        parts = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":  # loc is ("body", character offset)
                where = err.get("loc", ())[-1]
                why = (err.get("ctx") or {}).get("error", "invalid JSON")
                return _error(422, f"the request body is not valid JSON ({why} at character {where}); send "
                                   'e.g. {"names": ["ruggeri", "lee"]}')
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
            parts.append(f"{loc}: {err.get('msg')}")
        return _error(422, "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.get("/", response_class=HTMLResponse)
    def page(name: str = "") -> str:  # /?name=... opens the page with that name typed (a link to share)
        return env.get_template("page.html.j2").render(info=sm.info, kind=sm.kind,
                                                       prefill=name[:2 * served.MAX_NAME_CHARS])

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():  # what browsers ask for when a page names no icon (and some clients always)
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    @app.get("/api/info")
    def info() -> dict:
        return sm.info

    @app.get("/api/predict")
    async def predict_one(name: str = "") -> dict:
        return (await predict([name]))[0]

    @app.post("/api/predict")
    async def predict_many(body: Names) -> dict:
        return {"results": await predict(body.names)}

    @app.post("/api/classify")
    async def classify(image: UploadFile = File(...)) -> dict:
        data = await image.read(served.MAX_IMAGE_BYTES + 1)
        if len(data) > served.MAX_IMAGE_BYTES:  # a chunked upload without Content-Length
            raise InputError(f"the image is larger than {served.MAX_IMAGE_BYTES // 2**20} MB", 413)
        return await run_in_threadpool(served.classify, sm, data)  # decoding must not stall the other requests

    @app.get("/templates.png")
    def templates():
        if sm.templates_png is None:
            raise InputError("this model has no class templates (only a linear CIFAR-10 classifier has)", 404)
        return FileResponse(sm.templates_png, media_type="image/png")

    return app


class BackgroundServer:
    """uvicorn serving ``app`` on a free loopback port in a daemon thread (tests, screenshots);
    ``url`` is its address, ``close()`` stops it."""

    def __init__(self, app: FastAPI, timeout: float = 20.0) -> None:
        import socket
        import threading
        import time

        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.close()
                raise RuntimeError("the background server did not start")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def serve(app: FastAPI, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the app (``create_app``, so the run folder is checked before anything is printed) with
    uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")
