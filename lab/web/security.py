"""What protects ``uclab serve``: where it may listen, tokens, cross-site checks, limits.

* It listens on loopback unless told otherwise; any other address needs seats (tokens), and
  the server refuses to start without them (:func:`check_listen`).
* Every API request names its seat and carries that seat's token: in the ``X-Uclab-Token``
  header, or for a GET (an event stream, a download, a page) in ``?token=``. A request that
  changes state is a POST that must carry the header (a cross-site form cannot set it, and a
  cross-site script setting it needs a CORS preflight this server never grants), must come
  from this server's own origin when the browser says where it comes from (``Origin``,
  ``Sec-Fetch-Site``), and must be JSON or multipart.
* On loopback the ``Host`` header must be a loopback name (DNS rebinding).
* Request bodies are capped (:data:`MAX_BODY`), policies (:data:`MAX_POLICY`) and faults are
  checked before use; every response forbids framing, sniffing, referrers and outside
  resources (a strict Content-Security-Policy: the pages load only this server's files).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from lab.base.errors import InputError

TOKEN_HEADER = "X-Uclab-Token"  # noqa: S105 - a header name
MAX_BODY = 512 * 1024
MAX_POLICY = 64 * 1024
MAX_FAULTS = 4
MAX_FAULT_TEXT = 300

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "Cache-Control": "no-store", "Cross-Origin-Resource-Policy": "same-origin"}
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen(host: str, seats: int | None) -> None:
    """Refuse a non-loopback address without seats (InputError, exit 2)."""
    if not is_loopback(host) and not seats:
        raise InputError(f"listening on {host} lets other machines in: that needs seats, "
                         "each with its own secret token", "--listen",
                         fix="add --seats N (one per trainee), or --listen 127.0.0.1:PORT")


def forbidden(why: str) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=why + "\n", content_type="text/plain")


def _cross_site(request: web.Request) -> str | None:
    """Why this state-changing request is refused, or None."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return f"cross-site request refused (Origin {origin})"
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site {site})"
    if TOKEN_HEADER not in request.headers:
        return f"a request that changes something carries its token in {TOKEN_HEADER}"
    kind = request.content_type
    if kind not in ("application/json", "multipart/form-data"):
        return f"a request that changes something is JSON or multipart, not {kind or 'empty'}"
    return None


def guard(loopback_only: bool) -> Middleware:
    """The middleware: Host check on loopback, cross-site checks on POST, headers on all."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if loopback_only:
            host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") \
                else request.host
            if host not in _LOOPBACK_NAMES:
                raise forbidden(f"this server answers to its loopback address, not {host}")
        if request.method not in ("GET", "HEAD"):
            why = _cross_site(request)
            if why is not None:
                raise forbidden(why)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(HEADERS)
            raise
        for key, value in HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    return middleware


def token_of(request: web.Request) -> str:
    """The token a request carries (header first; ``?token=`` only for GET)."""
    token = request.headers.get(TOKEN_HEADER)
    if token is None and request.method in ("GET", "HEAD"):
        token = request.query.get("token")
    return token or ""
