"""The probe catalogue: one request each, built from the contract and the model registry.

A probe carries no expected status: the in-process emulator answers the same
request and that answer is the expectation. A probe may add expectations on
the error message (``names`` / ``not_names``). Bodies start from the
contract's own examples, trimmed to the cheapest settings (the shortest
duration, the default quality), so a probe a target unexpectedly accepts costs as little as
possible.

Some mock choices are leniencies (the emulator accepts ``sound: true`` or
``negative_prompt``), so probing them plainly would create a paid task. Those
probes add a *late certain error*: an ``http://`` callback URL, which the API
refuses after it has checked every field. The emulator then answers a 400
about the callback only; a target that refuses the probed field answers a
400 naming that field instead. Either way no task is created, as long as the
target refuses ``http://`` callbacks: such probes rely on the
``callback_http`` probe and are skipped if the target accepted it.
"""
from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mock_server.contract import api_contract
from mock_server.families import registry

from .exchange import API_KEY, Request

CREATE = "/v1/videos/generations"
CREDITS = "/v1/credits"
TASKS = "/v1/tasks/"
UNKNOWN_TASK_ID = "task-unified-1700000000-zz0drift"  # well formed, never issued
MALFORMED_TASK_ID = "not-a-task-id"
MALFORMED_KEY = "Bearer not-a-valid-key"
LATE_ERROR_GUARD = "callback_http"
LATE_ERROR = {"callback_url": "http://example.com/evolink-drift-hook"}
JSON_TYPE = "application/json"
#: The model each probe of a kind of request uses: the first, in contract order, with these capabilities.
_ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # role -> (capabilities needed, lacked)
    "t2v": (("audio_switch", "multi_shot", "elements"), ("first_frame", "reference_images", "reference_video")),
    "i2v": (("first_frame", "last_frame", "reference_images", "elements"), ()),
    "ref": (("reference_video", "reference_images", "multi_shot"), ("edit_billing",)),
    "edit": (("reference_video", "edit_billing"), ()),
}
_DROP = object()


@dataclass(frozen=True)
class Probe:
    """One request to send to the target and the emulator alike."""

    name: str
    description: str
    method: str = "POST"
    path: str = CREATE
    body: Any = None  # a JSON body (sent as application/json)
    raw: bytes | None = None  # a literal body instead of ``body``
    content_type: str | None = None  # overrides the JSON content type
    auth: str | None = f"Bearer {API_KEY}"  # the Authorization header; None sends none
    names: tuple[str, ...] = ()  # the error message must name each of these
    not_names: tuple[str, ...] = ()  # ... and none of these
    relies_on: str | None = None  # sent only if the target refused this probe (keeps it free)
    lifecycle: bool = False  # the paid flow: poll to the end, download, check the charge

    @property
    def keyed(self) -> bool:
        """Sent with the caller's key."""
        return self.auth is not None and API_KEY in self.auth

    def request(self) -> Request:
        """The request, with the key as the :data:`API_KEY` placeholder."""
        headers = {"Authorization": self.auth} if self.auth is not None else {}
        content = self.raw
        if content is None and self.body is not None:
            content = json.dumps(self.body).encode()
        if content is not None:
            headers["Content-Type"] = self.content_type or JSON_TYPE
        return Request(self.method, self.path, headers, content)


# -- bodies ---------------------------------------------------------------------------------------
@functools.cache
def _model(role: str) -> str:
    """A role's model id; a model id stands for itself."""
    if role not in _ROLES:
        return role
    needs, lacks = _ROLES[role]
    return next(spec.id for spec in registry().values()
                if all(spec.has(c) for c in needs) and not any(spec.has(c) for c in lacks))


def _properties(model: str) -> Mapping[str, Any]:
    properties: Mapping[str, Any] = api_contract().models[model].schema["properties"]
    return properties


@functools.cache
def _examples() -> dict[str, dict[str, Any]]:
    """The contract's first create example per model."""
    op = api_contract().spec["paths"][CREATE]["post"]
    found: dict[str, dict[str, Any]] = {}
    for example in op["requestBody"]["content"][JSON_TYPE]["examples"].values():
        found.setdefault(example["value"]["model"], example["value"])
    return found


def base(role: str, **changes: Any) -> dict[str, Any]:
    """A model's example body at its cheapest (shortest duration, default quality, no callback), then ``changes``.

    ``role`` is a model id, or ``t2v``, ``i2v``, ``ref``, ``edit``: the first model of that kind.
    A change to ``_DROP`` removes the field.
    """
    model = _model(role)
    body = {k: v for k, v in copy.deepcopy(_examples()[model]).items() if k not in ("callback_url", "quality")}
    shortest = registry()[model].durations.shortest
    if shortest is not None:
        body["duration"] = shortest
    body.update(changes)
    return {k: v for k, v in body.items() if v is not _DROP}


