"""The request rules JSON Schema cannot express.

Each rule reads a body that already passed its model's schema and returns a
message when it is broken. A broken rule is a 400 ``invalid_request`` whose
``rule`` names the function, so contract tests can tell these from schema
failures. Each rule declares the top-level fields it reads: it runs whenever
the body has one of them (a test checks that no rule reads more than it
declares). Limits come from the model registry; nothing here repeats a
schema or names a model.

Rules: https://docs.evolink.ai/en/api-manual/video-series/kling/kling-o3-image-to-video
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import invalid_request
from ..families import ModelSpec
from .hosts import internal_host, unreadable_host, url_hosts

ALLOW_LOCAL_HINT = "set EVOLINK_MOCK_ALLOW_LOCAL_CALLBACKS=1 to allow them in the emulator"
_REFERENCE = re.compile(r"<<<(element|image|video)_(\d+)>>>")
_VIDEO_FIELDS = ("video_url", "video_urls", "video")


@dataclass(frozen=True)
class RuleContext:
    """Settings and contract facts the rules need."""

    allow_local_callbacks: bool = False
    default_duration: int | None = None


class RequestView:
    """The counts the rules look at, read from a valid body when a rule asks (plain properties:
    a body without the fields costs nothing)."""

    __slots__ = ("body", "spec")

    def __init__(self, spec: ModelSpec, body: Mapping[str, Any]) -> None:
        self.spec = spec
        self.body = body

    @property
    def params(self) -> Mapping[str, Any]:
        params = self.body.get("model_params")
        return params if isinstance(params, Mapping) else {}

    @property
    def frames(self) -> int:
        """``image_start`` + ``image_end``, where the model takes frames."""
        spec, body = self.spec, self.body
        return (spec.has("first_frame") and "image_start" in body) + (spec.has("last_frame") and "image_end" in body)

    @property
    def image_urls(self) -> int:
        return len(self.body.get("image_urls") or ()) if self.spec.has("reference_images") else 0

    @property
    def elements(self) -> int:
        return len(self.params.get("element_list") or ()) if self.spec.has("elements") else 0

    @property
    def videos(self) -> int:
        return 1 if self.spec.video_input and any(k in self.body for k in _VIDEO_FIELDS) else 0

    @property
    def multi_shot(self) -> bool:
        return self.spec.has("multi_shot") and self.params.get("multi_shot") is True

    @property
    def images(self) -> int:
        return self.frames + self.image_urls

    def prompts(self) -> list[tuple[str, str]]:
        """(field, text) of every prompt the model will read."""
        out = [("prompt", self.body["prompt"])] if isinstance(self.body.get("prompt"), str) else []
        if self.multi_shot:
            shots = self.params.get("multi_prompt") or ()
            out += [(f"model_params.multi_prompt[{i}].prompt", s["prompt"]) for i, s in enumerate(shots)]
        return out


RuleFunction = Callable[[RequestView, RuleContext], "str | None"]


@dataclass(frozen=True)
class Rule:
    """A cross-field rule and the top-level fields it reads."""

    name: str
    reads: frozenset[str]
    check: RuleFunction


RULES: list[Rule] = []


def rule(*reads: str) -> Callable[[RuleFunction], RuleFunction]:
    """Register a rule that reads the top-level fields ``reads``."""
    def register(check: RuleFunction) -> RuleFunction:
        RULES.append(Rule(check.__name__, frozenset(reads), check))
        return check
    return register


@rule("image_start", "image_end", "image_urls", "model_params")
def media_count(view: RequestView, _: RuleContext) -> str | None:
    """Images + elements within the model's limit; elements alone too."""
    spec, limits = view.spec, view.spec.limits
    most_elements = limits.get("elements")
    if most_elements is not None and view.elements > most_elements:
        return f"model_params.element_list has {view.elements} elements; {spec.id} allows at most {most_elements}"
    most_media = limits.get("media")
    if most_media is not None and view.images + view.elements > most_media:
        return (f"images + elements must be at most {most_media} for {spec.id} "
                f"(got {view.images} images and {view.elements} elements)")
    return None


@rule("image_urls", "video_urls", "audio_urls")
def media_totals(view: RequestView, _: RuleContext) -> str | None:
    """Items across several media fields within the model's total (``limits.totals``)."""
    for fields, most in view.spec.totals:
        count = sum(len(value) for name in fields if isinstance(value := view.body.get(name), list))
        if count > most:
            return f"{' + '.join(fields)} must have at most {most} items together for {view.spec.id} (got {count})"
    return None


