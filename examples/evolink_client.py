"""A small EvoLink video client on httpx: the kind of code evolink-mock is for.

    client = EvoLinkClient(api_key="sk-...")
    task_id = client.generate("kling-o3-text-to-video", "a lighthouse at dusk", duration=5)
    task = client.wait(task_id)              # polls every 5 s until completed or failed
    video = client.download(task)            # MP4 bytes

``AsyncEvoLinkClient`` is the same on ``httpx.AsyncClient``. Both retry a
429 after its ``Retry-After`` and raise :class:`EvoLinkError` with the API's
error code otherwise.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

BASE_URL = "https://api.evolink.ai"
FINAL = ("completed", "failed")


class EvoLinkError(Exception):
    """An error answer, or a task that failed: ``status`` (HTTP, 0 for a task), ``code``, ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message = status, code, message


def _body(model: str, prompt: str | None, options: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, **({"prompt": prompt} if prompt is not None else {}), **options}


def _checked(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        error = response.json().get("error", {})
        raise EvoLinkError(response.status_code, error.get("code", "unknown"), error.get("message", response.text))
    return response.json()


def _outcome(task: dict[str, Any]) -> dict[str, Any]:
    if task["status"] == "failed":
        raise EvoLinkError(0, task["error"]["code"], task["error"]["message"])
    return task


def _retry_after(response: httpx.Response) -> float | None:
    if response.status_code != 429:
        return None
    return float(response.headers.get("Retry-After", "1"))


class EvoLinkClient:
    """Synchronous client. ``sleep`` is injectable (a test can make it move a mock clock)."""

    def __init__(self, api_key: str, base_url: str = BASE_URL, *, poll_interval: float = 5.0,
                 retries: int = 3, sleep: Callable[[float], Any] = time.sleep, http: httpx.Client | None = None):
        self.poll_interval, self.retries, self.sleep = poll_interval, retries, sleep
        self.http = http or httpx.Client(base_url=base_url, timeout=30,
                                         headers={"Authorization": f"Bearer {api_key}"})

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for _ in range(self.retries):
            response = self.http.request(method, path, **kwargs)
            wait = _retry_after(response)
            if wait is None:
                return _checked(response)
            self.sleep(wait)
        return _checked(response)

    def generate(self, model: str, prompt: str | None = None, **options: Any) -> str:
        """Create a task; returns its id."""
        return self._request("POST", "/v1/videos/generations", json=_body(model, prompt, options))["id"]

    def task(self, task_id: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/tasks/{task_id}")

    def wait(self, task_id: str, timeout: float = 900) -> dict[str, Any]:
        """Poll until the task ends; raises EvoLinkError if it failed."""
        waited = 0.0
        while (task := self.task(task_id))["status"] not in FINAL:
            if waited >= timeout:
                raise TimeoutError(f"{task_id} still {task['status']} after {timeout} s")
            self.sleep(self.poll_interval)
            waited += self.poll_interval
        return _outcome(task)

    def download(self, task: dict[str, Any]) -> bytes:
        response = self.http.get(task["results"][0])
        response.raise_for_status()
        return response.content

    def credits(self) -> float:
        return self._request("GET", "/v1/credits")["data"]["token"]["remaining_credits"]


class AsyncEvoLinkClient:
    """The same on ``httpx.AsyncClient``; ``sleep`` is an awaitable function."""

    def __init__(self, api_key: str, base_url: str = BASE_URL, *, poll_interval: float = 5.0,
                 retries: int = 3, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 http: httpx.AsyncClient | None = None):
        self.poll_interval, self.retries, self.sleep = poll_interval, retries, sleep
        self.http = http or httpx.AsyncClient(base_url=base_url, timeout=30,
                                              headers={"Authorization": f"Bearer {api_key}"})

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for _ in range(self.retries):
            response = await self.http.request(method, path, **kwargs)
            wait = _retry_after(response)
            if wait is None:
                return _checked(response)
            await self.sleep(wait)
        return _checked(response)

    async def generate(self, model: str, prompt: str | None = None, **options: Any) -> str:
        return (await self._request("POST", "/v1/videos/generations", json=_body(model, prompt, options)))["id"]

    async def task(self, task_id: str) -> dict[str, Any]:
        return await self._request("GET", f"/v1/tasks/{task_id}")

    async def wait(self, task_id: str, timeout: float = 900) -> dict[str, Any]:
        waited = 0.0
        while (task := await self.task(task_id))["status"] not in FINAL:
            if waited >= timeout:
                raise TimeoutError(f"{task_id} still {task['status']} after {timeout} s")
            await self.sleep(self.poll_interval)
            waited += self.poll_interval
        return _outcome(task)

    async def download(self, task: dict[str, Any]) -> bytes:
        response = await self.http.get(task["results"][0])
        response.raise_for_status()
        return response.content

    async def aclose(self) -> None:
        await self.http.aclose()
