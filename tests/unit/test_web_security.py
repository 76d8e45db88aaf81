"""``uclab serve``'s protections, through aiohttp's test client (no lab is built): tokens per
seat, cross-site refusals, the loopback Host check, size caps, input validation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from lab.base.errors import InputError
from lab.web import security
from lab.web.routes import SEATS
from lab.web.server import ServeConfig, make_app

Check = Callable[[TestClient[Any, Any], Any], Awaitable[None]]


def _with_client(check: Check, tmp_path: Path, *, host: str = "127.0.0.1",
                 seats: int | None = 2) -> None:
    config = ServeConfig.from_args(f"{host}:8080", seats, "wuweb")

    async def main() -> None:
        app = make_app(config, tmp_path)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await check(client, app[SEATS])

    asyncio.run(main())


def _post(token: str, **headers: str) -> dict[str, str]:
    return {security.TOKEN_HEADER: token, "Content-Type": "application/json", **headers}


def test_non_loopback_listen_needs_seats() -> None:
    with pytest.raises(InputError, match="needs seats") as err:
        ServeConfig.from_args("0.0.0.0:8080", None, "uclab")
    assert err.value.fix is not None and "--seats" in err.value.fix
    assert ServeConfig.from_args("0.0.0.0:8080", 3, "uclab").labs == ["uclab1", "uclab2",
                                                                       "uclab3"]
    assert ServeConfig.from_args("[::1]:8080", None, "uclab").labs == ["uclab"]
    for bad in ("8080", "localhost:", "host:99999"):
        with pytest.raises(InputError, match="HOST:PORT"):
            ServeConfig.from_args(bad, None, "uclab")
    with pytest.raises(InputError, match="too long"):
        ServeConfig.from_args("127.0.0.1:8080", 12, "abcdefghij")


def test_a_seat_opens_with_its_own_token_only(tmp_path: Path) -> None:
    async def check(client: TestClient[Any, Any], seats: Any) -> None:
        one, two = seats.seats[1], seats.seats[2]
        r = await client.get(f"/seat/1?token={one.token}")
        assert r.status == 200
        assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        assert r.headers["X-Frame-Options"] == "DENY"
        for token in (two.token, "", "x" * 22, seats.trainer_token):
            r = await client.get(f"/seat/1?token={token}")
            assert r.status == 403
            assert "does not open seat 1" in await r.text()
        r = await client.get("/api/seat/1/state", headers={security.TOKEN_HEADER: two.token})
        assert r.status == 403
        r = await client.get("/api/seat/1/state", headers={security.TOKEN_HEADER: one.token})
        assert r.status == 200 and (await r.json())["seat"]["lab"] == "wuweb1"
        r = await client.get(f"/api/trainer/state?token={one.token}")
        assert r.status == 403
        r = await client.get(f"/api/trainer/state?token={seats.trainer_token}")
        assert [s["seat"] for s in (await r.json())["seats"]] == [1, 2]
        r = await client.get(f"/api/seat/9/state?token={one.token}")
        assert r.status == 403

    _with_client(check, tmp_path)


def test_state_changing_requests_refuse_cross_site_and_tokenless(tmp_path: Path) -> None:
    async def check(client: TestClient[Any, Any], seats: Any) -> None:
        token = seats.seats[1].token
        cases = [
            ({"Content-Type": "application/json"}, "carries its token"),
            (_post(token, Origin="http://evil.example"), "Origin http://evil.example"),
            (_post(token, **{"Sec-Fetch-Site": "cross-site"}), "Sec-Fetch-Site cross-site"),
            ({security.TOKEN_HEADER: token, "Content-Type": "text/plain"}, "JSON or multipart"),
            (_post(seats.seats[2].token), "does not open seat 1"),
        ]
        for headers, why in cases:
            r = await client.post("/api/seat/1/up", data="{}", headers=headers)
            assert r.status == 403, headers
            assert why in await r.text()
        assert seats.seats[1].job is None  # nothing started

    _with_client(check, tmp_path)


def test_loopback_server_refuses_other_host_names(tmp_path: Path) -> None:
    async def check(client: TestClient[Any, Any], seats: Any) -> None:
        r = await client.get(f"/seat/1?token={seats.seats[1].token}",
                             headers={"Host": "rebound.example:8080"})
        assert r.status == 403
        assert "loopback" in await r.text()

    _with_client(check, tmp_path)


def test_input_is_validated_before_anything_runs(tmp_path: Path) -> None:
    async def check(client: TestClient[Any, Any], seats: Any) -> None:
        token = seats.seats[1].token
        bad = [({"scenario": "../../etc/passwd"}, "no scenario"),
               ({"scenario": "screen-share", "faults": ["cut: {link: nowhere:eth9}"]},
                "--fault"),
               ({"scenario": "screen-share", "faults": ["x"] * 9}, "at most 4"),
               ({"scenario": "screen-share", "faults": "cut"}, "a list")]
        for body, why in bad:
            r = await client.post("/api/seat/1/run", data=json.dumps(body), headers=_post(token))
            assert r.status == 400, body
            assert why in (await r.json())["error"]
        r = await client.post("/api/seat/1/run", data="{not json", headers=_post(token))
        assert r.status == 400
        big = json.dumps({"policies": {"fw-inside": "#" * (security.MAX_BODY + 10)}})
        r = await client.post("/api/seat/1/firewall", data=big, headers=_post(token))
        assert r.status == 413
        policy = json.dumps({"policies": {"fw-inside": "#" * (security.MAX_POLICY + 10)}})
        r = await client.post("/api/seat/1/firewall", data=policy, headers=_post(token))
        assert r.status == 413
        r = await client.post("/api/seat/1/firewall", headers=_post(token),
                              data=json.dumps({"policies": {"cms": "table inet x {}"}}))
        assert r.status == 400 and "fw-outside" in await r.text()
        r = await client.post("/api/seat/1/next", data="{}", headers=_post(token))
        assert r.status == 409  # no tour at a stop
        r = await client.get(f"/api/seat/1/download/pcapng?token={token}")
        assert r.status == 404
        r = await client.get(f"/api/seat/1/download/..%2f..%2fetc?token={token}")
        assert r.status == 404
        assert seats.seats[1].job is None

    _with_client(check, tmp_path)


def test_one_job_per_seat(tmp_path: Path) -> None:
    async def check(client: TestClient[Any, Any], seats: Any) -> None:
        seats.seats[1].job = "run"
        r = await client.post("/api/seat/1/up", data="{}", headers=_post(seats.seats[1].token))
        assert r.status == 409 and "busy" in await r.text()

    _with_client(check, tmp_path)


def test_static_assets_are_the_packages_own(tmp_path: Path) -> None:
    async def check(client: TestClient[Any, Any], seats: Any) -> None:
        r = await client.get("/static/seat.js")
        assert r.status == 200
        text = await r.text()
        assert "innerHTML" not in text and "http://" not in text.replace("http://www.w3.org", "")
        page = await (await client.get(f"/seat/1?token={seats.seats[1].token}")).text()
        assert "https://" not in page and "http://" not in page.replace(
            'xmlns="http://www.w3.org/2000/svg"', "")

    _with_client(check, tmp_path)


def test_uploaded_policies_are_capped_and_checked(tmp_path: Path) -> None:

    async def check(client: TestClient[Any, Any], seats: Any) -> None:
        token = {security.TOKEN_HEADER: seats.seats[1].token}
        form = FormData()
        form.add_field("fw-inside", b"#" * (security.MAX_POLICY + 1), filename="in.nft")
        r = await client.post("/api/seat/1/firewall", data=form, headers=token)
        assert r.status == 413
        form = FormData()
        form.add_field("fw-inside", b"\xff\xfe not text", filename="in.nft")
        r = await client.post("/api/seat/1/firewall", data=form, headers=token)
        assert r.status == 400 and "not UTF-8" in await r.text()
        form = FormData()
        form.add_field("cms", b"table inet x {}", filename="x.nft")
        r = await client.post("/api/seat/1/firewall", data=form, headers=token)
        assert r.status == 400 and "at least one policy" in await r.text()
        form = FormData()
        form.add_field("fw-inside", b"table inet x {}", filename="in.nft")
        form.add_field("format", "yaml")
        r = await client.post("/api/seat/1/firewall", data=form, headers=token)
        assert r.status == 400 and "nft or iptables" in await r.text()
        assert seats.seats[1].job is None

    _with_client(check, tmp_path)
