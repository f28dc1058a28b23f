"""The REST charging API with the engine in a child process (what ``famsim serve`` runs):
the same answers and problems, a 503 problem if the child dies, the child stopped with
the server."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api_world import ApiWorld, build
from famsim.entrypoints.http.app import create_api
from smdp_server import served

pytestmark = pytest.mark.e2e
PROBLEM = "application/problem+json"
REQUEST = {
    "session_id": "s1",
    "request_number": 0,
    "subscriber": "454001230000001",
    "services": [{"resource": "data", "requested": 10**6}],
}


def _children() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name == "famsim-charging"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ApiWorld, str]]:
    world = build(tmp_path)
    try:
        with served(create_api(world.app, charging_process=True)) as url:
            yield world, url
    finally:
        world.app.close()


def key(world: ApiWorld, which: str = "all") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.keys[which]}"}


def test_charging_through_the_child_process(world: tuple[ApiWorld, str]) -> None:
    w, url = world
    assert len(_children()) == 1
    granted = httpx.post(f"{url}/v1/charging/reserve", json=REQUEST, headers=key(w)).json()
    assert granted["outcome"] == "success"
    assert granted["services"][0]["granted"] > 0
    update = {**REQUEST, "request_number": 1, "services": [{"resource": "data", "used": 500}]}
    first = httpx.post(f"{url}/v1/charging/update", json=update, headers=key(w))
    again = httpx.post(f"{url}/v1/charging/update", json=update, headers=key(w))
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()  # a retransmission gets the stored answer

    refused = httpx.post(f"{url}/v1/charging/reserve", json=REQUEST, headers=key(w, "plans"))
    assert (refused.status_code, refused.headers["content-type"]) == (403, PROBLEM)
    invalid = {**REQUEST, "request_number": -1}
    bad = httpx.post(f"{url}/v1/charging/reserve", json=invalid, headers=key(w))
    assert (bad.status_code, bad.headers["content-type"]) == (422, PROBLEM)
    assert "request_number" in bad.json()["detail"]
    stranger = httpx.post(
        f"{url}/v1/charging/reserve", json=REQUEST, headers={"Authorization": "Bearer fsk_x"}
    )
    assert stranger.status_code == 401


@pytest.mark.parametrize("subscriber", ["+10000000", "1234567", "001010000000001"])
def test_the_engines_refusals_are_the_same_problems(
    world: tuple[ApiWorld, str], subscriber: str
) -> None:
    """Errors come back through the pipe as the classes the engine raised (or, when one
    does not pickle, such as InvalidIdentifier, its base class with the same message)."""
    w, url = world
    body = {**REQUEST, "session_id": f"p-{subscriber}", "subscriber": subscriber}
    with served(create_api(w.app)) as in_process:  # the engine on a thread
        expected = httpx.post(f"{in_process}/v1/charging/reserve", json=body, headers=key(w))
    body["session_id"] += "-child"
    answer = httpx.post(f"{url}/v1/charging/reserve", json=body, headers=key(w))
    assert answer.status_code == expected.status_code
    assert answer.headers["content-type"] == expected.headers["content-type"]
    if expected.status_code != 200:
        assert answer.json() == expected.json()


def test_a_dead_engine_is_a_503_problem(world: tuple[ApiWorld, str]) -> None:
    w, url = world
    (child,) = _children()
    child.kill()
    child.join()
    deadline = time.monotonic() + 10  # the API notices the broken pipe
    while True:
        answer = httpx.post(f"{url}/v1/charging/reserve", json=REQUEST, headers=key(w))
        if answer.status_code == 503 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (answer.status_code, answer.headers["content-type"]) == (503, PROBLEM)
    assert httpx.get(f"{url}/v1/openapi.json").status_code == 200  # the rest still serves


def test_the_child_stops_with_the_server(tmp_path: Path) -> None:
    world = build(tmp_path)
    try:
        with served(create_api(world.app, charging_process=True)) as url:
            answer = httpx.post(f"{url}/v1/charging/reserve", json=REQUEST, headers=key(world))
            assert answer.status_code == 200
            assert _children()
    finally:
        world.app.close()
    assert not _children()