def _late_error(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, **LATE_ERROR}


def _elements(count: int) -> dict[str, Any]:
    return {"element_list": [{"element_id": str(100000 + i)} for i in range(count)]}


def _images(count: int) -> list[str]:
    return [f"https://example.com/drift-{i}.jpg" for i in range(1, count + 1)]


def _shots(*seconds: int) -> dict[str, Any]:
    return {"multi_shot": True, "shot_type": "customize",
            "multi_prompt": [{"index": i, "prompt": f"Shot {i}", "duration": str(s)}
                             for i, s in enumerate(seconds, 1)]}


# -- the catalogue --------------------------------------------------------------------------------
def _routes() -> Iterator[Probe]:
    """One keyed probe per route first (a key refused on all three stops the run), then route errors."""
    yield Probe("credits", "GET /v1/credits: the balance body's keys and number types.", "GET", CREDITS)
    yield Probe("task_unknown_id", "A well-formed task id that was never issued: 404 task_not_found.",
                "GET", TASKS + UNKNOWN_TASK_ID)
    yield Probe("unknown_model", "An unknown model is a 400 naming it (mock choice).",
                body=base("t2v", model="kling-o3-not-a-model"), names=("kling-o3-not-a-model",))
    yield Probe("task_malformed_id", "A task id not shaped task-unified-...: 400 invalid_task_id.",
                "GET", TASKS + MALFORMED_TASK_ID)
    routes = {"credits": ("GET", CREDITS, None), "task": ("GET", TASKS + UNKNOWN_TASK_ID, None),
              "create": ("POST", CREATE, base("t2v", model="kling-o3-not-a-model"))}
    for who, auth in (("no_key", None), ("malformed_key", MALFORMED_KEY)):
        for route, (method, path, body) in routes.items():
            what = "without an Authorization header" if auth is None else f"with '{MALFORMED_KEY}'"
            free = " (an invalid body, so it stays free if the key is not checked first)" if body else ""
            yield Probe(f"{who}_{route}", f"{method} {path} {what}: 401{free}.", method, path, body=body, auth=auth)


def _facts() -> Iterator[Probe]:
    """The cheap probes: requests the real API refuses before any charge, and the README's compatibility notes."""
    yield Probe("callback_http", "callback_url with http:// is refused (https only). Also the guard of "
                "the probes that add it as their late certain error.",
                body=base("t2v", **LATE_ERROR), names=("callback_url",))
    yield Probe("callback_localhost", "callback_url on https://localhost is refused (internal host).",
                body=base("t2v", callback_url="https://localhost/hook"), names=("callback_url",))
    yield Probe("callback_private_ip", "callback_url on a private IP literal is refused (no DNS lookup).",
                body=base("t2v", callback_url="https://10.0.0.1/hook"), names=("callback_url",))
    yield Probe("duration_string", 'duration "5" (a string) is a 400.', body=base("t2v", duration="5"),
                names=("duration",))
    yield Probe("edit_without_video", "Video edit without any video is a 400.",
                body=base("edit", video_url=_DROP), names=("video",))
    yield Probe("reference_without_video", "Reference-to-video without any video is a 400.",
                body=base("ref", video_url=_DROP, prompt="A snowy background"), names=("video",))
    yield Probe("image_end_without_start", "image_end with one image_urls and no image_start is a 400.",
                body=base("i2v", image_start=_DROP, image_urls=_images(1)), names=("image_end",))
    yield Probe("no_image_i2v", "Image-to-video without any image is a 400 (mock choice).",
                body=base("i2v", image_start=_DROP, image_end=_DROP), names=("image",))
    yield Probe("media_url_not_http", "A media URL that is not http(s) is a 400.",
                body=base("i2v", image_start="ftp://example.com/a.jpg", image_end=_DROP), names=("image_start",))
    yield Probe("null_is_not_absent", "duration: null is a wrong type, not an absent field (mock choice). "
                "With the late certain error: a target treating null as absent names the callback instead.",
                body=_late_error(base("t2v", duration=None)), names=("duration",), relies_on=LATE_ERROR_GUARD)
    lenient = (
        ("sound_boolean_t2v", "sound: true (a boolean) is accepted (mock choice)", base("t2v", sound=True),
         "sound"),
        ("negative_prompt_ignored", "negative_prompt (unknown to O3) is ignored, not refused",
         base("t2v", negative_prompt="blurry"), "negative_prompt"),
        ("duration_float_accepted", "duration 3.0 (a whole float) is accepted", base("t2v", duration=3.0),
         "duration"),
        ("element_id_integer", "an integer element_id is accepted (the docs say string)",
         base("t2v", model_params={"element_list": [{"element_id": 123456}]}), "element"),
        ("sound_ignored_with_video", 'sound "on" on reference-to-video is ignored (forced off)',
         base("ref", sound="on"), "sound"),
        ("duration_ignored_on_edit", "duration on video edit is ignored", base("edit", duration=5), "duration"),
        ("image_start_ignored_on_edit", "image_start on video edit is ignored",
         base("edit", image_start="https://example.com/a.jpg"), "image_start"),
        ("multi_shot_on_reference", "multi-shot on reference-to-video is accepted (mock choice)",
         base("ref", model_params=_shots(1, 2)), "multi"),
    )
    for name, what, body, field_name in lenient:
        yield Probe(name, f"{what}. The late certain error (http:// callback) keeps it free: the emulator "
                    f"names only the callback; a target refusing the field names {field_name}.",
                    body=_late_error(body), names=("callback_url",), not_names=(field_name,),
                    relies_on=LATE_ERROR_GUARD)


