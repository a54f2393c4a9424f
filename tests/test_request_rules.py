"""Every request rule (https://docs.evolink.ai/en/api-manual/video-series/kling/kling-o3-image-to-video and the
other model pages): the valid form passes, the invalid one is a 400
in the API's error shape whose message names the field and the rule."""
from __future__ import annotations

from typing import Any

import pytest
from conftest import EDIT, I2V, REF, T2V, Api, assert_error

IMG = "https://example.com/a.jpg"
VID = "https://example.com/v.mp4"


def t2v(**kw: Any) -> dict[str, Any]:
    return {"model": T2V, "prompt": "a lighthouse at dusk", **kw}


def i2v(**kw: Any) -> dict[str, Any]:
    return {"model": I2V, "prompt": "turn the head", "image_start": IMG, **kw}


def ref(**kw: Any) -> dict[str, Any]:
    return {"model": REF, "prompt": "same motion", "video_url": VID, **kw}


def edit(**kw: Any) -> dict[str, Any]:
    return {"model": EDIT, "prompt": "make it snow", "video_url": VID, **kw}


def elements(n: int, as_int: bool = False) -> dict[str, Any]:
    return {"element_list": [{"element_id": i if as_int else str(i)} for i in range(1, n + 1)]}


def shots(*durations: str) -> dict[str, Any]:
    return {"multi_shot": True, "shot_type": "customize",
            "multi_prompt": [{"index": i, "prompt": f"shot {i}", "duration": d} for i, d in enumerate(durations, 1)]}


VALID = {
    "t2v defaults": t2v(),
    "t2v every option": t2v(duration=15, aspect_ratio="9:16", quality="4k", sound="on",
                            model_params={"watermark_info": {"enabled": True}}),
    "t2v duration 3": t2v(duration=3),
    "t2v duration 5.0 is an integer": t2v(duration=5.0),
    "t2v aspect 1:1": t2v(aspect_ratio="1:1"),
    "t2v quality 1080p": t2v(quality="1080p"),
    "t2v sound off": t2v(sound="off"),
    "t2v sound true": t2v(sound=True),
    "t2v sound false": t2v(sound=False),
    "t2v prompt 2500 chars": t2v(prompt="x" * 2500),
    "t2v 7 elements": t2v(prompt="<<<element_7>>> walks", model_params=elements(7)),
    "t2v integer element ids": t2v(model_params=elements(2, as_int=True)),
    "t2v multi-shot without prompt": {"model": T2V, "duration": 8, "model_params": shots("3", "5")},
    "t2v multi-shot with empty prompt": {"model": T2V, "prompt": "", "model_params": shots("5")},
    "t2v six shots": {"model": T2V, "duration": 6, "model_params": shots(*"111111")},
    "t2v shot prompt 512": {"model": T2V, "model_params": {**shots("5"), "multi_prompt": [
        {"index": 1, "prompt": "p" * 512, "duration": "5"}]}},
    "t2v shot fields ignored when multi_shot false": t2v(model_params={"multi_shot": False, "shot_type": "customize"}),
    "t2v https callback": t2v(callback_url="https://hooks.example.com/evolink"),
    "t2v callback 2048 chars": t2v(callback_url="https://hooks.example.com/" + "a" * (2048 - 26)),
    "i2v first frame": i2v(),
    "i2v first and last frame": i2v(image_end=IMG),
    "i2v image_urls only": {"model": I2V, "prompt": "p", "image_urls": [IMG]},
    "i2v start + 3 elements": i2v(model_params=elements(3)),
    "i2v 4 images + 3 elements = 7": {"model": I2V, "prompt": "p", "image_urls": [IMG] * 4,
                                      "model_params": elements(3)},
    "i2v 4k": i2v(quality="4k", aspect_ratio="9:16"),
    "i2v image references count frames first": i2v(image_urls=[IMG], prompt="<<<image_1>>> to <<<image_2>>>"),
    "i2v multi-shot": {"model": I2V, "image_start": IMG, "duration": 10, "model_params": shots("5", "5")},
    "ref basic": ref(),
    "ref duration 10": ref(duration=10, quality="1080p", aspect_ratio="9:16"),
    "ref video_urls": {"model": REF, "prompt": "p", "video_urls": [VID, VID]},
    "ref video": {"model": REF, "prompt": "p", "video": VID},
    "ref images + elements = 4": ref(image_urls=[IMG, IMG], model_params=elements(2)),
    "ref keep_original_sound": ref(keep_original_sound=False),
    "ref video reference": ref(prompt="like <<<video_1>>>"),
    "ref multi-shot (mock choice)": {"model": REF, "video_url": VID, "duration": 10, "model_params": shots("4", "6")},
    "ref video alone (the prompt is optional)": {"model": REF, "video_url": VID},
    "edit video alone (the prompt is optional)": {"model": EDIT, "video_url": VID},
    "edit basic": edit(),
    "edit 1080p": edit(quality="1080p", keep_original_sound=True),
    "edit images + elements = 4": edit(image_urls=[IMG], model_params=elements(3)),
    "edit webp image": edit(image_urls=["https://cdn.example.com/x.webp"]),
}


