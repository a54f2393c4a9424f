"""The request rules JSON Schema cannot express (api-facts §2 and §6).

Each rule reads a body that already passed its model's schema and returns a
message when it is broken. A broken rule is a 400 ``invalid_request`` whose
``rule`` names the function, so contract tests can tell these from schema
failures. Limits come from the model catalog; nothing here repeats a schema.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .catalog import ModelSpec
from .errors import invalid_request

ALLOW_LOCAL_HINT = "set EVOLINK_MOCK_ALLOW_LOCAL_CALLBACKS=1 to allow them in the emulator"
_REFERENCE = re.compile(r"<<<(element|image|video)_(\d+)>>>")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


@dataclass(slots=True)
class RequestView:
    """The counts and values the rules look at, read once from a valid body."""

    spec: ModelSpec
    body: Mapping[str, Any]
    frames: int  # image_start + image_end
    image_urls: int
    elements: int
    videos: int
    multi_shot: bool

    @classmethod
    def of(cls, spec: ModelSpec, body: Mapping[str, Any]) -> "RequestView":
        params = body.get("model_params") or {}
        frames = (("image_start" in body) + ("image_end" in body)) if spec.mode == "image" else 0
        videos = 1 if spec.video_input and any(k in body for k in ("video_url", "video_urls", "video")) else 0
        return cls(spec, body, frames, len(body.get("image_urls") or ()) if spec.mode != "text" else 0,
                   len(params.get("element_list") or ()), videos, params.get("multi_shot") is True)

    @property
    def images(self) -> int:
        return self.frames + self.image_urls

    def prompts(self) -> list[tuple[str, str]]:
        """(field, text) of every prompt the model will read."""
        out = [("prompt", self.body["prompt"])] if isinstance(self.body.get("prompt"), str) else []
        if self.multi_shot:
            shots = self.body["model_params"].get("multi_prompt") or ()
            out += [(f"model_params.multi_prompt[{i}].prompt", s["prompt"]) for i, s in enumerate(shots)]
        return out


def media_count(view: RequestView, _: "RuleContext") -> str | None:
    """Images + elements within the model's limit; elements alone too."""
    spec = view.spec
    if view.elements > spec.max_elements:
        return (f"model_params.element_list has {view.elements} elements; "
                f"{spec.name} allows at most {spec.max_elements}")
    if view.images + view.elements > spec.max_media:
        return (f"images + elements must be at most {spec.max_media} for {spec.name} "
                f"(got {view.images} images and {view.elements} elements)")
    return None


def image_end_needs_two_images_at_most(view: RequestView, _: "RuleContext") -> str | None:
    """``image_end`` is refused when the request carries more images than the limit."""
    limit = view.spec.max_frames_with_end
    if limit is not None and "image_end" in view.body and view.images > limit:
        return (f"image_end is not supported when image_start + image_end + image_urls exceed {limit} "
                f"images (got {view.images})")
    return None


def elements_with_start_frame(view: RequestView, _: "RuleContext") -> str | None:
    """With a first frame, fewer elements are allowed."""
    limit = view.spec.max_elements_with_start_frame
    if limit is not None and "image_start" in view.body and view.elements > limit:
        return f"with image_start at most {limit} elements are allowed (got {view.elements})"
    return None


def multi_shot_durations(view: RequestView, ctx: "RuleContext") -> str | None:
    """The shots' durations add up to the video's duration."""
    if not view.multi_shot:
        return None
    shots = view.body["model_params"].get("multi_prompt") or ()
    total = sum(int(shot["duration"]) for shot in shots)
    duration = int(view.body.get("duration", ctx.default_duration or 0))
    if total != duration:
        return (f"model_params.multi_prompt durations add up to {total} s but duration is {duration} s; "
                "they must be equal")
    return None


def prompt_references(view: RequestView, _: "RuleContext") -> str | None:
    """``<<<element_N>>>``, ``<<<image_N>>>``, ``<<<video_1>>>`` point at supplied media."""
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


def callback_url(view: RequestView, ctx: "RuleContext") -> str | None:
    """https only, and no loopback, private, link-local or ``localhost`` host."""
    url = view.body.get("callback_url")
    if url is None or ctx.allow_local_callbacks:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "callback_url is not a valid URL"
    if parts.scheme.lower() != "https":
        return f"callback_url must use https (got {parts.scheme}://); {ALLOW_LOCAL_HINT}"
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return "callback_url has no host"
    if internal_host(host):
        return f"callback_url must not point at an internal host ({host}); {ALLOW_LOCAL_HINT}"
    return None


def internal_host(host: str) -> bool:
    """True for localhost names and non-global IP literals. No DNS is resolved."""
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:  # the resolver's legacy IPv4 spellings: 127.1, 0x7f000001, 0177.0.0.1, 2130706433
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return False
    mapped = getattr(address, "ipv4_mapped", None)
    return not (mapped or address).is_global


@dataclass(frozen=True)
class RuleContext:
    """Settings and contract facts the rules need."""

    allow_local_callbacks: bool = False
    default_duration: int | None = None


Rule = Callable[[RequestView, RuleContext], "str | None"]
RULES: tuple[Rule, ...] = (media_count, image_end_needs_two_images_at_most, elements_with_start_frame,
                          multi_shot_durations, prompt_references, callback_url)


def broken(spec: ModelSpec, body: Mapping[str, Any], ctx: RuleContext) -> Iterator[tuple[str, str]]:
    """``(rule name, message)`` of every broken rule, in order."""
    view = RequestView.of(spec, body)
    for rule in RULES:
        message = rule(view, ctx)
        if message:
            yield rule.__name__, message


#: The fields the rules read (besides prompt references, which need "<<<" in the prompt): a body
#: with none of them cannot break a rule, and the common simple request skips them all.
_RULE_INPUTS = frozenset({"model_params", "image_start", "image_end", "image_urls", "callback_url"})


def check(spec: ModelSpec, body: Mapping[str, Any], ctx: RuleContext) -> None:
    """Raise a 400 for the first broken rule, naming it."""
    prompt = body.get("prompt")
    if _RULE_INPUTS.isdisjoint(body) and not (isinstance(prompt, str) and "<<<" in prompt):
        return
    for name, message in broken(spec, body, ctx):
        raise invalid_request(message, rule=name)
