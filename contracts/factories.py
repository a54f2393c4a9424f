"""Seeded factories (faker) of valid requests and of task and callback bodies.

    make = RequestFactory(seed=1)
    make.text_to_video()                              # a valid random body
    make.image_to_video(frames=2, quality="1080p")    # options pin what you care about
    make.for_model("kling-o3-reference-to-video", multi_shot=True, elements=2)
    for name, body in make.variants(): ...            # every model x every option
    make.task("failed", error_code="generation_timeout")
    make.callback("completed")

Ranges, enums and defaults come from openapi.yaml, limits from the model
catalog, so generated bodies follow the contract as it changes.
"""
from __future__ import annotations

import string
import time
from collections.abc import Iterator
from typing import Any

from faker import Faker

from mock_server.catalog import CATALOG
from mock_server.contract import api_contract
from mock_server.tasks import ERROR_MESSAGES

_ALPHABET = string.ascii_lowercase + string.digits


class RequestFactory:
    """Valid create bodies and task payloads; the same seed gives the same data."""

    def __init__(self, seed: int = 0) -> None:
        self.faker = Faker()
        self.faker.seed_instance(seed)
        self.contract = api_contract()

    # -- helpers -------------------------------------------------------------
    def _field(self, model: str, name: str) -> dict[str, Any]:
        return self.contract.models[model].schema.get("properties", {}).get(name, {})

    def _pick(self, model: str, name: str) -> Any:
        return self.faker.random_element(self._field(model, name)["enum"])

    def _duration(self, model: str) -> int:
        field = self._field(model, "duration")
        return self.faker.random_int(field["minimum"], field["maximum"])

    def _url(self, kind: str) -> str:
        suffix = {"image": self.faker.random_element(["jpg", "png"]), "video": "mp4"}[kind]
        return f"https://{self.faker.domain_name()}/{self.faker.uri_path()}.{suffix}"

    def _prompt(self) -> str:
        return self.faker.sentence(nb_words=10)

    def _shots(self, duration: int) -> list[dict[str, Any]]:
        count = self.faker.random_int(1, min(6, duration))
        cuts = sorted(self.faker.random_sample(range(1, duration), count - 1)) if count > 1 else []
        bounds = [0, *cuts, duration]
        return [{"index": i + 1, "prompt": self.faker.sentence(nb_words=6), "duration": str(b - a)}
                for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]

    def _common(self, model: str, body: dict[str, Any], *, elements: int, multi_shot: bool,
                callback_url: str | bool | None, overrides: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if elements:
            params["element_list"] = [{"element_id": str(self.faker.random_number(digits=6, fix_len=True))}
                                      for _ in range(elements)]
            body["prompt"] = f"<<<element_{elements}>>> " + body.get("prompt", self._prompt())
        if multi_shot:
            duration = body.setdefault("duration", self._duration(model))
            params.update(multi_shot=True, shot_type="customize", multi_prompt=self._shots(duration))
            body.pop("prompt", None)
        if params:
            body["model_params"] = params
        if callback_url:
            body["callback_url"] = (callback_url if isinstance(callback_url, str)
                                    else f"https://{self.faker.domain_name()}/hooks/evolink")
        body.update(overrides)
        return body

    # -- requests --------------------------------------------------------------
    def text_to_video(self, *, elements: int = 0, multi_shot: bool = False, callback_url: str | bool | None = None,
                      **overrides: Any) -> dict[str, Any]:
        """A text-to-video body with random duration, aspect ratio, quality and sound."""
        model = "kling-o3-text-to-video"
        body = {"model": model, "prompt": self._prompt(), "duration": self._duration(model),
                "aspect_ratio": self._pick(model, "aspect_ratio"), "quality": self._pick(model, "quality"),
                "sound": self.faker.random_element(["on", "off"])}
        return self._common(model, body, elements=elements, multi_shot=multi_shot,
                            callback_url=callback_url, overrides=overrides)

    def image_to_video(self, *, frames: int = 1, reference_images: int = 0, elements: int = 0,
                       multi_shot: bool = False, callback_url: str | bool | None = None,
                       **overrides: Any) -> dict[str, Any]:
        """An image-to-video body: ``frames`` (0-2) first/last frames plus ``reference_images``."""
        model = "kling-o3-image-to-video"
        if frames + reference_images == 0:
            raise ValueError("image-to-video needs at least one image")
        body: dict[str, Any] = {"model": model, "prompt": self._prompt(), "duration": self._duration(model),
                                "quality": self._pick(model, "quality")}
        if frames >= 1:
            body["image_start"] = self._url("image")
        if frames >= 2:
            body["image_end"] = self._url("image")
        if reference_images:
            body["image_urls"] = [self._url("image") for _ in range(reference_images)]
        return self._common(model, body, elements=elements, multi_shot=multi_shot,
                            callback_url=callback_url, overrides=overrides)

    def _video_input(self, model: str, *, reference_images: int, elements: int, multi_shot: bool,
                     callback_url: str | bool | None, overrides: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": model, "prompt": self._prompt(), "video_url": self._url("video"),
                                "quality": self._pick(model, "quality"),
                                "keep_original_sound": self.faker.boolean()}
        if "duration" in self.contract.models[model].schema["properties"]:
            body["duration"] = self._duration(model)
            body["aspect_ratio"] = self._pick(model, "aspect_ratio")
        if reference_images:
            body["image_urls"] = [self._url("image") for _ in range(reference_images)]
        return self._common(model, body, elements=elements, multi_shot=multi_shot,
                            callback_url=callback_url, overrides=overrides)

    def reference_to_video(self, *, reference_images: int = 0, elements: int = 0, multi_shot: bool = False,
                           callback_url: str | bool | None = None, **overrides: Any) -> dict[str, Any]:
        """A reference-to-video body (a reference video, optional images and elements)."""
        return self._video_input("kling-o3-reference-to-video", reference_images=reference_images, elements=elements,
                                 multi_shot=multi_shot, callback_url=callback_url, overrides=overrides)

    def video_edit(self, *, reference_images: int = 0, elements: int = 0, callback_url: str | bool | None = None,
                   **overrides: Any) -> dict[str, Any]:
        """A video-edit body (the output follows the input video)."""
        return self._video_input("kling-o3-video-edit", reference_images=reference_images, elements=elements,
                                 multi_shot=False, callback_url=callback_url, overrides=overrides)

    def for_model(self, model: str, **options: Any) -> dict[str, Any]:
        """A body for ``model`` by name, with the same options as the per-model methods."""
        makers = {"text": self.text_to_video, "image": self.image_to_video,
                  "reference": self.reference_to_video, "edit": self.video_edit}
        return makers[CATALOG[model].mode](**options)

    def variants(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(name, body)`` for every model with each option: minimal, elements, multi-shot, callback."""
        for model, spec in CATALOG.items():
            short = spec.mode
            yield f"{short}", self.for_model(model)
            yield f"{short}-elements", self.for_model(model, elements=min(2, spec.max_elements_with_start_frame or 2))
            yield f"{short}-callback", self.for_model(model, callback_url=True)
            if short != "edit":
                yield f"{short}-multi-shot", self.for_model(model, multi_shot=True)
            if short == "image":
                yield "image-first-last", self.image_to_video(frames=2)
                yield "image-references", self.image_to_video(frames=0, reference_images=3, elements=2)
            if short in ("reference", "edit"):
                yield f"{short}-images", self.for_model(model, reference_images=2, elements=2)

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
