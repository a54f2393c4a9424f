"""Every admin record carries its identity and headline fields at the top (issue 15, failure 11).

Tasks: ``id``, ``model``, ``status``, ``progress`` (the public body stays under ``task``), in
``GET /_mock/tasks``, ``GET /_mock/tasks/{id}``, the cancel answer and the test handle's
``.tasks()`` / ``.task(id)``. The other records already lead with theirs: callback attempts
(``task_id``, ``attempt``), accounts (``key``), ledger entries (``task_id``, ``kind``), fault rules (``id``).
"""
from __future__ import annotations

from typing import Any

import httpx
from conftest import T2V, Api

from contracts.handle import EvolinkHandle

HEADLINE = ("id", "model", "status", "progress")


def _headline(record: dict[str, Any], task: dict[str, Any]) -> None:
    assert {name: record[name] for name in HEADLINE} == {name: task[name] for name in HEADLINE}, record
    assert record["task"]["id"] == record["id"]  # kept where it was


def test_issue_input_handle_tasks_have_their_id_at_the_top(evolink_mock: EvolinkHandle) -> None:
    """Issue 15, failure 11: items of ``evolink_mock.tasks()`` had no top-level ``id``."""
    with httpx.Client(base_url=evolink_mock.base_url,
                      headers={"Authorization": f"Bearer {evolink_mock.api_key}"}) as http:
        created = [http.post("/v1/videos/generations", json={"model": T2V, "prompt": f"p{i}"}).json()
                   for i in range(2)]
        evolink_mock.advance(30)
        polled = [http.get(f"/v1/tasks/{task['id']}").json() for task in created]
    listed = evolink_mock.tasks()
    assert [item["id"] for item in listed] == [task["id"] for task in created]
    for item, task in zip(listed, polled):
        _headline(item, task)
    _headline(evolink_mock.task(created[0]["id"]), polled[0])


def test_admin_routes_put_the_headline_at_the_top(api: Api) -> None:
    task = api.created({"model": T2V, "prompt": "p"}, **{"X-Mock-Scenario": "queue=0;processing=100"})
    api.advance(50)
    polled = api.task(task["id"])
    assert polled["status"] == "processing" and 0 < polled["progress"] < 100
    [listed] = api.http.get("/_mock/tasks", params={"key": api.key}).json()["tasks"]
    _headline(listed, polled)
    _headline(api.admin_task(task["id"]), polled)
    cancelled = api.http.post(f"/_mock/tasks/{task['id']}/cancel").json()
    _headline(cancelled, api.task(task["id"]))
    assert cancelled["status"] == "failed"


def test_the_other_admin_records_lead_with_their_identity(api: Api) -> None:
    task = api.created({"model": T2V, "prompt": "p"})
    assert {"key", "granted", "balance"} <= set(api.account())
    [grant, reserve] = api.http.get(f"/_mock/accounts/{api.key}/ledger").json()
    assert (grant["kind"], reserve["kind"], reserve["task_id"]) == ("grant", "reserve", task["id"])