def _per_model() -> Iterator[Probe]:
    """Each model's own refusals, named ``<rule>_<model id>``: durations just outside what it accepts
    (ranges, fixed lists, special values), a value outside each of its enums, each field it refuses."""
    for model, spec in registry().items():
        durations = spec.durations
        for case, value in durations.outside():
            yield Probe(f"duration_{case}_{model}", f"duration {value} on {model} (accepted: {durations.describe()}).",
                        body=base(model, duration=value), names=("duration",))
        for field_name, sub in _properties(model).items():
            if sub is False:
                yield Probe(f"{field_name}_refused_{model}", f"{field_name} on {model}, whose docs refuse it.",
                            body=base(model, **{field_name: _refused_value(field_name)}), names=(field_name,))
            elif field_name not in ("model", "duration") and "enum" in sub:
                wrong = _not_in(field_name, sub["enum"])
                yield Probe(f"{field_name}_not_in_enum_{model}", f"{field_name} {wrong!r} on {model} "
                            f"(allowed: {', '.join(map(str, sub['enum']))}).",
                            body=base(model, **{field_name: wrong}), names=(field_name,))


def _refused_value(field_name: str) -> Any:
    """A plausible value for a field some model refuses (a URL list, a URL, an object or a string)."""
    if field_name.endswith("_urls"):
        return _images(1)
    if field_name.startswith(("image_", "video")):
        return "https://example.com/drift.jpg"
    return {} if field_name == "model_params" else "16:9"


def _schema_rules() -> Iterator[Probe]:
    """One probe per validation rule of the contract: ranges, enums, lengths, counts, references."""
    yield from _per_model()
    limit = api_contract().schemas["Prompt"]["maxLength"]
    yield Probe("prompt_too_long", f"A prompt of {limit + 1} characters (at most {limit}).",
                body=base("t2v", prompt="x" * (limit + 1)), names=("prompt",))
    yield Probe("prompt_empty_t2v", 'prompt "" without multi-shot is a 400.', body=base("t2v", prompt=""),
                names=("prompt",))
    yield Probe("prompt_missing_t2v", "No prompt without multi-shot is a 400.", body=base("t2v", prompt=_DROP),
                names=("prompt",))
    yield Probe("prompt_empty_edit", 'Video edit with prompt "" is a 400.', body=base("edit", prompt=""),
                names=("prompt",))
    yield Probe("model_missing", "A body without model is a 400.", body={"prompt": "A lighthouse"},
                names=("model",))
    yield from _multi_shot()
    yield from _media_counts()
    yield Probe("prompt_reference_image_t2v", "<<<image_1>>> on text-to-video, which has no image: a 400 "
                "naming it (mock choice).", body=base("t2v", prompt="The scene of <<<image_1>>>"),
                names=("<<<image_1>>>",))
    yield Probe("prompt_reference_element_beyond", "<<<element_2>>> with one element: a 400 naming it.",
                body=base("t2v", prompt="<<<element_2>>> walks", model_params=_elements(1)),
                names=("<<<element_2>>>",))
    yield Probe("content_type_not_json", "A JSON body sent as text/plain is a 400.",
                body=base("t2v"), content_type="text/plain")
    yield Probe("invalid_json", "A body that is not JSON is a 400.", raw=b'{"model": "kling-o3-text-to-video",')
    yield Probe("body_not_object", "A JSON array instead of an object is a 400.", body=[base("t2v")])


