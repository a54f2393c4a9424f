"""Synthetic video rendering for completed tasks.

The emulator serves each finished task's result as a real, playable MP4 (or MOV, where
the request's ``output_format`` asks for it) whose resolution follows the task's aspect
ratio (any ``W:H``) and whose container duration equals the requested length. Nothing
is rendered at start-up: each (shape, length, sound, container) is rendered when first
downloaded and cached.  Frames are built from plain bytes, so no numpy
is needed; results are cached per process because the output is deterministic.
"""

from __future__ import annotations

import atexit
import functools
import io
import math
import os
import shutil
import tempfile
import threading
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av

LONG_SIDE = 320  # pixels of the longer side: small files, quick renders
SQUARE_SIDE = 240
MAX_RATIO = 4.0  # W:H between 1:4 and 4:1
MIN_SECONDS, MAX_SECONDS = 1, 300
CONTENT_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime"}  # container -> Content-Type
FPS = 8
SAMPLE_RATE = 22050
TONE_PERIOD = 50  # samples per sine cycle: 22050 / 50 = 441 Hz
AUDIO_FRAME_SAMPLES = 1024
AUDIO_BIT_RATE = 32_000

_LOCK = threading.Lock()


@functools.cache
def video_codec() -> str:
    """Return ``"libx264"`` if this FFmpeg build can encode it, else ``"mpeg4"``."""
    try:
        av.codec.Codec("libx264", "w")
    except av.codec.codec.UnknownCodecError:
        return "mpeg4"
    return "libx264"


def is_aspect_ratio(text: str) -> bool:
    """Whether ``text`` is a ``W:H`` ratio of positive integers within 1:4 to 4:1."""
    try:
        resolution(text)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def resolution(aspect_ratio: str) -> tuple[int, int]:
    """Even ``(width, height)`` for a ``W:H`` ratio, the long side 320 px (a square 240 px); ValueError otherwise."""
    width_text, sep, height_text = aspect_ratio.partition(":")
    if not (sep and width_text.isdigit() and height_text.isdigit()):
        raise ValueError(f"aspect_ratio must be W:H with whole numbers (got {aspect_ratio!r})")
    width, height = int(width_text), int(height_text)
    if not (width and height and 1 / MAX_RATIO <= width / height <= MAX_RATIO):
        raise ValueError(f"aspect_ratio must be between 1:4 and 4:1 (got {aspect_ratio!r})")
    if width == height:
        return SQUARE_SIDE, SQUARE_SIDE
    scale = LONG_SIDE / max(width, height)
    return (2 * round(width * scale / 2), 2 * round(height * scale / 2))


def _plane(line_size: int, height: int, row: bytes) -> bytes:
    """One image plane: ``row`` padded to ``line_size`` and repeated ``height`` times."""
    return (row + bytes(line_size - len(row))) * height


