#!/usr/bin/env python3
"""Drives keyfarm's fake fal.ai queue and WaveSpeed APIs with the official SDKs.

    fal_wavespeed_check.py BASE_URL OUT_DIR     BASE_URL is the fake's root, http://127.0.0.1:PORT

Prints one JSON object: for each case, what the SDK saw (statuses, results, or the exception
class, status, error type and message it raised). The Swift test (FalWaveSpeedSDKTests)
judges it, so the fake is held to what the SDKs send and read, never to our own adapters.

fal-client 1.0.3 hard-codes https in its queue URL; its module constant QUEUE_URL_FORMAT is
read when submit() runs, so it is pointed at the plain-http fake here. wavespeed 2.0.5 takes
Client(base_url=...).
"""
import json
import struct
import sys
import urllib.request
import zlib

import fal_client
import fal_client.client as fal_impl
import wavespeed

base, out = sys.argv[1].rstrip("/"), sys.argv[2]
fal_impl.QUEUE_URL_FORMAT = base + "/"
fal = fal_client.SyncClient(key="fal-key-sdk-check")
ws = wavespeed.Client(api_key="ws-key-sdk-check", base_url=base, max_connection_retries=2, retry_interval=0.1)
results = {}


def png(rgb):
    raw = b"".join(b"\x00" + bytes(rgb) * 8 for _ in range(8))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def control(method, path, body=None):
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def faults(*entries):
    control("POST", "/_fake/faults", {"next": list(entries)})


def creates(prefix):
    return sum(1 for r in control("GET", "/_fake/requests") if r["method"] == "POST" and r["path"].startswith(prefix))


red = control("PUT", "/_fake/assets/sdk-red.png", png((230, 20, 20)))["url"]
blue = control("PUT", "/_fake/assets/sdk-blue.png", png((20, 20, 230)))["url"]


def fal_case(name, model, arguments):
    entry = {}
    try:
        handle = fal.submit(model, arguments)
        entry["request_id"] = handle.request_id
        seen = []
        for status in handle.iter_events(with_logs=True, interval=0.05):
            if isinstance(status, fal_client.Queued):
                seen.append({"status": "IN_QUEUE", "position": status.position})
            elif isinstance(status, fal_client.InProgress):
                seen.append({"status": "IN_PROGRESS", "logs": status.logs})
            elif isinstance(status, fal_client.Completed):
                seen.append({"status": "COMPLETED", "logs": status.logs, "error": status.error,
                             "error_type": status.error_type})
        entry["statuses"] = seen
        result = handle.get()
        entry["ok"] = True
        video = result["video"]["url"]
        path = f"{out}/{name}.mp4"
        urllib.request.urlretrieve(video, path)
        entry["video"] = path
    except fal_client.FalClientHTTPError as error:
        entry.update(ok=False, error=type(error).__name__, status=error.status_code, error_type=error.error_type,
                     message=str(error))
    results[name] = entry


kling26 = "fal-ai/kling-video/v2.6/pro/image-to-video"
fal_case("fal.kling26", kling26, {"prompt": "the red turns blue", "start_image_url": red, "end_image_url": blue,
                                  "duration": "5"})
faults({"end_as": "timeout"})
fal_case("fal.timeout", kling26, {"prompt": "a slow one", "start_image_url": red})
faults({"end_as": "failed", "error_type": "runner_disconnected"})
fal_case("fal.runner_lost", kling26, {"prompt": "a lost runner", "start_image_url": red})
faults({"fail_generation": "moderation"})
fal_case("fal.moderated", kling26, {"prompt": "a refused one", "start_image_url": red})
before = creates("/fal-ai/")
faults({"status": 409})
fal_case("fal.conflict_then_ok", kling26, {"prompt": "asked twice", "start_image_url": red})
results["fal.conflict_then_ok"]["posts"] = creates("/fal-ai/") - before
fal_case("fal.wrong_end_field", kling26, {"prompt": "old names", "start_image_url": red, "tail_image_url": blue})


def ws_case(name, model, arguments):
    entry = {}
    outcome = ws.run_no_throw(model, arguments, timeout=120, poll_interval=0.05)
    entry["run_no_throw"] = outcome
    if outcome["task_id"] not in (None, "unknown"):
        envelope = ws.get_result(outcome["task_id"])
        entry["data_status"] = envelope["data"]["status"]
        entry["code"] = envelope["code"]
    if outcome["status"] == "completed" and outcome["outputs"]:
        path = f"{out}/{name.replace('/', '_')}.mp4"
        urllib.request.urlretrieve(outcome["outputs"][0], path)
        entry["video"] = path
    results[name] = entry


turbo = "kwaivgi/kling-v2.5-turbo-pro/image-to-video"
ws_case("ws.turbo", turbo, {"prompt": "the red turns blue", "image": red, "last_image": blue, "duration": 5})
for state in ["cancelled", "timeout", "deleted", "failed"]:
    faults({"end_as": state})
    # run() raises as the SDK's poll loop stops on the state: which class, and its message.
    try:
        ws.run(turbo, {"prompt": f"ends as {state}", "image": red}, timeout=120, poll_interval=0.05)
        results[f"ws.{state}"] = {"raised": None}
    except Exception as error:  # the SDK raises RuntimeError or its _TaskFailedError
        results[f"ws.{state}"] = {"raised": type(error).__name__, "message": str(error)}
ws_case("ws.wrong_end_field", turbo, {"prompt": "old names", "image": red, "end_image": blue})
ws_case("ws.540p", "someone/new-i2v", {"prompt": "no such resolution", "image": red, "resolution": "540p"})

print(json.dumps(results, default=str))
