"""Hundreds of concurrent creates over several keys on a real uvicorn leave every ledger exact."""
from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
from conftest import T2V

from contracts.server import LiveServer
from mock_server import Settings

KEYS = [f"sk-concurrent-{i:04d}" for i in range(4)]
FUNDED = 40  # tasks each key can afford
PRICE = Decimal(27)  # default text-to-video
REQUESTS_PER_KEY = 90


def _create(http: httpx.Client, key: str) -> int:
    return http.post("/v1/videos/generations", json={"model": T2V, "prompt": "race"},
                     headers={"Authorization": f"Bearer {key}"}).status_code


def test_concurrent_creates_reserve_exactly_what_each_key_can_afford() -> None:
    limits = httpx.Limits(max_connections=16)
    with LiveServer(Settings(speed=0, seed=3)) as server, \
            httpx.Client(base_url=server.base_url, limits=limits, timeout=30) as admin:
        for key in KEYS:
            assert admin.put(f"/_mock/accounts/{key}", json={"granted": float(PRICE * FUNDED + 10)}).status_code == 200
        jobs = [key for key in KEYS for _ in range(REQUESTS_PER_KEY)]
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(lambda key: (key, _create(admin, key)), jobs))

        by_key = {key: Counter(status for k, status in statuses if k == key) for key in KEYS}
        for key, counts in by_key.items():
            assert counts == {200: FUNDED, 402: REQUESTS_PER_KEY - FUNDED}, (key, counts)
            ledger = admin.get(f"/_mock/accounts/{key}").json()
            assert ledger["reserved"] == float(PRICE * FUNDED) and ledger["balance"] == 10
            assert ledger["running"] == FUNDED

        tasks = admin.get("/_mock/tasks", params={"limit": 10000}).json()
        assert tasks["total"] == FUNDED * len(KEYS)
        assert len({t["task"]["id"] for t in tasks["tasks"]}) == tasks["total"], "duplicate task ids"
        assert all(t["billing"]["state"] == "reserved" and t["billing"]["price"] == 27 for t in tasks["tasks"])

        admin.post("/_mock/clock/advance", json={"seconds": 3600})
        for key in KEYS:
            ledger = admin.get(f"/_mock/accounts/{key}").json()
            assert (ledger["charged"], ledger["reserved"], ledger["balance"]) == (float(PRICE * FUNDED), 0, 10)
            assert ledger["balance"] + ledger["reserved"] + ledger["charged"] == ledger["granted"]


def test_core_ledger_is_exact_under_threads_without_an_event_loop() -> None:
    """The core is also called from threads (in-process clients): the store's lock keeps it exact."""
    from mock_server import Emulator
    from mock_server.errors import ApiError

    emulator = Emulator(Settings(speed=0, seed=5))
    accounts = {key: emulator.put_account(key, PRICE * FUNDED, None) for key in KEYS}

    def create(key: str) -> int:
        try:
            emulator.create_task(accounts[key], {"model": T2V, "prompt": "race"})
            return 200
        except ApiError as error:
            return error.status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda key: (key, create(key)), [k for k in KEYS for _ in range(REQUESTS_PER_KEY)]))
    for key in KEYS:
        assert Counter(s for k, s in statuses if k == key) == {200: FUNDED, 402: REQUESTS_PER_KEY - FUNDED}
        account = emulator.account(key)
        assert (account.balance, account.reserved, account.running) == (0, PRICE * FUNDED, FUNDED)