def _video_frame(width: int, height: int, index: int) -> av.VideoFrame:
    """A yuv420p frame: a luma ramp scrolling sideways, tinted with a hue that changes each second."""
    frame = av.VideoFrame(width, height, "yuv420p")
    y_plane, u_plane, v_plane = frame.planes
    shift = index * 8
    luma = bytes(16 + (x + shift) % 220 for x in range(width))
    angle = 2 * math.pi * (index // FPS) / 6
    u = int(128 + 100 * math.cos(angle))
    v = int(128 + 100 * math.sin(angle))
    y_plane.update(_plane(y_plane.line_size, y_plane.height, luma))
    u_plane.update(_plane(u_plane.line_size, u_plane.height, bytes([u]) * u_plane.width))
    v_plane.update(_plane(v_plane.line_size, v_plane.height, bytes([v]) * v_plane.width))
    frame.pts = index
    return frame


def _audio_frames(seconds: int) -> Iterator[av.AudioFrame]:
    """Yield mono float-planar frames of a quiet 441 Hz sine tone lasting ``seconds``."""
    period = array("f", (0.1 * math.sin(2 * math.pi * i / TONE_PERIOD) for i in range(TONE_PERIOD)))
    total = seconds * SAMPLE_RATE
    for start in range(0, total, AUDIO_FRAME_SAMPLES):
        count = min(AUDIO_FRAME_SAMPLES, total - start)
        samples = (period * (count // TONE_PERIOD + 2))[start % TONE_PERIOD :][:count]
        frame = av.AudioFrame(format="fltp", layout="mono", samples=count)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = start
        yield frame


@functools.lru_cache(maxsize=128)
def _render(aspect_ratio: str, seconds: int, sound: bool, container_format: str = "mp4") -> bytes:
    # The mp4 muxer's faststart pass reopens its output by path, so it cannot
    # target a BytesIO: encode into a temporary file and read it back.
    width, height = resolution(aspect_ratio)
    with tempfile.TemporaryDirectory(prefix="mock-media-") as tmp:
        path = os.path.join(tmp, f"out.{container_format}")
        with av.open(path, "w", format=container_format, options={"movflags": "faststart"}) as container:
            codec = video_codec()
            options = {"preset": "ultrafast", "tune": "stillimage"} if codec == "libx264" else {}
            video = container.add_stream(codec, rate=FPS, options=options)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            if sound:
                audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
                audio.bit_rate = AUDIO_BIT_RATE
            for index in range(seconds * FPS):
                container.mux(video.encode(_video_frame(width, height, index)))
            container.mux(video.encode())
            if sound:
                for frame in _audio_frames(seconds):
                    container.mux(audio.encode(frame))
                container.mux(audio.encode())
        with open(path, "rb") as fh:
            return fh.read()


def render_video(aspect_ratio: str, seconds: int, sound: bool = False, container_format: str = "mp4") -> bytes:
    """Render (or fetch from cache) a video of ``seconds`` seconds in ``aspect_ratio``.

    ``container_format`` is ``mp4`` or ``mov`` (QuickTime). Raises ``ValueError`` for an aspect
    ratio that is not ``W:H`` (1:4 to 4:1), a duration that is not an integer in ``1..300`` or
    another container. With ``sound`` an AAC mono tone track is added.
    """
    resolution(aspect_ratio)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be an integer in {MIN_SECONDS}..{MAX_SECONDS}, got {seconds!r}")
    if container_format not in CONTENT_TYPES:
        raise ValueError(f"container_format must be one of {sorted(CONTENT_TYPES)}, got {container_format!r}")
    with _LOCK:
        return _render(aspect_ratio, seconds, bool(sound), container_format)


def render_mp4(aspect_ratio: str, seconds: int, sound: bool = False) -> bytes:
    """:func:`render_video` in an MP4 container."""
    return render_video(aspect_ratio, seconds, sound)


@functools.cache
def _cache_dir() -> Path:
    """This process's folder of rendered results, removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="evolink-mock-results-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def result_file(aspect_ratio: str, seconds: int, sound: bool = False, container_format: str = "mp4"
                ) -> tuple[Path, os.stat_result]:
    """The video of :func:`render_video` as a file (written once per process) and its ``os.stat`` result.

    Served as a file, a result answers byte ranges, HEAD and conditional requests like the object
    store behind real result links. A file removed behind the emulator's back is written again.
    Raises ``ValueError`` as :func:`render_video` does.
    """
    resolution(aspect_ratio)  # a W:H of digits: safe in a file name
    if container_format not in CONTENT_TYPES:
        raise ValueError(f"container_format must be one of {sorted(CONTENT_TYPES)}, got {container_format!r}")
    name = f"{aspect_ratio.replace(':', 'x')}-{seconds}s-{'sound' if sound else 'silent'}.{container_format}"
    path = _cache_dir() / name
    try:
        return path, os.stat(path)
    except FileNotFoundError:
        data = render_video(aspect_ratio, seconds, sound, container_format)
        partial = path.with_suffix(f".{threading.get_ident()}.part")
        partial.write_bytes(data)
        os.replace(partial, path)  # atomic: a reader never sees half a file
        return path, os.stat(path)


def probe_mp4(data: bytes) -> dict[str, Any]:
    """Read back an MP4's (or MOV's) duration (s), video size and codec, container and whether it has audio."""
    with av.open(io.BytesIO(data), "r") as container:
        video = container.streams.video[0]
        return {
            "format": container.format.name,
            "duration": container.duration / av.time_base,
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "has_audio": bool(container.streams.audio),
            "video_codec": video.codec_context.name,
        }
