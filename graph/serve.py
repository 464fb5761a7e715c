"""Local web app: ``python -m graph.serve [--port N]`` (or ``hparam-serve``), then open the URL it prints.

An input page (drop or pick a results file, a zipped Ray Tune / Keras Tuner / mlruns
directory, or type a path or storage URL; optional curves file, ``--map`` roles,
format, study and model setting) and a diagnosis page per upload: progress per graph
node while it runs, then the report's content, interactive, with downloads of the
markdown, HTML and JSON. Each upload is one run of the same compiled graph as the
command line (see :mod:`graph.web_runs`), in a temporary folder removed afterwards.

``/live?dir=FOLDER`` is the live view of a watched sweep (the ``--out`` folder of
``python -m graph.run ... --watch N``, or of ``hparam_inspector.watch``'s callbacks): the
same diagnosis page, read from the watch's ``hparam_summary.json`` and ``watch.json``,
reloaded whenever the watch writes them again.

Binds 127.0.0.1 on a free port unless told otherwise. The page loads nothing from
elsewhere (its script and stylesheet are served from ``graph/static``) and its
Content-Security-Policy forbids it, so it works offline; every cell is escaped by
the template engine, and the policy keeps any script that slipped through inert.

Needs the ``web`` extra: ``pip install "hparam-pathology-inspector[web]"``.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import re
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from core.errors import InputError
from graph.run import one_line
from graph.safe_unzip import extract_zip
from graph.web_runs import RunRequest, Runs
from graph.web_view import build_view

HERE = Path(__file__).resolve().parent
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_CHUNK = 1 << 20
_ZIP_MAGIC = b"PK\x03\x04"
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
SUMMARY_NAME = "hparam_summary.json"
DOWNLOADS = ({"kind": "md", "name": "hparam_report.md", "label": "report (markdown)"},
             {"kind": "html", "name": "hparam_report.html", "label": "report (HTML)"},
             {"kind": "json", "name": SUMMARY_NAME, "label": "summary (JSON)"})
WATCH_STATE = {"kind": "watch", "name": "watch.json", "label": "watch state (JSON)"}
LIVE_POLL_SECONDS = 0.5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The server's options."""
    parser = argparse.ArgumentParser(prog="python -m graph.serve", description="Serve the sweep inspector as a local web page.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload accepted, in MB (default 200)")
    parser.add_argument("--max-unzipped-mb", type=float, default=2000.0,
                        help="most a zipped upload may unpack to, in MB (default 2000)")
    parser.add_argument("--parallel", type=int, default=2, help="runs at once; later uploads wait their turn (default 2)")
    parser.add_argument("--model", help="the model setting the input page starts with (as the CLI's --model; default: offline)")
    parser.add_argument("--allow-paths", action="store_true",
                        help="let the page read paths and storage URLs on this machine even when bound beyond loopback")
    return parser.parse_args(argv)


