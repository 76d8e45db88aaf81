"""``uclab serve``: the lab in a browser, for trainers and trainees.

The server is aiohttp (one maintained asyncio dependency that brings the HTTP server, Server-Sent
Events by plain streaming responses, multipart parsing with a request size cap, and an
``AppRunner`` whose shutdown we control, so SIGINT/SIGTERM can take the labs down before the
loop ends; Starlette would need uvicorn and python-multipart besides). The pages and their
script and style sheet are files of this package (``lab/web/static``): no CDN, no internet.

The server drives the lab through the same Python API as the CLI: :mod:`lab.lifecycle.build` /
:mod:`lab.lifecycle.teardown` (up, down), :func:`lab.lifecycle.status.collect`,
:func:`lab.run.run` (the call, its
faults, the step-by-step :class:`lab.run.tour.Tour`), :func:`lab.firewall.check`. It never runs
a command given by the browser.

    config = ServeConfig.from_args("127.0.0.1:8080", seats=None, name="uclab")
    serve(config, announce=print)          # until SIGINT or SIGTERM

Modules: :mod:`lab.web.server` (start, stop, signals), :mod:`lab.web.routes` (the HTTP
handlers), :mod:`lab.web.security` (tokens, cross-site checks, limits), :mod:`lab.web.seats`
(one lab per seat, its event stream), :mod:`lab.web.jobs` (up, down, calls, tours, firewall
checks in threads), :mod:`lab.web.live` (the ladder of the growing capture),
:mod:`lab.web.present` (ladders as the pages' JSON), :mod:`lab.web.downloads` (the files of
a finished call), :mod:`lab.web.explain` (each step's explanation, from ``steps.yaml``).
"""
