"""The daemons' control protocol (lab.daemons.control) and event log (nodes.common): one JSON
request
per connection on a Unix socket, errors answered not raised, readiness by the socket's
existence, waits on events past and future."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.daemons.control import ControlError, ControlServer, reachable, request
from nodes.common import EventLog


class Served:
    """A ControlServer on its own loop in a thread, with an event log behind "wait"."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events = EventLog()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def echo(req: dict[str, Any]) -> dict[str, Any]:
            return {"echo": req.get("value")}

        async def boom(req: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("it broke")

        async def refuse(req: dict[str, Any]) -> dict[str, Any]:
            return {"ok": False, "error": "not now"}

        async def wait(req: dict[str, Any]) -> dict[str, Any]:
            ev = await self.events.wait(req["events"], req.get("after", 0), req["within"])
            return {"event": ev.as_dict() if ev else None}

        self.server = ControlServer(self.path, {"echo": echo, "boom": boom, "refuse": refuse,
                                                "wait": wait})
        self.loop.run_until_complete(self.server.start())
        self.ready.set()
        self.loop.run_forever()

    def add(self, name: str, detail: str = "") -> None:
        self.loop.call_soon_threadsafe(self.events.add, name, detail)

    def close(self) -> None:
        async def shutdown() -> None:
            await self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path / "node.sock")
    yield s
    s.close()


def test_request_and_reply(served: Served) -> None:
    assert request(served.path, "echo", value=[1, "a"]) == {"ok": True, "echo": [1, "a"]}
    assert reachable(served.path)
    assert oct(served.path.stat().st_mode & 0o777) == "0o600"


def test_errors_are_answered_and_the_server_goes_on(served: Served) -> None:
    with pytest.raises(ControlError, match="unknown command 'ehco'; known: boom, echo"):
        request(served.path, "ehco")
    with pytest.raises(ControlError, match="RuntimeError: it broke") as err:
        request(served.path, "boom")
    assert not err.value.unreachable
    with pytest.raises(ControlError, match="refuse: not now"):
        request(served.path, "refuse")
    assert request(served.path, "echo", value=2)["echo"] == 2


def test_garbage_line_gets_an_error(served: Served) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(served.path))
        s.sendall(b"{not json\n")
        assert b"not JSON" in s.recv(4096)
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(served.path))
        s.sendall(b'["cmd"]\n')
        assert b'a request is a JSON object with \\"cmd\\"' in s.recv(4096)


def test_absent_daemon_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(ControlError) as err:
        request(tmp_path / "nobody.sock", "status")
    assert err.value.unreachable and "not reachable" in err.value.message
    assert not reachable(tmp_path / "nobody.sock")


def test_socket_removed_on_close(tmp_path: Path) -> None:
    s = Served(tmp_path / "x.sock")
    assert s.path.exists()
    s.close()
    assert not s.path.exists()


def test_wait_sees_past_and_future_events(served: Served) -> None:
    served.add("invite")
    got = request(served.path, "wait", events=["invite"], within=1)["event"]
    assert got["name"] == "invite" and got["seq"] == 1
    # none yet: null after "within" seconds
    assert request(served.path, "wait", events=["media"], within=0.05)["event"] is None
    # a future one wakes the waiter; "after" skips older ones of the same name
    timer = threading.Timer(0.1, served.add, ("invite", "second"))
    timer.start()
    got = request(served.path, "wait", events=["invite", "failed"], within=5, after=1)["event"]
    timer.join()
    assert (got["seq"], got["detail"]) == (2, "second")


def test_no_answer_in_time_is_a_control_error(served: Served) -> None:
    with pytest.raises(ControlError, match=r"no answer to 'wait' within 0\.1 s"):
        request(served.path, "wait", events=["never"], within=5, timeout=0.1)


def test_event_log_find_and_order() -> None:
    log = EventLog()

    async def main() -> None:
        log.add("a")
        log.add("b", "x")
        assert log.find(["b"]) is not None and log.find(["b"], after=2) is None
        waiter = asyncio.ensure_future(log.wait(["c"], within=2))
        await asyncio.sleep(0)
        log.add("c", "now")
        ev = await waiter
        assert ev is not None and (ev.seq, ev.detail) == (3, "now")
        assert await log.wait(["d"], within=0.01) is None

    asyncio.run(main())
    assert [e.name for e in log.items] == ["a", "b", "c"]


def test_a_crash_is_told_by_its_causes() -> None:
    from nodes.common import leaves  # noqa: PLC0415

    boom, bind = RuntimeError("boom"), OSError(98, "address already in use")
    group = ExceptionGroup("tasks", [boom, ExceptionGroup("inner", [bind])])
    assert leaves(group) == [boom, bind]
    assert leaves(bind) == [bind]


def test_a_held_event_pauses_the_daemon_until_released_or_the_limit() -> None:
    log = EventLog(hold_limit=0.3)
    order: list[object] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        async def daemon_side() -> None:
            ev = await log.reach("answered")
            order.append(("went on", ev.held))

        log.hold(["answered"])
        task = asyncio.ensure_future(daemon_side())
        ev = await log.wait(["answered"], within=1)
        assert ev is not None and ev.held and ev.as_dict()["held"] is True
        await asyncio.sleep(0.05)
        order.append("the fault acts")  # the daemon is still paused
        assert log.release() == 1
        await task
        # a hold is for one event: the next one goes straight on
        assert not (await log.reach("answered")).held
        # nobody releases: the daemon goes on by itself after hold_limit
        log.hold(["ended"])
        start = loop.time()
        assert (await log.reach("ended")).held
        assert 0.25 < loop.time() - start < 3
        assert log.release() == 0

    asyncio.run(main())
    assert order == ["the fault acts", ("went on", True)]
    assert [(e.name, e.held) for e in log.items] == [
        ("answered", True), ("answered", False), ("ended", True)]