def create_app(*, max_upload_mb: float = 200.0, max_unzipped_mb: float = 2000.0, parallel: int = 2,
               model: str | None = None, allow_paths: bool = True) -> Any:
    """The Starlette application (routes: ``/``, ``/runs``, ``/runs/{id}`` and its events, files and figures)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
    templates.filters["spans"] = code_spans
    runs = Runs(parallel=parallel)
    limit = int(max_upload_mb * 1e6)
    unzip_limit = int(max_unzipped_mb * 1e6)

    def page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(templates.get_template(name).render(**values), status_code=status, headers=_headers(CSP))

    async def index(request: Request) -> Response:
        return page("index.html", model=model or "", allow_paths=allow_paths, max_upload_mb=max_upload_mb)

    async def start(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            await _drain(request.receive, limit)
            return _refuse(f"upload too large ({int(declared) / 1e6:,.1f} MB); the limit is {max_upload_mb:g} MB "
                           "(start the server with --max-upload-mb to change it)", 413)
        folder = Path(tempfile.mkdtemp(prefix="hparam-serve-"))
        try:
            request_, label = await _read_form(Request(request.scope, _counted(request.receive, limit)), folder,
                                               unzip_limit, allow_paths)
        except _TooLarge:
            _remove(folder)
            await _drain(request.receive, limit)
            return _refuse(f"upload too large; the limit is {max_upload_mb:g} MB (start the server with --max-upload-mb "
                           "to change it)", 413)
        except InputError as exc:
            _remove(folder)
            return _refuse(f"error: {str(exc).replace(str(folder) + '/in/', '')}".splitlines()[0], 400)
        except Exception as exc:  # noqa: BLE001 - a malformed request gets one line, never a traceback
            _remove(folder)
            return _refuse(f"error: the upload could not be read ({type(exc).__name__})", 400)
        run = runs.start(request_, folder, label)
        return JSONResponse({"run": run.id, "url": f"/runs/{run.id}"}, headers=_headers(CSP))

    def found(request: Request) -> Any:
        return runs.get(request.path_params["run_id"])

    async def show(request: Request) -> Response:
        run = found(request)
        if run is None:
            return page("missing.html", 404)
        return page("run.html", run=run, view=run.view, base=f"/runs/{run.id}", query="", seconds=run.seconds,
                    downloads=[d for d in DOWNLOADS if d["name"] in run.files])

    def watched(request: Request) -> Path | None:
        folder = str(request.query_params.get("dir") or "").strip()
        return Path(folder).expanduser() if folder and allow_paths else None

    async def live(request: Request) -> Response:
        folder = watched(request)
        if folder is None:
            return page("missing.html", 404 if allow_paths else 403)
        summary, state, version = _watch_files(folder)
        view = unreadable = None
        try:
            view = build_view({"summary": summary}, []) if summary is not None else None
        except (ValueError, TypeError, KeyError) as e:  # a summary of another version, or edited by hand
            unreadable = f"{SUMMARY_NAME} in this folder cannot be read: {one_line(str(e))}"
        query = "?" + urlencode({"dir": str(folder)})
        present = [d for d in (*DOWNLOADS, WATCH_STATE) if (folder / d["name"]).is_file()]
        return page("live.html", view=view, unreadable=unreadable, state=state, folder=str(folder), version=version,
                    base="/live", query=query,
                    seconds=None, downloads=present, events=f"/live/events?{urlencode({'dir': str(folder), 'v': version})}")

    async def live_events(request: Request) -> Response:
        folder = watched(request)
        if folder is None:
            return PlainTextResponse("not found", 404)
        seen = request.query_params.get("v", "")

        async def stream() -> Any:
            while not await request.is_disconnected():
                if _watch_files(folder, read=False)[2] != seen:
                    yield "event: changed\ndata: {}\n\n"
                    return
                yield ": waiting\n\n"
                await asyncio.sleep(LIVE_POLL_SECONDS)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def live_file(request: Request) -> Response:
        folder = watched(request)
        name = request.path_params["name"]
        if folder is None or name not in {d["name"] for d in (*DOWNLOADS, WATCH_STATE)} or not (folder / name).is_file():
            return PlainTextResponse("not found", 404)
        media = "text/markdown" if name.endswith(".md") else "application/json"
        headers = _headers(CSP) | {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response((folder / name).read_bytes(), media_type=f"{media}; charset=utf-8", headers=headers)

    async def events(request: Request) -> Response:
        run = found(request)
        if run is None:
            return PlainTextResponse("no such run", 404)

        async def stream() -> Any:
            sent = 0
            while True:
                batch, state = run.since(sent)
                for event in batch:
                    yield f"event: progress\ndata: {json.dumps(event)}\n\n"
                sent += len(batch)
                if state in ("done", "error") and not batch:
                    yield f"event: end\ndata: {json.dumps({'state': state})}\n\n"
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.1)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    async def download(request: Request) -> Response:
        run = found(request)
        name = request.path_params["name"]
        if run is None or name not in run.files:
            return PlainTextResponse("not found", 404)
        media = {"md": "text/markdown", "json": "application/json", "html": "text/html"}[name.rsplit(".", 1)[-1]]
        inline = request.query_params.get("view") == "1" and name.endswith(".html")
        headers = _headers(REPORT_CSP if name.endswith(".html") else CSP)
        headers["Content-Disposition"] = "inline" if inline else f'attachment; filename="{name}"'
        return Response(run.files[name], media_type=f"{media}; charset=utf-8", headers=headers)

    async def figure(request: Request) -> Response:
        run = found(request)
        name = request.path_params["name"]
        if run is None or name not in run.figures:
            return PlainTextResponse("not found", 404)
        return Response(run.figures[name], media_type="image/png", headers=_headers(CSP))

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[
        Route("/", index),
        Route("/healthz", health),
        Route("/runs", start, methods=["POST"]),
        Route("/runs/{run_id}", show),
        Route("/runs/{run_id}/events", events),
        Route("/runs/{run_id}/files/{name}", download),
        Route("/runs/{run_id}/figures/{name}", figure),
        Route("/live", live),
        Route("/live/events", live_events),
        Route("/live/files/{name}", live_file),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ])


def code_spans(text: object) -> Any:
    """Text with its markdown code spans (`lr`) shown as code: escaped first, so nothing else becomes markup."""
    from markupsafe import Markup, escape

    return Markup(_CODE_SPAN.sub(r"<code>\1</code>", str(escape(text))))


def _watch_files(folder: Path, *, read: bool = True) -> tuple[dict[str, Any] | None, dict[str, Any], str]:
    """A watch's summary and state (None and {} until it has written them), and a version that changes when they do."""
    stamps = []
    for name in (SUMMARY_NAME, WATCH_STATE["name"]):
        try:
            info = (folder / name).stat()
            stamps.append(f"{info.st_mtime_ns}:{info.st_size}")
        except OSError:
            stamps.append("-")
    version = "/".join(stamps)
    if not read:
        return None, {}, version
    summary = state = None
    try:
        summary = json.loads((folder / SUMMARY_NAME).read_text(encoding="utf-8"))
        state = json.loads((folder / WATCH_STATE["name"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass  # not written yet (each file is replaced whole by a rename, never seen half-written)
    return summary, state or {}, version


class _TooLarge(Exception):
    """The request body went past the upload limit."""


def _counted(receive: Any, limit: int) -> Any:
    """The ASGI receive channel, refusing a body past ``limit`` bytes (chunked uploads declare no length)."""
    seen = 0

    async def receive_() -> Any:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise _TooLarge
        return message

    return receive_


async def _drain(receive: Any, limit: int) -> None:
    """Read and drop the rest of a refused body (up to 10 times the limit), so the client hears the refusal."""
    dropped = 0
    while dropped <= 10 * limit:
        message = await receive()
        dropped += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return


async def _read_form(request: Any, folder: Path, unzip_limit: int, allow_paths: bool) -> tuple[RunRequest, str]:
    """The input page's form as a run request; uploads saved (and unzipped) under ``folder/in``."""
    async with request.form(max_files=2, max_fields=40) as form:
        return await _request_of(form, folder, unzip_limit, allow_paths)


async def _request_of(form: Any, folder: Path, unzip_limit: int, allow_paths: bool) -> tuple[RunRequest, str]:
    inputs = folder / "in"
    inputs.mkdir()
    results = await _saved(form.get("results_file"), folder, inputs, unzip_limit)
    typed = str(form.get("results_path") or "").strip()
    if results and typed:
        raise InputError("give either a file or a path, not both")
    if typed and not allow_paths:
        raise InputError("this server reads uploads only (start it with --allow-paths to read paths on its machine)")
    if not results and not typed:
        raise InputError("no sweep given: drop or pick a file, or type a path or storage URL")
    curves = await _saved(form.get("curves_file"), folder, inputs / "curves", unzip_limit)  # own folder: names may repeat
    curves_typed = str(form.get("curves_path") or "").strip()
    if curves_typed and not allow_paths:
        raise InputError("this server reads uploads only (start it with --allow-paths to read paths on its machine)")
    mapping = [line.strip() for line in str(form.get("mapping") or "").splitlines() if line.strip()]
    request_ = RunRequest(
        results=results or typed, curves=curves or curves_typed or None,
        format=_field(form, "format"), study=_field(form, "study"), mapping=mapping,
        model=_field(form, "model"), endpoint_url=_field(form, "endpoint_url"),
    )
    label = Path(results).name if results else typed
    return request_, label


def _field(form: Any, name: str) -> str | None:
    value = str(form.get(name) or "").strip()
    return value or None


async def _saved(upload: Any, folder: Path, inputs: Path, unzip_limit: int) -> str | None:
    """An uploaded file saved in ``inputs`` (in the run's ``folder``) by a safe form of its name; a zip is unpacked there."""
    if upload is None or isinstance(upload, str) or not getattr(upload, "filename", None):
        return None
    name = _safe_name(upload.filename)
    inputs.mkdir(exist_ok=True)
    store = folder / "uploads"  # beside in/, never read as input
    store.mkdir(exist_ok=True)
    path = store / name
    with open(path, "xb") as out:
        while chunk := await upload.read(_CHUNK):
            out.write(chunk)
    if path.stat().st_size == 0:
        raise InputError(f"{name}: the file is empty")
    with open(path, "rb") as handle:
        is_zip = handle.read(4) == _ZIP_MAGIC
    if is_zip:
        stem = name[:-4] if name.lower().endswith(".zip") else name
        result = extract_zip(path, inputs / stem, name=name, max_bytes=unzip_limit)
        path.unlink()
        return str(result)
    return str(path.rename(inputs / name))


def _safe_name(filename: str) -> str:
    """The upload's base name with anything but letters, digits, ``.``, ``_`` and ``-`` replaced (extension kept)."""
    base = re.split(r"[\\/]", filename)[-1]
    name = _SAFE_NAME.sub("_", base).lstrip(".")[-120:]
    return name or "upload"


def _refuse(message: str, status: int) -> Any:
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=_headers(CSP))


def _headers(csp: str) -> dict[str, str]:
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Bind, print the URL, serve until interrupted."""
    args = parse_args(argv)
    try:
        import uvicorn
    except ImportError:
        print('error: the web app needs the web extra: pip install "hparam-pathology-inspector[web]"', file=sys.stderr)
        return 2
    from graph.run import _load_dotenv

    _load_dotenv()
    local = _loopback(args.host)
    app = create_app(max_upload_mb=args.max_upload_mb, max_unzipped_mb=args.max_unzipped_mb, parallel=max(1, args.parallel),
                     model=args.model, allow_paths=local or args.allow_paths)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc})", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    if not local:
        print(f"warning: listening on {args.host}, beyond this machine; anyone who reaches it can upload sweeps"
              + ("" if args.allow_paths else " (paths on this machine are not read)"), file=sys.stderr)
    print(f"Hyperparameter Pathology Inspector: http://{host}:{port}/  (Ctrl+C stops it)", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