@pytest.mark.parametrize("body", VALID.values(), ids=VALID.keys())
def test_valid_requests_are_accepted(api: Api, body: dict[str, Any]) -> None:
    created = api.created(body)
    assert created["status"] == "pending" and created["id"].startswith("task-unified-")


INVALID = {
    # model and body
    "missing model": ({"prompt": "p"}, "model ids GET /_mock/models lists, e.g. "),
    "unknown model": ({"model": "kling-o9", "prompt": "p"}, 'model "kling-o9" is not supported'),
    "model not a string": ({"model": 3, "prompt": "p"}, "model must be a string"),
    "body is a list": ([t2v()], "must be a JSON object"),
    # prompt
    "empty prompt": (t2v(prompt=""), "prompt must not be empty"),
    "missing prompt": ({"model": T2V}, "prompt is required unless model_params.multi_shot is true"),
    "prompt 2501 chars": (t2v(prompt="x" * 2501), "prompt must be at most 2500 characters"),
    "prompt null": (t2v(prompt=None), "prompt must be a string (got null)"),
    "edit empty prompt": (edit(prompt=""), "prompt must not be empty"),
    "ref empty prompt": (ref(prompt=""), "prompt must not be empty"),
    # duration
    "duration as string": (t2v(duration="5"), "duration must be an integer"),
    "duration 2": (t2v(duration=2), "duration must be between 3 and 15 for kling-o3-text-to-video"),
    "duration 16": (t2v(duration=16), "duration must be between 3 and 15"),
    "duration 5.5": (t2v(duration=5.5), "duration must be an integer"),
    "duration null": (t2v(duration=None), "duration must be an integer (got null)"),
    "ref duration 11": (ref(duration=11), "duration must be between 3 and 10 for kling-o3-reference-to-video"),
    "i2v duration 16": (i2v(duration=16), "duration must be between 3 and 15 for kling-o3-image-to-video"),
    # enums
    "aspect 4:3": (t2v(aspect_ratio="4:3"), "aspect_ratio must be one of"),
    "quality 480p": (t2v(quality="480p"), "quality must be one of"),
    "ref quality 4k": (ref(quality="4k"), 'quality must be one of "720p", "1080p" for kling-o3-reference-to-video'),
    "edit quality 4k": (edit(quality="4k"), "quality must be one of"),
    "sound yes": (t2v(sound="yes"), "sound must be one of"),
    "sound 1": (t2v(sound=1), "sound must be one of"),
    "keep_original_sound string": (ref(keep_original_sound="no"), "keep_original_sound must be a boolean"),
    # multi-shot
    "multi-shot without shot_type": ({"model": T2V, "model_params": {"multi_shot": True, "multi_prompt": [
        {"index": 1, "prompt": "a", "duration": "5"}]}}, "model_params.shot_type is required"),
    "multi-shot without multi_prompt": ({"model": T2V, "model_params": {"multi_shot": True, "shot_type": "customize"}},
                                        "model_params.multi_prompt is required"),
    "shot_type other": (t2v(model_params={**shots("5"), "shot_type": "auto"}), "model_params.shot_type must be one of"),
    "seven shots": ({"model": T2V, "duration": 7, "model_params": shots(*"1111111")},
                    "model_params.multi_prompt must have at most 6 items"),
    "no shots": ({"model": T2V, "model_params": {**shots(), "multi_prompt": []}},
                 "model_params.multi_prompt must have at least 1 item"),
    "shot duration 0": ({"model": T2V, "model_params": shots("0", "5")}, "model_params.multi_prompt[0].duration"),
    "shot duration integer": ({"model": T2V, "model_params": {**shots("5"), "multi_prompt": [
        {"index": 1, "prompt": "a", "duration": 5}]}}, "multi_prompt[0].duration must be a string"),
    "shot prompt 513": ({"model": T2V, "model_params": {**shots("5"), "multi_prompt": [
        {"index": 1, "prompt": "p" * 513, "duration": "5"}]}}, "multi_prompt[0].prompt must be at most 512"),
    "shots sum to 8 not 5": ({"model": T2V, "model_params": shots("3", "5")},
                             "durations add up to 8 s but duration is 5 s"),
    "shots sum to 9 not 10": ({"model": I2V, "image_start": IMG, "duration": 10, "model_params": shots("4", "5")},
                              "add up to 9 s but duration is 10 s"),
    # elements
    "element without id": (t2v(model_params={"element_list": [{}]}), "element_list[0].element_id is required"),
    "element id float": (t2v(model_params={"element_list": [{"element_id": 1.5}]}),
                         "element_id must be an integer or a string"),
    "t2v 8 elements": (t2v(model_params=elements(8)), "allows at most 7"),
    "watermark not bool": (t2v(model_params={"watermark_info": {"enabled": "yes"}}),
                           "model_params.watermark_info.enabled must be a boolean"),
    # image-to-video
    "i2v without any image": ({"model": I2V, "prompt": "p"}, "needs at least one image"),
    "i2v empty image_urls": ({"model": I2V, "prompt": "p", "image_urls": []}, "needs at least one image"),
    "i2v image_end without start": ({"model": I2V, "prompt": "p", "image_end": IMG, "image_urls": [IMG]},
                                    "image_start is required when image_end is given"),
    "i2v image_end with 3 images": (i2v(image_end=IMG, image_urls=[IMG]),
                                    "image_end is not supported when image_start + image_end + image_urls exceed 2"),
    "i2v start + 4 elements": (i2v(model_params=elements(4)), "with image_start at most 3 elements"),
    "i2v 5 images + 3 elements": ({"model": I2V, "prompt": "p", "image_urls": [IMG] * 5,
                                   "model_params": elements(3)}, "images + elements must be at most 7"),
    "i2v image not a URL": (i2v(image_start="portrait.jpg"), "image_start must be an absolute http(s) URL"),
    "i2v image ftp": (i2v(image_start="ftp://example.com/a.jpg"), "image_start must be an absolute http(s) URL"),
    "i2v image_urls item not URL": ({"model": I2V, "prompt": "p", "image_urls": ["x"]},
                                    "image_urls[0] must be an absolute http(s) URL"),
    # reference / edit
    "ref without video": ({"model": REF, "prompt": "p"}, "a video is required"),
    "edit without video": ({"model": EDIT, "prompt": "p"}, "a video is required"),
    "ref empty video_urls": ({"model": REF, "prompt": "p", "video_urls": []}, "video_urls must have at least 1"),
    "ref video not URL": (ref(video_url="clip.mp4"), "video_url must be an absolute http(s) URL"),
    "ref 3 images + 2 elements": (ref(image_urls=[IMG] * 3, model_params=elements(2)),
                                  "images + elements must be at most 4 for kling-o3-reference-to-video"),
    "edit 5 images": (edit(image_urls=[IMG] * 5), "image_urls must have at most 4 items"),
    "edit 2 images + 3 elements": (edit(image_urls=[IMG] * 2, model_params=elements(3)),
                                   "images + elements must be at most 4 for kling-o3-video-edit"),
    # prompt references
    "element reference without elements": (t2v(prompt="<<<element_1>>> dances"),
                                           "prompt references <<<element_1>>> but the request supplies 0 elements"),
    "image reference beyond images": (i2v(prompt="<<<image_2>>>"),
                                      "references <<<image_2>>> but the request supplies 1 image"),
    "video reference on t2v": (t2v(prompt="like <<<video_1>>>"), "references <<<video_1>>>"),
    "video_2 on ref": (ref(prompt="<<<video_2>>>"), "references <<<video_2>>> but the request supplies 1 video"),
    "element_0": (t2v(prompt="<<<element_0>>>", model_params=elements(1)), "<<<element_0>>>"),
    "shot prompt reference": ({"model": T2V, "model_params": {**shots("5"), "multi_prompt": [
        {"index": 1, "prompt": "<<<image_1>>>", "duration": "5"}]}},
        "model_params.multi_prompt[0].prompt references <<<image_1>>>"),
    # callback_url
    "callback http": (t2v(callback_url="http://hooks.example.com/x"), "callback_url must use https",
                      "EVOLINK_MOCK_ALLOW_LOCAL_CALLBACKS=1"),
    "callback localhost": (t2v(callback_url="https://localhost/x"), "internal host (localhost)"),
    "callback sub.localhost": (t2v(callback_url="https://api.localhost/x"), "internal host"),
    "callback 127.0.0.1": (t2v(callback_url="https://127.0.0.1:8443/x"), "internal host (127.0.0.1)"),
    "callback ::1": (t2v(callback_url="https://[::1]/x"), "internal host (::1)"),
    "callback 10/8": (t2v(callback_url="https://10.1.2.3/x"), "internal host"),
    "callback 172.16/12": (t2v(callback_url="https://172.20.0.1/x"), "internal host"),
    "callback 192.168/16": (t2v(callback_url="https://192.168.1.10/x"), "internal host"),
    "callback link-local": (t2v(callback_url="https://169.254.169.254/latest"), "internal host"),
    "callback 0.0.0.0": (t2v(callback_url="https://0.0.0.0/x"), "internal host"),
    "callback decimal loopback": (t2v(callback_url="https://2130706433/x"), "internal host"),
    "callback mapped v6": (t2v(callback_url="https://[::ffff:10.0.0.1]/x"), "internal host"),
    "callback too long": (t2v(callback_url="https://hooks.example.com/" + "a" * 2048),
                          "callback_url must be at most 2048 characters"),
    "callback not a URL": (t2v(callback_url="hooks"), "callback_url must be an absolute URL"),
    "callback bad port": (t2v(callback_url="https://hooks.example.com:99999/x"),
                          "callback_url must be an absolute URL"),
}


