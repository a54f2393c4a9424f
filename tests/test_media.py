"""Tests for mock_server.media: synthetic MP4 rendering and probing."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import av
import pytest

from mock_server import media
from mock_server.media import probe_mp4, render_mp4

RATIOS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "4:3": 4 / 3, "3:4": 3 / 4, "21:9": 21 / 9}


@pytest.mark.parametrize("seconds", [3, 5, 15])
@pytest.mark.parametrize("aspect_ratio", sorted(RATIOS))
def test_duration_shape_and_container(aspect_ratio: str, seconds: int) -> None:
    data = render_mp4(aspect_ratio, seconds)
    info = probe_mp4(data)
    assert data[4:8] == b"ftyp"
    assert abs(info["duration"] - seconds) <= 0.1
    assert info["width"] % 2 == 0 and info["height"] % 2 == 0
    assert info["width"] / info["height"] == pytest.approx(RATIOS[aspect_ratio], rel=0.01)
    assert info["video_codec"] in {"h264", "mpeg4"}


def test_moov_atom_precedes_media_data() -> None:
    data = render_mp4("16:9", 5, sound=True)
    assert 0 < data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize("aspect_ratio", sorted(RATIOS))
def test_sound_adds_an_audio_track_of_the_same_length(aspect_ratio: str) -> None:
    with_sound = probe_mp4(render_mp4(aspect_ratio, 5, sound=True))
    silent = probe_mp4(render_mp4(aspect_ratio, 5, sound=False))
    assert with_sound["has_audio"] is True
    assert silent["has_audio"] is False
    assert abs(with_sound["duration"] - 5) <= 0.1
    with av.open(io.BytesIO(render_mp4(aspect_ratio, 5, sound=True))) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        assert abs(float(audio.duration * audio.time_base) - 5) <= 0.1


def test_picture_is_not_blank_and_changes_over_time() -> None:
    with av.open(io.BytesIO(render_mp4("1:1", 3))) as container:
        frames = [bytes(frame.planes[0]) for frame in container.decode(video=0)]
    assert len(frames) == 3 * media.FPS
    assert len(set(frames[0])) > 10
    assert frames[0] != frames[-1]


def test_same_arguments_return_the_cached_object() -> None:
    assert render_mp4("9:16", 3, sound=True) is render_mp4("9:16", 3, sound=True)
    assert render_mp4("9:16", 3) is not render_mp4("9:16", 3, sound=True)


def test_concurrent_calls_share_one_render() -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: render_mp4("1:1", 2), range(8)))
    assert all(result is results[0] for result in results)


def test_mpeg4_fallback_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "video_codec", lambda: "mpeg4")
    data = media._render.__wrapped__("16:9", 1, True)  # noqa: SLF001 - bypass the cache
    info = probe_mp4(data)
    assert info["video_codec"] == "mpeg4"
    assert info["has_audio"] and abs(info["duration"] - 1) <= 0.1


@pytest.mark.parametrize(
    ("aspect_ratio", "seconds"),
    [("auto", 5), ("", 5), ("4:0", 5), ("9:1", 5), ("16:9", 0), ("16:9", 301), ("16:9", -1), ("16:9", 5.5),
     ("16:9", True), ("16:9", "5")],
)
def test_bad_arguments_raise_value_error(aspect_ratio: str, seconds: object) -> None:
    with pytest.raises(ValueError):
        render_mp4(aspect_ratio, seconds)  # type: ignore[arg-type]
