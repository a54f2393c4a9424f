"""Record every exchange of a run to a directory, and replay a run from one, offline.

A recording is ``index.json`` (the exchanges in order) plus one JSON file per
exchange, ``NNN-<probe>[.<step>].json``: the probe, the request (method,
path, headers with the key as a placeholder, body) and the response (status,
headers without the volatile ones, body). No timestamps in names, stable
order, the key redacted from every byte written.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .exchange import Answer, NotRecorded, Request, Target

INDEX = "index.json"
FORMAT = "evolink-mock drift recording 1"
_EXCHANGE_FILE = re.compile(r"^\d{3,}-.+\.json$")


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _body_fields(content: bytes | None) -> dict[str, Any]:
    if content is None:
        return {}
    try:
        return {"json": json.loads(content)}
    except ValueError:
        return {"text": content.decode("utf-8", "replace")}


def request_record(request: Request) -> dict[str, Any]:
    """A request as written to a recording."""
    record: dict[str, Any] = {"method": request.method, "path": request.path,
                              "headers": dict(sorted(request.headers.items()))}
    if request.download:
        record["download"] = True
    return {**record, **_body_fields(request.content)}


def answer_record(answer: Answer) -> dict[str, Any]:
    """An answer as written to a recording."""
    record: dict[str, Any] = {"status": answer.status, "headers": dict(sorted(answer.headers.items()))}
    if answer.is_json:
        record["json"] = answer.body
    elif answer.prefix:
        record["prefix_hex"] = answer.prefix.hex()
    elif answer.text:
        record["text"] = answer.text
    return record


def answer_from(record: dict[str, Any]) -> Answer:
    """The answer a recording holds."""
    headers = record.get("headers", {})
    if "json" in record:
        return Answer(record["status"], headers, record["json"], True)
    return Answer(record["status"], headers, text=record.get("text"),
                  prefix=bytes.fromhex(record.get("prefix_hex", "")))


class Recorder:
    """Wraps a target and writes each exchange as it happens; :meth:`close` writes the index."""

    def __init__(self, inner: Target, directory: Path, redact: Callable[[str], str]) -> None:
        self.inner = inner
        self.directory = directory
        self._redact = redact
        self._entries: list[dict[str, str]] = []
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.iterdir():  # a previous recording's files would mix with this one's
            if old.name == INDEX or _EXCHANGE_FILE.match(old.name):
                old.unlink()

    def send(self, probe: str, step: str, request: Request) -> Answer:
        answer = self.inner.send(probe, step, request)
        name = f"{len(self._entries) + 1:03d}-{probe}{f'.{step}' if step else ''}.json"
        record = {"probe": probe, "step": step, "request": request_record(request),
                  "response": answer_record(answer)}
        (self.directory / name).write_text(self._redact(_dumps(record)), encoding="utf-8")
        self._entries.append({"probe": probe, "step": step, "file": name})
        return answer

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def close(self) -> None:
        """Write ``index.json``."""
        index = {"format": FORMAT, "exchanges": self._entries}
        (self.directory / INDEX).write_text(self._redact(_dumps(index)), encoding="utf-8")


class ReplayTarget:
    """Answers from a recording; no network. Time is virtual: sleeping only moves it."""

    def __init__(self, directory: Path) -> None:
        index_path = directory / INDEX
        if not directory.is_dir():
            raise FileNotFoundError(f"replay directory {directory} does not exist")
        if not index_path.is_file():
            raise FileNotFoundError(f"{directory} has no {INDEX}: not a drift recording")
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
            assert index["format"] == FORMAT
            self._files = {(e["probe"], e["step"]): directory / e["file"] for e in index["exchanges"]}
        except (ValueError, KeyError, TypeError, AssertionError):
            raise ValueError(f"{index_path} is not a drift recording index ({FORMAT})") from None
        self._now = 0.0

    @property
    def probes(self) -> set[str]:
        """The probes the recording has exchanges for."""
        return {probe for probe, _ in self._files}

    def send(self, probe: str, step: str, request: Request) -> Answer:
        path = self._files.get((probe, step))
        if path is None:
            raise NotRecorded("not in the recording")
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise NotRecorded(f"unreadable recording file {path.name}: {exc}") from None
        if not _same(record.get("request", {}), request):
            raise NotRecorded(f"{path.name} holds a different request than the probe sends now (record again)")
        return answer_from(record["response"])

    def sleep(self, seconds: float) -> None:
        self._now += seconds

    def monotonic(self) -> float:
        return self._now


def _same(recorded: dict[str, Any], request: Request) -> bool:
    sent = request_record(request)
    return all(recorded.get(key) == sent.get(key) for key in ("method", "path", "json", "text"))
