"""The model catalog: what the contract cannot say about each model.

Data, not branches: a model's mode, prices, media limits and timing live in
one entry. Field shapes, ranges and defaults are the contract's (openapi.yaml);
adding a model is adding its schema there and an entry here.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Mapping

D = Decimal

#: Credits per output second, by (quality, sound on). api-facts §5.
#: 4k is unpublished: assumed to be the 1080p price of the same sound x1.334.
_TEXT_IMAGE_PRICES = {
    ("720p", False): D("5.4"), ("720p", True): D("7.2036"),
    ("1080p", False): D("7.2036"), ("1080p", True): D("9.0018"),
    ("4k", False): D("9.6096"), ("4k", True): D("12.0084"),
}
_VIDEO_INPUT_PRICES = {("720p", False): D("8.1"), ("1080p", False): D("10.8054")}
QUEUE_SECONDS = (3.0, 12.0)  # how long a task waits in the queue (uniform)
MEAN_QUEUE = sum(QUEUE_SECONDS) / 2
#: Higher resolutions take longer to render.
_QUALITY_TIME_FACTOR = {"720p": 1.0, "1080p": 1.25, "4k": 1.6}


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """What the emulator knows of one model beyond its request schema (one instance per model)."""

    name: str
    mode: str  # "text", "image", "reference" or "edit"
    prices: Mapping[tuple[str, bool], Decimal]
    video_input: bool  # takes a video; sound is then forced off
    max_media: int  # images + elements together
    max_elements: int
    max_elements_with_start_frame: int | None = None
    max_frames_with_end: int | None = None  # image_end refused beyond this many images
    min_billed_seconds: int = 3
    max_billed_seconds: int | None = None  # edit: the input length is clamped to this
    processing_base: int = 180  # nominal processing seconds ...
    processing_per_second: int = 12  # ... plus this per output second

    def price_per_second(self, quality: str, sound: bool) -> Decimal:
        """Credits per output second for this quality and sound setting."""
        return self.prices[(quality, sound and not self.video_input)]

    @functools.lru_cache(maxsize=256)  # noqa: B019 - specs are module-level singletons
    def timing(self, seconds: int, quality: str) -> tuple[float, int]:
        """``(nominal processing seconds, estimated_time)``: processing before jitter, plus the average queue."""
        nominal = (self.processing_base + self.processing_per_second * seconds) * _QUALITY_TIME_FACTOR[quality]
        return nominal, round(MEAN_QUEUE + nominal)


CATALOG: Mapping[str, ModelSpec] = MappingProxyType({
    spec.name: spec for spec in (
        ModelSpec("kling-o3-text-to-video", "text", _TEXT_IMAGE_PRICES, video_input=False,
                  max_media=7, max_elements=7),
        ModelSpec("kling-o3-image-to-video", "image", _TEXT_IMAGE_PRICES, video_input=False,
                  max_media=7, max_elements=7, max_elements_with_start_frame=3, max_frames_with_end=2),
        ModelSpec("kling-o3-reference-to-video", "reference", _VIDEO_INPUT_PRICES, video_input=True,
                  max_media=4, max_elements=4, processing_base=200),
        ModelSpec("kling-o3-video-edit", "edit", _VIDEO_INPUT_PRICES, video_input=True,
                  max_media=4, max_elements=4, max_billed_seconds=10, processing_base=200),
    )
})