@rule("image_end", "image_start", "image_urls")
def image_end_needs_two_images_at_most(view: RequestView, _: RuleContext) -> str | None:
    """``image_end`` is refused when the request carries more images than the limit."""
    limit = view.spec.limits.get("images_with_last_frame")
    if limit is not None and "image_end" in view.body and view.images > limit:
        return (f"image_end is not supported when image_start + image_end + image_urls exceed {limit} "
                f"images (got {view.images})")
    return None


@rule("image_start", "model_params")
def elements_with_start_frame(view: RequestView, _: RuleContext) -> str | None:
    """With a first frame, fewer elements are allowed."""
    limit = view.spec.limits.get("elements_with_first_frame")
    if limit is not None and "image_start" in view.body and view.elements > limit:
        return f"with image_start at most {limit} elements are allowed (got {view.elements})"
    return None


@rule("model_params", "duration")
def multi_shot_durations(view: RequestView, ctx: RuleContext) -> str | None:
    """The shots' durations add up to the video's duration."""
    if "model_params" not in view.body or not view.multi_shot:
        return None
    shots = view.params.get("multi_prompt") or ()
    if not shots:  # shots the model makes itself (shot_type intelligence)
        return None
    total = sum(int(shot["duration"]) for shot in shots)
    duration = int(view.body.get("duration", ctx.default_duration or 0))
    if total != duration:
        return (f"model_params.multi_prompt durations add up to {total} s but duration is {duration} s; "
                "they must be equal")
    return None


@rule("prompt", "model_params", "image_start", "image_end", "image_urls", *_VIDEO_FIELDS)
def prompt_references(view: RequestView, _: RuleContext) -> str | None:
    """``<<<element_N>>>``, ``<<<image_N>>>``, ``<<<video_1>>>`` point at supplied media."""
    body = view.body
    prompt = body.get("prompt")
    if not (isinstance(prompt, str) and "<<<" in prompt) and ("model_params" not in body or not view.multi_shot):
        return None
    available = {"element": view.elements, "image": view.images, "video": view.videos}
    for field, text in view.prompts():
        if "<<<" not in text:
            continue
        for match in _REFERENCE.finditer(text):
            kind, number = match.group(1), int(match.group(2))
            if not 1 <= number <= available[kind]:
                have = available[kind]
                return (f"{field} references {match.group(0)} but the request supplies "
                        f"{have} {kind}{'' if have == 1 else 's'}")
    return None


@rule("callback_url")
def callback_url(view: RequestView, ctx: RuleContext) -> str | None:
    """https only, no host that is internal (:func:`~mock_server.core.hosts.internal_host`), and a host
    httpx, which delivers callbacks, can read (a valid IDNA name: the last check, and the only one with
    ``EVOLINK_MOCK_ALLOW_LOCAL_CALLBACKS``).

    The schema's pattern already made it an absolute http(s) URL; its host is judged as written and
    as httpx reads it.
    """
    url = view.body.get("callback_url")
    if url is None:
        return None
    if not ctx.allow_local_callbacks:
        scheme = url.partition(":")[0].lower()
        if scheme != "https":
            return f"callback_url must use https (got {scheme}://); {ALLOW_LOCAL_HINT}"
        for host in url_hosts(url):
            reason = internal_host(host)
            if reason is not None:
                return f"callback_url must not point at an internal host ({host}): {reason}; {ALLOW_LOCAL_HINT}"
    unreadable = unreadable_host(url)
    if unreadable is not None:
        return f"callback_url has a host no HTTP client can send to: {unreadable}"
    return None


def broken(spec: ModelSpec, body: Mapping[str, Any], ctx: RuleContext) -> Iterator[tuple[str, str]]:
    """``(rule name, message)`` of every broken rule, in order (each rule runs if the body has a field it reads)."""
    selected = _selected(frozenset(body))
    if not selected:
        return
    view = RequestView(spec, body)
    for each in selected:
        message = each.check(view, ctx)
        if message:
            yield each.name, message


@functools.lru_cache(maxsize=1024)
def _selected(fields: frozenset[str]) -> tuple[Rule, ...]:
    """The rules that read any of ``fields``, in order (bodies have few distinct field sets: cached)."""
    return tuple(each for each in RULES if not each.reads.isdisjoint(fields))


def check(spec: ModelSpec, body: Mapping[str, Any], ctx: RuleContext) -> None:
    """Raise a 400 for the first broken rule, naming it (:func:`broken` without a generator: every create)."""
    selected = _selected(frozenset(body))
    if selected:
        view = RequestView(spec, body)
        for each in selected:
            message = each.check(view, ctx)
            if message:
                raise invalid_request(message, rule=each.name)