@pytest.mark.parametrize("case", INVALID.values(), ids=INVALID.keys())
def test_invalid_requests_are_400_naming_the_field(api: Api, case: tuple) -> None:
    body, *fragments = case
    before = api.account() if api.server.emulator.account(api.key) else None
    assert_error(api.create(body), 400, "invalid_request", "invalid_request_error", *fragments)
    after = api.account()
    assert after["reserved"] == 0 and after["balance"] == after["granted"], "a refused request moved credits"
    assert before is None or before == after


def test_cross_field_rules_are_marked_with_the_rule_name(api: Api) -> None:
    response = api.create(t2v(prompt="<<<element_1>>>"))
    assert response.headers["X-Mock-Rule"] == "prompt_references"
    schema_failure = api.create(t2v(duration=99))
    assert "X-Mock-Rule" not in schema_failure.headers


def test_unknown_and_foreign_fields_are_ignored_and_named_in_a_warning(api: Api) -> None:
    response = api.create(edit(negative_prompt="blur", duration=7, image_start=IMG, sound="on",
                               model_params={"multi_shot": True}))
    assert response.status_code == 200, response.text
    warned = response.headers["X-Mock-Warnings"]
    for field in ("negative_prompt", "duration", "image_start", "sound", "model_params.multi_shot"):
        assert field in warned
    assert response.json()["task_info"]["video_duration"] == 5  # edit ignores duration


def test_valid_request_has_no_warning_header(api: Api) -> None:
    assert "X-Mock-Warnings" not in api.create(t2v()).headers


def test_several_problems_are_reported_together(api: Api) -> None:
    error = assert_error(api.create(t2v(duration="5", quality="8k")), 400, "invalid_request",
                         "invalid_request_error")
    assert "duration must be an integer" in error["message"] and "quality must be one of" in error["message"]


def test_sound_is_forced_off_with_video_input(api: Api) -> None:
    task = api.created(ref(sound="on", quality="720p"))
    assert task["usage"]["credits_reserved"] == 40.5  # 8.1/s, the no-sound price
    assert api.admin_task(task["id"])["params"]["sound"] is False


def test_local_callbacks_allowed_by_setting() -> None:
    from contracts.server import LiveServer
    from mock_server import Settings

    with LiveServer(Settings(speed=0, allow_local_callbacks=True)) as server:
        api = Api(server)
        assert api.create(t2v(callback_url="http://127.0.0.1:9/hook")).status_code == 200
        assert_error(api.create(t2v(callback_url="hook")), 400, "invalid_request", "invalid_request_error",
                     "callback_url must be an absolute URL")
