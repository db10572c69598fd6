#!/usr/bin/env python3
"""Drives keyfarm's fake Luma Dream Machine API with the official lumaai SDK.

    lumaai_check.py BASE_URL OUT_DIR     BASE_URL ends in /dream-machine/v1

Creates three generations, reads one back, and lists them a page at a time, as a worker
looks for a create whose answer was lost. Prints one JSON object of what the SDK saw; the
Swift test (LumaDreamMachineSDKTests) judges it.
"""
import json
import sys

import lumaai
from lumaai import LumaAI

base = sys.argv[1]
client = LumaAI(auth_token="luma-sk-sdk-check", base_url=base, max_retries=0, timeout=30)
results = {}

made = []
for take in range(3):
    generation = client.generations.create(model="ray-2", prompt=f"a kite over the meadow, take {take}",
                                           resolution="540p", duration="5s", aspect_ratio="16:9")
    made.append(generation.id)
results["created"] = {"ids": made}

got = client.generations.get(made[0])
results["get"] = {"id": got.id, "model": got.model, "prompt": getattr(got.request, "prompt", None),
                  "created_at": got.created_at.isoformat() if got.created_at else None}


def page(limit, offset):
    listed = client.generations.list(limit=limit, offset=offset)
    return {"ids": [g.id for g in listed.generations], "count": listed.count, "has_more": listed.has_more,
            "limit": listed.limit, "offset": listed.offset,
            "prompts": [getattr(g.request, "prompt", None) for g in listed.generations]}


results["first_page"] = page(2, 0)
results["second_page"] = page(2, 2)
try:
    client.generations.list(limit=0)
    results["bad_limit"] = {"ok": True}
except lumaai.APIStatusError as error:
    results["bad_limit"] = {"ok": False, "status": error.status_code}

print(json.dumps(results))
