#!/usr/bin/env python3
"""Drives keyfarm's fake Luma Agents API with the official luma-agents SDK.

    luma_agents_check.py BASE_URL OUT_DIR     BASE_URL ends in /v1

Prints one JSON object: for each case, what the SDK saw (the generation's fields, or the
error class, status and body it raised). The Swift test (LumaAgentsSDKTests) judges it, so
the fake is held to what the SDK sends and accepts, never to our own adapter.
"""
import base64
import json
import sys
import time
import urllib.request

import luma_agents
from luma_agents import Luma

base, out = sys.argv[1], sys.argv[2]
client = Luma(auth_token="luma-sk-sdk-check", base_url=base, max_retries=0, timeout=30)

# Three distinct 8x8 PNGs, built here so the script needs no files.
def png(rgb):
    import struct, zlib
    raw = b"".join(b"\x00" + bytes(rgb) * 8 for _ in range(8))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def ref(rgb):
    return {"data": base64.b64encode(png(rgb)).decode(), "media_type": "image/png"}

red, green, blue = ref((230, 20, 20)), ref((20, 230, 20)), ref((20, 20, 230))
results = {}

def attempt(name, **params):
    try:
        generation = client.generations.create(**params)
        results[name] = {"ok": True, "id": generation.id, "state": generation.state, "model": generation.model,
                         "type": generation.type}
        return generation
    except luma_agents.APIStatusError as error:
        results[name] = {"ok": False, "error": type(error).__name__, "status": error.status_code, "body": error.body}
    return None

def wait(generation, name):
    for _ in range(600):
        got = client.generations.get(generation.id)
        if got.state in ("completed", "failed"):
            entry = {"state": got.state, "failure_code": got.failure_code, "failure_reason": got.failure_reason,
                     "outputs": [{"type": o.type, "url": o.url} for o in (got.output or [])]}
            if got.state == "completed" and got.output:
                path = f"{out}/{name}.mp4"
                urllib.request.urlretrieve(got.output[0].url, path)
                entry["video"] = path
            results[name + ".done"] = entry
            return got
        time.sleep(0.05)
    results[name + ".done"] = {"state": "timed out"}

# The multi-keyframe surface: three anchors on a 5 s grid (0..120), and a 10 s one in HDR.
g = attempt("keyframes", model="ray-3.2", type="video", prompt="a red square turns green, then blue",
            aspect_ratio="16:9", video={"duration": "5s", "resolution": "360p",
                                        "keyframes": [red, green, blue], "keyframe_indexes": [0, 60, 120]})
if g: wait(g, "keyframes")
g = attempt("hdr_ten_seconds", model="ray-3.2", type="video", prompt="dawn over a harbour", aspect_ratio="9:16",
            video={"duration": "10s", "resolution": "720p", "hdr": True, "exr_export": True,
                   "keyframes": [red, blue], "keyframe_indexes": [0, 240]})
# The legacy two-frame surface, continuing the first generation by id.
first = results.get("keyframes", {}).get("id")
g = attempt("legacy", model="ray-3.2", type="video", prompt="and back", video={
    "duration": "5s", "resolution": "360p", "start_frame": {"generation_id": first or "missing"}, "end_frame": red})
if g: wait(g, "legacy")

# A reframe of the first generation to 9:16 (SDR; the source placed at the top half).
if first:
    g = attempt("reframe", model="ray-3.2", type="video_reframe", prompt="the same, vertical", aspect_ratio="9:16",
                source={"generation_id": first},
                video={"resolution": "360p", "source_position": {"x_norm": 0, "y_norm": 0, "w_norm": 1, "h_norm": 0.5}})
    if g: wait(g, "reframe")
    attempt("reframe_in_hdr", model="ray-3.2", type="video_reframe", prompt="x", aspect_ratio="1:1",
            source={"generation_id": first}, video={"hdr": True})

# The Files API: create, PUT the bytes to the presigned URL, complete, get; then a generation
# naming the file; once deleted, a generation naming it is refused.
import httpx
image = png((200, 120, 40))
created = client.files.create(mime_type="image/png", size_bytes=len(image), filename="orange.png", purpose="input")
put = httpx.request(created.upload.method or "PUT", created.upload.url, content=image, headers=created.upload.headers or {})
completed = client.files.complete(created.id)
fetched = client.files.get(created.id)
results["files"] = {"created_state": created.state, "put_status": put.status_code, "completed_state": completed.state,
                    "state": fetched.state, "size_bytes": fetched.size_bytes, "mime_type": fetched.mime_type,
                    "listed": [f.id for f in client.files.list().data]}
g = attempt("with_file", model="ray-3.2", type="video", prompt="an orange square", video={
    "duration": "5s", "resolution": "360p", "keyframes": [{"file_id": created.id}], "keyframe_indexes": [0]})
if g: wait(g, "with_file")
client.files.delete(created.id)
attempt("deleted_file", model="ray-3.2", type="video", prompt="x", video={
    "keyframes": [{"file_id": created.id}], "keyframe_indexes": [0]})

# What the SDK's docstrings say the API refuses.
attempt("ten_seconds_without_keyframes", model="ray-3.2", type="video", prompt="x", video={"duration": "10s"})
attempt("hdr_without_keyframes", model="ray-3.2", type="video", prompt="x", video={"hdr": True, "start_frame": red})
attempt("exr_without_hdr", model="ray-3.2", type="video", prompt="x",
        video={"exr_export": True, "keyframes": [red], "keyframe_indexes": [0]})
attempt("hdr_at_360p", model="ray-3.2", type="video", prompt="x",
        video={"hdr": True, "resolution": "360p", "keyframes": [red], "keyframe_indexes": [0]})
attempt("hdr_at_540p", model="ray-3.2", type="video", prompt="x",
        video={"hdr": True, "resolution": "540p", "keyframes": [red], "keyframe_indexes": [0]})
attempt("keyframes_and_start_frame", model="ray-3.2", type="video", prompt="x",
        video={"keyframes": [red], "keyframe_indexes": [0], "start_frame": green})
attempt("indexes_do_not_match", model="ray-3.2", type="video", prompt="x",
        video={"keyframes": [red, green], "keyframe_indexes": [0]})
attempt("index_off_the_grid", model="ray-3.2", type="video", prompt="x",
        video={"duration": "5s", "keyframes": [red, green], "keyframe_indexes": [0, 121]})
attempt("duplicate_indexes", model="ray-3.2", type="video", prompt="x",
        video={"keyframes": [red, green], "keyframe_indexes": [30, 30]})
attempt("two_sources_in_one_ref", model="ray-3.2", type="video", prompt="x",
        video={"keyframes": [{"url": "https://example.invalid/a.png", **red}], "keyframe_indexes": [0]})
attempt("loop_with_keyframes", model="ray-3.2", type="video", prompt="x",
        video={"loop": True, "keyframes": [red], "keyframe_indexes": [0]})
attempt("aspect_ratio_inside_video", model="ray-3.2", type="video", prompt="x", video={"aspect_ratio": "16:9"})
attempt("unknown_model", model="ray-9", type="video", prompt="x")

try:
    client.generations.get("00000000-0000-0000-0000-000000000000")
    results["missing"] = {"ok": True}
except luma_agents.NotFoundError as error:
    results["missing"] = {"ok": False, "error": type(error).__name__, "status": error.status_code, "body": error.body}

print(json.dumps(results, sort_keys=True))