def _multi_shot() -> Iterator[Probe]:
    shots = api_contract().schemas["ShotModelParams"]["properties"]["multi_prompt"]
    shot_prompt = api_contract().schemas["Shot"]["properties"]["prompt"]["maxLength"]
    low = registry()[_model("t2v")].durations.shortest or 1
    yield Probe("multi_shot_sum_mismatch", f"Shots of 1 s + 1 s for a {low} s video: the durations must add up.",
                body=base("t2v", model_params=_shots(1, 1)), names=("multi_prompt",))
    params = _shots(1, low - 1)
    del params["shot_type"]
    yield Probe("multi_shot_without_shot_type", "multi_shot true without shot_type is a 400.",
                body=base("t2v", model_params=params), names=("shot_type",))
    yield Probe("multi_shot_too_many_shots", f"{shots['maxItems'] + 1} shots (at most {shots['maxItems']}).",
                body=base("t2v", model_params=_shots(*[1] * (shots["maxItems"] + 1))), names=("multi_prompt",))
    yield Probe("shot_duration_zero", 'A shot of duration "0" (at least "1").',
                body=base("t2v", model_params=_shots(0, low)), names=("duration",))
    params = _shots(1, low - 1)
    params["multi_prompt"][0]["prompt"] = "x" * (shot_prompt + 1)
    yield Probe("shot_prompt_too_long", f"A shot prompt of {shot_prompt + 1} characters (at most {shot_prompt}).",
                body=base("t2v", model_params=params), names=("prompt",))


def _media_counts() -> Iterator[Probe]:
    """Element and image limits from the model catalog."""
    t2v, i2v, ref = (registry()[_model(role)].limits for role in ("t2v", "i2v", "ref"))
    yield Probe("elements_over_max_t2v", f"{t2v['elements'] + 1} elements on text-to-video "
                f"(at most {t2v['elements']}).", body=base("t2v", model_params=_elements(t2v["elements"] + 1)),
                names=("element",))
    start_limit = i2v["elements_with_first_frame"]
    yield Probe("elements_with_start_frame_i2v", f"image_start with {start_limit + 1} elements "
                f"(at most {start_limit}).", body=base("i2v", image_end=_DROP,
                                                       model_params=_elements(start_limit + 1)),
                names=("element",))
    urls = i2v["media"] - start_limit
    yield Probe("images_plus_elements_i2v", f"{urls} image_urls + {start_limit + 1} elements on "
                f"image-to-video (at most {i2v['media']} together).",
                body=base("i2v", image_start=_DROP, image_end=_DROP, image_urls=_images(urls),
                          model_params=_elements(start_limit + 1)), names=("element",))
    frames = i2v["images_with_last_frame"]
    yield Probe("image_end_with_too_many_images", f"image_start + image_end + image_urls = {frames + 1} "
                f"images (image_end allows at most {frames}).", body=base("i2v", image_urls=_images(frames - 1)),
                names=("image_end",))
    half = ref["media"] // 2 + 1
    yield Probe("images_plus_elements_ref", f"{half} image_urls + {ref['media'] + 1 - half} elements on "
                f"reference-to-video (at most {ref['media']} together).",
                body=base("ref", image_urls=_images(half), model_params=_elements(ref["media"] + 1 - half)),
                names=("element",))
    most = api_contract().schemas["VideoImageUrls"]["maxItems"]
    yield Probe("image_urls_over_max_ref", f"{most + 1} image_urls on reference-to-video (at most {most}).",
                body=base("ref", image_urls=_images(most + 1)), names=("image_urls",))


def _not_in(field_name: str, allowed: list[Any]) -> Any:
    """A value another model allows for this field but this one does not, else a made-up one."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in allowed):
        return max(allowed) + 1
    for model in registry():
        sub = _properties(model).get(field_name)
        for value in sub.get("enum", ()) if isinstance(sub, dict) else ():
            if isinstance(value, str) and value not in allowed:
                return value
    return "unsupported"


def _paid() -> Iterator[Probe]:
    model = _model("t2v")
    duration = registry()[model].durations.shortest
    quality = _properties(model)["quality"]["default"]
    yield Probe(f"text_to_video_{duration}s_{quality}", f"A real {duration} s {quality} text-to-video: create, "
                "poll to completed, download the MP4, check the charge on /v1/credits.",
                body=base("t2v", quality=quality), lifecycle=True)


@functools.cache
def catalogue() -> tuple[Probe, ...]:
    """Every probe, in sending order (stable: recordings are named after it)."""
    probes = (*_routes(), *_facts(), *_schema_rules(), *_paid())
    names = [p.name for p in probes]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"duplicate probe names: {', '.join(sorted(duplicates))}")
    return probes
