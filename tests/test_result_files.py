"""Result links behave like the object store behind real ones (issue 15, failure 1).

Byte ranges (206, ``Content-Range``, ``Accept-Ranges``, several ranges, edges, 416), ``HEAD``,
``ETag``/``Last-Modified`` with conditional requests (304, ``If-Range``); expired links still
answer 410 and unknown ones 404. Against the live server, and once through the in-process fixture.
"""
from __future__ import annotations

from email.utils import parsedate_to_datetime

import httpx
import pytest
from conftest import T2V, Api, assert_error

from contracts.handle import EvolinkHandle


@pytest.fixture
def result(api: Api) -> tuple[Api, str, bytes]:
    """A completed task's result link and its whole file."""
    task = api.created({"model": T2V, "prompt": "p", "duration": 3}, **{"X-Mock-Scenario": "queue=0;processing=5"})
    api.advance(10)
    link = api.task(task["id"])["results"][0]
    whole = api.http.get(link)
    assert whole.status_code == 200 and whole.headers["accept-ranges"] == "bytes"
    assert whole.content[4:8] == b"ftyp"
    return api, link, whole.content


def test_issue_input_a_two_byte_probe_gets_a_206(result: tuple[Api, str, bytes]) -> None:
    """Issue 15, failure 1: ``Range: bytes=0-1`` (Safari's and GStreamer's probe) answered 200 with the whole file."""
    api, link, whole = result
    probe = api.http.get(link, headers={"Range": "bytes=0-1"})
    assert probe.status_code == 206
    assert probe.headers["content-range"] == f"bytes 0-1/{len(whole)}"
    assert probe.headers["content-length"] == "2" and probe.content == whole[:2]
    assert probe.headers["content-type"] == "video/mp4"


#: (Range header, first byte, last byte) of a single-range 206; None for "the last N bytes" etc. computed below.
SINGLE = [
    ("bytes=0-0", 0, 0),
    ("bytes=10-99", 10, 99),
    ("bytes=100-", 100, -1),  # open-ended: to the last byte
    ("bytes=-10", -10, -1),  # a suffix: the last 10 bytes
    ("bytes=0-99999999", 0, -1),  # an end beyond the file is cut to it
    ("bytes= 5 - 9", 5, 9),  # spaces around the numbers
]


@pytest.mark.parametrize(("header", "first", "last"), SINGLE, ids=[row[0] for row in SINGLE])
def test_single_ranges(result: tuple[Api, str, bytes], header: str, first: int, last: int) -> None:
    api, link, whole = result
    size = len(whole)
    start, end = first % size, last % size
    answer = api.http.get(link, headers={"Range": header})
    assert answer.status_code == 206, answer.text
    assert answer.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert answer.content == whole[start:end + 1]


def test_several_ranges_are_a_multipart_answer(result: tuple[Api, str, bytes]) -> None:
    api, link, whole = result
    answer = api.http.get(link, headers={"Range": "bytes=0-1,10-19"})
    assert answer.status_code == 206
    kind, _, boundary = answer.headers["content-type"].partition("; boundary=")
    assert kind == "multipart/byteranges" and boundary
    parts = answer.content.split(f"--{boundary}".encode())
    assert parts[-1] == b"--"  # the closing delimiter
    bodies = {part.split(b"\r\n\r\n", 1)[0].split(b"Content-Range: ")[1]: part.split(b"\r\n\r\n", 1)[1][:-2]
              for part in parts[1:-1]}
    size = len(whole)
    assert bodies == {f"bytes 0-1/{size}".encode(): whole[0:2], f"bytes 10-19/{size}".encode(): whole[10:20]}


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes=99999999-", "bytes={size}-{size}"])
def test_a_range_outside_the_file_is_a_416(result: tuple[Api, str, bytes], header: str) -> None:
    api, link, whole = result
    answer = api.http.get(link, headers={"Range": header.format(size=len(whole))})
    assert_error(answer, 416, "range_not_satisfiable", "invalid_request_error", "outside the file")
    assert answer.headers["content-range"] == f"bytes */{len(whole)}"


@pytest.mark.parametrize("header", ["items=0-1", "bytes=abc", "bytes=", "bytes=9-2", "0-1", "bytes=-"])
def test_a_malformed_range_is_ignored(result: tuple[Api, str, bytes], header: str) -> None:
    """RFC 9110 lets a server ignore a Range it does not understand; object stores answer the whole file."""
    api, link, whole = result
    answer = api.http.get(link, headers={"Range": header})
    assert answer.status_code == 200 and answer.content == whole


def test_head_answers_the_headers_only(result: tuple[Api, str, bytes]) -> None:
    api, link, whole = result
    head = api.http.head(link)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(whole)) and head.headers["accept-ranges"] == "bytes"
    assert head.headers["etag"] == api.http.get(link).headers["etag"]
    ranged = api.http.head(link, headers={"Range": "bytes=0-1"})
    assert ranged.status_code == 206 and ranged.headers["content-range"] == f"bytes 0-1/{len(whole)}"


def test_etag_and_last_modified_answer_conditional_requests(result: tuple[Api, str, bytes]) -> None:
    api, link, whole = result
    first = api.http.get(link)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    task_id = link.rsplit("/", 1)[1].removesuffix(".mp4")
    ended = api.admin_task(task_id)["timeline"]["ends"]
    assert parsedate_to_datetime(modified).timestamp() == int(ended)  # the task's completion, mock time
    for headers in ({"If-None-Match": etag}, {"If-None-Match": f'"other", {etag}'}, {"If-None-Match": "*"},
                    {"If-Modified-Since": modified}):
        not_modified = api.http.get(link, headers=headers)
        assert not_modified.status_code == 304 and not_modified.content == b"", headers
        assert not_modified.headers["etag"] == etag
    assert api.http.get(link, headers={"If-None-Match": '"other"'}).status_code == 200
    assert api.http.get(link, headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}).status_code == 200
    assert api.http.get(link, headers={"Range": "bytes=0-1", "If-Range": etag}).status_code == 206
    changed = api.http.get(link, headers={"Range": "bytes=0-1", "If-Range": '"changed"'})
    assert changed.status_code == 200 and changed.content == whole


def test_expired_and_unknown_links_still_refuse(result: tuple[Api, str, bytes]) -> None:
    api, link, _ = result
    assert api.http.get(link.replace("task-unified-", "task-unified-0"), headers={"Range": "bytes=0-1"}) \
        .status_code == 404
    api.advance(24 * 3600 + 1)
    gone = api.http.get(link, headers={"Range": "bytes=0-1"})
    assert_error(gone, 410, "file_expired", "invalid_request_error")
    assert api.http.head(link).status_code == 410


def test_ranges_through_the_in_process_fixture(evolink_mock: EvolinkHandle) -> None:
    with httpx.Client(base_url=evolink_mock.base_url, headers={"Authorization": f"Bearer {evolink_mock.api_key}",
                                                               "X-Mock-Scenario": "queue=0;processing=5"}) as http:
        task_id = http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p"}).json()["id"]
        evolink_mock.advance(10)
        link = http.get(f"/v1/tasks/{task_id}").json()["results"][0]
        whole = http.get(link).content
        probe = http.get(link, headers={"Range": "bytes=0-1"})
    assert probe.status_code == 206 and probe.content == whole[:2]
