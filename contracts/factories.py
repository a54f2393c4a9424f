"""Seeded factories (faker) of valid requests and of task and callback bodies.

    make = RequestFactory(seed=1)
    make.body("kling-o3-text-to-video")               # a valid random body for any model id
    make.body("kling-o3-image-to-video", frames=2, quality="1080p")  # options pin what you care about
    make.body("kling-o3-reference-to-video", multi_shot=True, elements=2)
    for name, body in make.variants(): ...            # every model x every option it takes
    make.task("failed", error_code="generation_timeout")
    make.callback("completed")

Fields, ranges, enums and defaults come from openapi.yaml; which options a
model takes (frames, reference images, a video, elements, multi-shot, sound)
and its limits come from the model registry, so generated bodies follow the
contract as it changes, for every model it serves.
"""
from __future__ import annotations

import itertools
import string
import time
from collections.abc import Iterator, Mapping
from typing import Any

from faker import Faker

from mock_server.contract import api_contract
from mock_server.core.tasks import ERROR_MESSAGES
from mock_server.families import Durations, ModelSpec, registry

_ALPHABET = string.ascii_lowercase + string.digits


_MEDIA_KINDS = (("video", "mp4"), ("audio", "mp3"))
_REPAIRS = 6


def _media_suffix(name: str) -> str:
    return next((suffix for kind, suffix in _MEDIA_KINDS if kind in name), "jpg")


class RequestFactory:
    """Valid create bodies and task payloads; the same seed gives the same data."""

    def __init__(self, seed: int = 0) -> None:
        self.faker = Faker()
        self.faker.seed_instance(seed)
        self.contract = api_contract()
        self.registry = registry()

    # -- helpers -------------------------------------------------------------
    def _properties(self, model: str) -> Mapping[str, Any]:
        properties: Mapping[str, Any] = self.contract.models[model].schema.get("properties", {})
        return properties

    def _pick(self, field: Mapping[str, Any]) -> Any:
        return self.faker.random_element([v for v in field["enum"] if isinstance(v, str)] or field["enum"])

    def _duration(self, field: Mapping[str, Any]) -> int:
        """A whole, positive number of seconds the field accepts (a range, a list, the ranges of an ``anyOf``)."""
        seconds = Durations.of(field).seconds
        return int(self.faker.random_element(seconds)) if seconds else int(field.get("default", 5))

    def _url(self, kind: str) -> str:
        suffix = self.faker.random_element(["jpg", "png"]) if kind == "jpg" else kind
        return f"https://{self.faker.domain_name()}/{self.faker.uri_path()}.{suffix}"

    def _prompt(self, field: Mapping[str, Any] | None = None) -> str:
        text = self.faker.sentence(nb_words=10)
        limit = (field or {}).get("maxLength")
        return text[:limit] if limit else text

    def _value(self, name: str, field: Any) -> Any:
        """A valid value for a field of this schema (media URLs for media fields)."""
        if not isinstance(field, Mapping):
            return None
        if "const" in field:
            return field["const"]
        if "enum" in field:
            return field.get("default", self._pick(field))
        kind = field.get("type")
        if kind == "array":
            count = max(1, field.get("minItems", 1))
            return [self._value(name, field.get("items", {})) for _ in range(count)]
        if kind == "object":
            props = field.get("properties", {})
            return {key: self._value(key, props.get(key, {})) for key in field.get("required", ())}
        if kind in ("integer", "number") or "anyOf" in field:
            if name == "duration":
                return self._duration(field)
            return field.get("default", field.get("minimum", 1))
        if kind == "boolean":
            return bool(field.get("default", False))
        if name.endswith(("url", "urls", "image_start", "image_end", "video", "frontal_image")):  # a media URL
            return self._url(_media_suffix(name))
        return self._prompt(field)

    def _shots(self, duration: int) -> list[dict[str, Any]]:
        count = self.faker.random_int(1, min(6, duration))
        cuts = sorted(self.faker.random_sample(range(1, duration), count - 1)) if count > 1 else []
        bounds = [0, *cuts, duration]
        return [{"index": i + 1, "prompt": self.faker.sentence(nb_words=6), "duration": str(b - a)}
                for i, (a, b) in enumerate(itertools.pairwise(bounds))]

    @staticmethod
    def _refuse(spec: ModelSpec, option: str, capability: str) -> None:
        if not spec.has(capability):
            raise ValueError(f"{spec.id} does not take {option} (no {capability} capability)")

    def _complete(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        """Add what the schema still requires: missing required fields, the first way of an ``anyOf``."""
        schema = self.contract.models[model]
        props = self._properties(model)
        for _ in range(_REPAIRS):
            violations = schema.violations(body)
            if not violations:
                break
            for violation in violations:
                if violation.rule == "required" and violation.field and "[" not in violation.field:
                    self._fill(body, props, violation.field.split("."))
                elif violation.rule == "anyOf" and not violation.field:
                    for part in (schema.schema, *schema.schema.get("allOf", ())):
                        for name in (part.get("anyOf") or [{}])[0].get("required", ()):
                            body.setdefault(name, self._value(name, props.get(name, {})))
        return body

    def _fill(self, body: dict[str, Any], props: Mapping[str, Any], path: list[str]) -> None:
        """Set the missing field at ``path`` (into nested objects) to a valid value."""
        node: Any = body
        for depth, name in enumerate(path):
            field = props.get(name) if isinstance(props, Mapping) else None
            if not isinstance(field, Mapping) or not isinstance(node, dict):
                return
            if depth == len(path) - 1:
                node.setdefault(name, self._value(name, field))
                return
            node = node.setdefault(name, {})
            props = field.get("properties", {})

    # -- requests --------------------------------------------------------------
    def body(self, model: str, *, frames: int | None = None, reference_images: int = 0, elements: int = 0,
             multi_shot: bool = False, callback_url: str | bool | None = None, **overrides: Any) -> dict[str, Any]:
        """A valid body for ``model`` (an id or an alias) with random values for its optional fields.

        Required fields are filled from the schema (media fields with URLs); ``frames`` (first and
        last frame: 0-2; default 1 where the model takes a first frame), ``reference_images``,
        ``elements``, ``multi_shot`` and ``callback_url`` (a URL, or True for a random https one)
        are asked of the model's capabilities: a model without them raises ValueError. Random
        choices that break one of the model's conditional rules are drawn again (and finally
        dropped for the defaults). ``overrides`` are set last, as given.
        """
        spec = self.registry.resolve(model)
        model = spec.id
        for attempt in range(_REPAIRS):
            body = self._draw(spec, model, frames, reference_images, elements, multi_shot, callback_url,
                              random_options=attempt < _REPAIRS - 1)
            if self.contract.models[model].violations(body) == []:
                break
        body.update(overrides)
        return body

    def _draw(self, spec: ModelSpec, model: str, frames: int | None, reference_images: int, elements: int,
              multi_shot: bool, callback_url: str | bool | None, *, random_options: bool) -> dict[str, Any]:
        props = self._properties(model)
        body: dict[str, Any] = {"model": model}
        if isinstance(props.get("prompt"), dict):
            body["prompt"] = self._prompt(props["prompt"])
        if spec.video_input:
            body["video_url"] = self._url("mp4")
        if isinstance(props.get("duration"), dict) and not spec.has("edit_billing") and random_options:
            body["duration"] = self._duration(props["duration"])
        if random_options:
            for name in ("aspect_ratio", "quality"):
                if isinstance(props.get(name), dict) and "enum" in props[name]:
                    body[name] = self._pick(props[name])
            if spec.has("audio_switch"):
                body["sound"] = self.faker.random_element(["on", "off"])
            for name in ("keep_original_sound", "generate_audio"):
                if isinstance(props.get(name), dict):
                    body[name] = self.faker.boolean()
        frames = (1 if spec.has("first_frame") else 0) if frames is None else frames
        if frames:
            self._refuse(spec, "frames", "first_frame")
            if frames >= 2:
                self._refuse(spec, "two frames", "last_frame")
            body["image_start"] = self._url("jpg")
            if frames >= 2:
                body["image_end"] = self._url("jpg")
        if reference_images:
            self._refuse(spec, "reference_images", "reference_images")
            body["image_urls"] = [self._url("jpg") for _ in range(reference_images)]
        if spec.has("first_frame") and spec.has("reference_images") and not frames and not reference_images:
            raise ValueError(f"{model} needs an image: frames or reference_images")
        params: dict[str, Any] = {}
        if elements:
            self._refuse(spec, "elements", "elements")
            params["element_list"] = [{"element_id": str(self.faker.random_number(digits=6, fix_len=True))}
                                      for _ in range(elements)]
            body["prompt"] = f"<<<element_{elements}>>> " + body.get("prompt", self._prompt())
        if multi_shot:
            self._refuse(spec, "multi_shot", "multi_shot")
            duration = body.setdefault("duration", self._duration(props["duration"]))
            params.update(multi_shot=True, shot_type="customize", multi_prompt=self._shots(duration))
            body.pop("prompt", None)
        if params:
            body["model_params"] = params
        if callback_url:
            body["callback_url"] = (callback_url if isinstance(callback_url, str)
                                    else f"https://{self.faker.domain_name()}/hooks/evolink")
        return self._complete(model, body)

    def text_to_video(self, **options: Any) -> dict[str, Any]:
        """A ``kling-o3-text-to-video`` body (see :meth:`body`)."""
        return self.body("kling-o3-text-to-video", **options)

    def image_to_video(self, **options: Any) -> dict[str, Any]:
        """A ``kling-o3-image-to-video`` body (see :meth:`body`)."""
        return self.body("kling-o3-image-to-video", **options)

    def reference_to_video(self, **options: Any) -> dict[str, Any]:
        """A ``kling-o3-reference-to-video`` body (see :meth:`body`)."""
        return self.body("kling-o3-reference-to-video", **options)

    def video_edit(self, **options: Any) -> dict[str, Any]:
        """A ``kling-o3-video-edit`` body (see :meth:`body`)."""
        return self.body("kling-o3-video-edit", **options)

    def variants(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(name, body)`` for every model (and alias) with each option it takes: minimal, elements, multi-shot..."""
        for model, spec in self.registry.items():
            limits = spec.limits
            yield model, self.body(model)
            yield f"{model}-callback", self.body(model, callback_url=True)
            for alias in spec.aliases:
                yield f"{alias}-alias", {**self.body(model), "model": alias}
            if spec.has("elements"):
                most = min(2, limits.get("elements_with_first_frame", 2), limits.get("elements", 2))
                yield f"{model}-elements", self.body(model, elements=most)
            if spec.has("multi_shot"):
                yield f"{model}-multi-shot", self.body(model, multi_shot=True)
            if spec.has("last_frame"):
                yield f"{model}-first-last", self.body(model, frames=2)
            if spec.has("reference_images"):
                elements = 2 if spec.has("elements") else 0
                images = max(1, min(3, limits.get("media", 3) - elements))
                yield f"{model}-references", self.body(model, frames=0 if spec.has("first_frame") else None,
                                                       reference_images=images, elements=elements)

    # -- responses ---------------------------------------------------------------
    def task_id(self, created: int | None = None) -> str:
        """An id in the API's shape."""
        suffix = "".join(self.faker.random_choices(_ALPHABET, length=8))
        return f"task-unified-{created or int(time.time()):010d}-{suffix}"

    def task(self, status: str = "completed", *, model: str = "kling-o3-text-to-video",
             error_code: str = "generation_failed_no_content", progress: int | None = None,
             result_url: str | None = None) -> dict[str, Any]:
        """A task-query body in ``status`` (pending, processing, completed, failed)."""
        created = int(time.time()) - self.faker.random_int(60, 600)
        task_id = self.task_id(created)
        defaults = {"pending": 0, "processing": self.faker.random_int(1, 99), "completed": 100, "failed": 0}
        body: dict[str, Any] = {"created": created, "id": task_id, "model": model, "object": "video.generation.task",
                                "progress": defaults[status] if progress is None else progress, "status": status,
                                "type": "video", "task_info": {"can_cancel": status in ("pending", "processing")}}
        if status == "completed":
            body["results"] = [result_url or f"https://files.{self.faker.domain_name()}/{task_id}.mp4"]
        if status == "failed":
            body["error"] = {"code": error_code, "message": ERROR_MESSAGES[error_code], "type": "task_error"}
        return body

    def callback(self, status: str = "completed", **options: Any) -> dict[str, Any]:
        """A callback body: the task-query body of a task that ended (completed, failed or cancelled)."""
        if status == "cancelled":
            return self.task("failed", error_code="request_cancelled", **options)
        if status not in ("completed", "failed"):
            raise ValueError("callbacks are sent for completed, failed or cancelled tasks")
        return self.task(status, **options)
