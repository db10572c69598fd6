#!/usr/bin/env python3
"""Draws the keyframe images of examples/demo.yaml (and examples/providers.yaml).

Standard library only (zlib + struct write the PNGs): 8-bit RGB, 960x540. Every image shows
one small outdoor scene from a fixed camera: a sky with drifting clouds, a sun, hazy hills,
a grassy field, a tree, a wooden crate, a striped ball and (in shot sh020) a kite. Between
consecutive keyframes of a shot the same objects move by a plausible amount (the ball rolls
and turns, the clouds drift, the kite rises), so an interpolation engine has real motion to
render in-betweens for. Everything is seeded: running it again gives the same bytes.

    python3 examples/refs/make-refs.py [output folder]   # default: this script's folder
"""

import math
import os
import random
import struct
import sys
import zlib

W, H = 960, 540
HORIZON = 300
GROUND = 430          # y where the crate and the ball touch the ground
BALL_R = 44
CLOUD_MARGIN = 80     # extra cloud field width, so clouds can drift without wrapping


# --- noise -------------------------------------------------------------------------------

class ValueNoise:
    """Smooth 2D value noise on a seeded lattice, summed over octaves (fractal noise)."""

    def __init__(self, seed, size=256):
        rng = random.Random(seed)
        self.size = size
        self.table = [rng.random() for _ in range(size * size)]

    def _octave(self, x, y):
        s = self.size
        xi, yi = math.floor(x), math.floor(y)
        fx, fy = x - xi, y - yi
        fx = fx * fx * (3 - 2 * fx)
        fy = fy * fy * (3 - 2 * fy)
        x0, y0 = xi % s, yi % s
        x1, y1 = (x0 + 1) % s, (y0 + 1) % s
        t = self.table
        a = t[y0 * s + x0] + (t[y0 * s + x1] - t[y0 * s + x0]) * fx
        b = t[y1 * s + x0] + (t[y1 * s + x1] - t[y1 * s + x0]) * fx
        return a + (b - a) * fy

    def fbm(self, x, y, octaves=4):
        total, amplitude, norm = 0.0, 1.0, 0.0
        for o in range(octaves):
            total += amplitude * self._octave(x + o * 17.3, y + o * 9.1)
            norm += amplitude
            amplitude *= 0.5
            x *= 2.03
            y *= 2.03
        return total / norm


def smoothstep(e0, e1, x):
    t = min(1.0, max(0.0, (x - e0) / (e1 - e0)))
    return t * t * (3 - 2 * t)


def mix(c0, c1, t):
    return (c0[0] + (c1[0] - c0[0]) * t, c0[1] + (c1[1] - c0[1]) * t, c0[2] + (c1[2] - c0[2]) * t)


# --- the static world, computed once ------------------------------------------------------

def field(noise, width, height, scale_x, scale_y, octaves):
    return [[noise.fbm(x * scale_x, y * scale_y, octaves) for x in range(width)]
            for y in range(height)]


def build_world():
    sky_noise, ground_noise, hill_noise, wood_noise = (ValueNoise(s) for s in (11, 23, 37, 41))
    print("computing noise fields ...", file=sys.stderr)
    clouds = field(sky_noise, W + CLOUD_MARGIN, HORIZON, 1 / 90, 1 / 45, 5)
    grass = field(ground_noise, W, H - HORIZON, 1 / 9, 1 / 3.5, 4)
    hills = [HORIZON - 25 - 55 * hill_noise.fbm(x / 160, 0.5, 3) for x in range(W)]
    far_hills = [HORIZON - 60 - 70 * hill_noise.fbm(x / 260 + 40, 3.5, 3) for x in range(W)]
    grain_rng = random.Random(5)
    grain = bytes(grain_rng.randrange(0, 5) for _ in range(W * 61))  # tiled film grain
    return {"clouds": clouds, "grass": grass, "hills": hills, "far_hills": far_hills,
            "wood": wood_noise, "bark": ValueNoise(53), "leaves": ValueNoise(67), "grain": grain}


SUN = (790, 80, 34)
TREE = {"trunk": (118, 146, 205, GROUND - 6),
        "crown": [(132, 170, 62), (92, 196, 46), (176, 192, 50), (130, 130, 48), (160, 150, 40)]}


def background(world, cloud_shift):
    """Sky, sun, hills and grass, as rows of float RGB."""
    clouds, grass, hills, far_hills = world["clouds"], world["grass"], world["hills"], world["far_hills"]
    sx, sy, sr = SUN
    rows = []
    for y in range(H):
        row = []
        if y < HORIZON:
            t = y / HORIZON
            sky = mix((58, 104, 186), (186, 210, 232), t ** 0.8)
            crow = clouds[y]
            for x in range(W):
                c = sky
                d = math.hypot(x - sx, y - sy)
                if d < sr:
                    c = (255, 246, 214)
                else:
                    glow = math.exp(-(d - sr) / 60) * 0.55
                    c = mix(c, (255, 236, 190), glow)
                n = crow[x + CLOUD_MARGIN - cloud_shift]
                density = smoothstep(0.50, 0.72, n) * (1.0 - 0.6 * t)
                if density > 0:
                    shade = 0.82 + 0.18 * smoothstep(0.5, 0.85, n)   # thicker = brighter tops
                    c = mix(c, (246 * shade, 246 * shade, 250 * shade), density)
                if y > far_hills[x]:
                    c = mix(c, (128, 150, 170), 0.75)
                if y > hills[x]:
                    k = (y - hills[x]) / 40
                    c = mix((96, 132, 104), (84, 126, 72), min(1.0, k))
                row.append(c)
        else:
            g = grass[y - HORIZON]
            depth = (y - HORIZON) / (H - HORIZON)
            base = mix((118, 160, 80), (60, 112, 42), depth)
            for x in range(W):
                n = g[x]
                v = 0.72 + 0.55 * n
                c = (base[0] * v, base[1] * v * 1.02, base[2] * v)
                if y < hills[x]:
                    c = mix((96, 132, 104), c, 0.5)
                row.append(c)
        rows.append(row)
    return rows


# --- objects ----------------------------------------------------------------------------

def shade_shadow(rows, cx, cy, rx, ry, strength):
    for y in range(max(0, int(cy - ry)), min(H, int(cy + ry) + 1)):
        for x in range(max(0, int(cx - rx)), min(W, int(cx + rx) + 1)):
            d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2
            if d < 1:
                k = 1 - strength * (1 - d) ** 1.5
                r, g, b = rows[y][x]
                rows[y][x] = (r * k, g * k, b * k * 1.04)


def draw_tree(rows, world):
    bark, leaves = world["bark"], world["leaves"]
    x0, x1, y0, y1 = TREE["trunk"]
    for y in range(y0, y1):
        for x in range(x0, x1):
            n = bark.fbm(x / 3, y / 18, 3)
            edge = 1 - 0.35 * abs((x - (x0 + x1) / 2) / ((x1 - x0) / 2)) ** 2
            v = (0.55 + 0.6 * n) * edge
            rows[y][x] = (104 * v, 74 * v, 48 * v)
    for cx, cy, r in TREE["crown"]:
        for y in range(max(0, cy - r), min(H, cy + r)):
            for x in range(max(0, cx - r), min(W, cx + r)):
                d = math.hypot(x - cx, y - cy) / r
                n = leaves.fbm(x / 7, y / 7, 4)
                if d < 0.82 + 0.3 * n:
                    light = 0.6 + 0.5 * n + 0.25 * ((cx - x) + (cy - y)) / (2 * r) * -1
                    light = max(0.25, min(1.3, light - 0.2 * d))
                    rows[y][x] = (52 * light, 112 * light, 44 * light)


def draw_crate(rows, world, left, size=112):
    wood = world["wood"]
    top = GROUND - size
    shade_shadow(rows, left + size * 0.62, GROUND + 3, size * 0.75, 13, 0.55)
    for y in range(top, GROUND):
        for x in range(left, left + size):
            u, v = x - left, y - top
            frame = u < 11 or u >= size - 11 or v < 11 or v >= size - 11
            brace = abs(u - v) < 8
            if frame or brace:
                n = wood.fbm(u / 30 + 7, v / 2.5, 3)
                k = 0.80 + 0.35 * n
                c = (150 * k, 104 * k, 60 * k)
            else:
                n = wood.fbm(u / 3, v / 40, 4)
                grain = 0.5 + 0.5 * math.sin(u * 0.55 + 9 * n)
                k = 0.72 + 0.28 * grain
                c = (176 * k, 128 * k, 76 * k)
            if u in (11, size - 12) or v in (11, size - 12):
                c = (c[0] * 0.6, c[1] * 0.6, c[2] * 0.6)
            lit = 0.8 + 0.25 * (u / size)          # sun from the right: left side darker
            rows[y][x] = (c[0] * lit, c[1] * lit, c[2] * lit)


def draw_ball(rows, cx, roll):
    """A red and cream beach ball on the ground at x = cx, turned by `roll` radians."""
    cy = GROUND - BALL_R
    shade_shadow(rows, cx + 16, GROUND + 2, BALL_R * 1.2, 11, 0.6)
    light = (0.55, -0.6, 0.58)
    norm = math.sqrt(sum(c * c for c in light))
    light = tuple(c / norm for c in light)
    for y in range(cy - BALL_R, cy + BALL_R + 1):
        for x in range(int(cx) - BALL_R, int(cx) + BALL_R + 1):
            dx, dy = (x - cx) / BALL_R, (y - cy) / BALL_R
            rr = dx * dx + dy * dy
            if rr >= 1:
                continue
            nz = math.sqrt(1 - rr)
            # Rolling to the right turns the ball clockwise in the picture.
            angle = math.atan2(dy, dx) - roll
            sector = int(math.floor(angle / (math.pi / 3))) % 2
            polar = math.hypot(dx, dy) < 0.16 and nz > 0.98
            base = (236, 226, 204) if sector else (204, 38, 44)
            if polar:
                base = (240, 200, 60)
            diffuse = max(0.0, dx * light[0] + dy * light[1] + nz * light[2])
            spec = max(0.0, diffuse) ** 40
            k = 0.28 + 0.8 * diffuse
            c = (base[0] * k + 255 * 0.6 * spec, base[1] * k + 255 * 0.6 * spec, base[2] * k + 255 * 0.6 * spec)
            edge = smoothstep(0.93, 1.0, math.sqrt(rr))        # anti-aliased rim
            rows[y][x] = mix(c, rows[y][x], edge)


def draw_kite(rows, cx, cy, tilt):
    """A diamond kite centred at (cx, cy), tilted by `tilt` radians, with a wavy tail."""
    half_w, up, down = 34, 42, 70
    cos_t, sin_t = math.cos(tilt), math.sin(tilt)

    def to_kite(x, y):
        dx, dy = x - cx, y - cy
        return dx * cos_t + dy * sin_t, -dx * sin_t + dy * cos_t

    def from_kite(u, v):
        return cx + u * cos_t - v * sin_t, cy + u * sin_t + v * cos_t

    for y in range(int(cy - 90), int(cy + 90)):
        for x in range(int(cx - 90), int(cx + 90)):
            u, v = to_kite(x, y)
            reach = (1 - v / down) if v >= 0 else (1 + v / up)
            if reach <= 0 or abs(u) > half_w * reach:
                continue
            quadrant = (u >= 0) ^ (v >= 0)
            base = (232, 196, 40) if quadrant else (40, 92, 196)
            ripple = 0.88 + 0.12 * math.sin((u + v) * 0.35)
            if abs(u) < 1.6 or abs(v) < 1.6:
                base, ripple = (60, 44, 30), 1.0
            rows[y][x] = (base[0] * ripple, base[1] * ripple, base[2] * ripple)
    # Tail: a wavy line of small bows hanging below the kite.
    for i in range(0, 120):
        v = down + i
        u = 9 * math.sin(i / 9 + tilt * 4)
        px, py = from_kite(u, v)
        bow = i % 24 == 12
        r = 5 if bow else 1
        for yy in range(int(py) - r, int(py) + r + 1):
            for xx in range(int(px) - r, int(px) + r + 1):
                if 0 <= xx < W and 0 <= yy < H and (xx - px) ** 2 + (yy - py) ** 2 <= r * r + 0.5:
                    rows[yy][xx] = (210, 40, 50) if bow else (70, 60, 50)


# --- frames -------------------------------------------------------------------------------

# name -> (cloud drift px, ball x, kite (x, y, tilt) or None)
KEYFRAMES = {
    "sh010_a": (0, 250, None),
    "sh010_b": (14, 370, None),
    "sh010_c": (28, 490, None),
    "sh020_a": (40, 548, (300, 196, -0.10)),
    "sh020_b": (61, 452, (392, 122, 0.08)),
}
CRATE_LEFT = 640


def render(world, cloud_shift, ball_x, kite):
    rows = background(world, cloud_shift)
    draw_tree(rows, world)
    draw_crate(rows, world, CRATE_LEFT)
    draw_ball(rows, ball_x, roll=(ball_x - 250) / BALL_R)
    if kite:
        draw_kite(rows, *kite)
    return rows


def to_rgb_bytes(rows, grain):
    out = bytearray()
    for y, row in enumerate(rows):
        g = (y % 61) * W
        for x, (r, gr, b) in enumerate(row):
            n = grain[g + x] - 2
            out.append(max(0, min(255, int(r + n))))
            out.append(max(0, min(255, int(gr + n))))
            out.append(max(0, min(255, int(b + n))))
    return bytes(out)


def write_png(path, rgb):
    """An 8-bit RGB PNG; each row uses the Sub or Up filter, whichever looks smaller."""
    stride = W * 3
    raw = bytearray()
    previous = bytes(stride)
    for y in range(H):
        line = rgb[y * stride:(y + 1) * stride]
        up = bytes((a - b) & 255 for a, b in zip(line, previous))
        sub = bytes(line[:3]) + bytes((line[i] - line[i - 3]) & 255 for i in range(3, stride))
        cost_up = sum(v if v < 128 else 256 - v for v in up)
        cost_sub = sum(v if v < 128 else 256 - v for v in sub)
        raw += (b"\x02" + up) if cost_up <= cost_sub else (b"\x01" + sub)
        previous = line

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", W, H, 8, 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    world = build_world()
    for name, (cloud_shift, ball_x, kite) in KEYFRAMES.items():
        path = os.path.join(folder, name + ".png")
        write_png(path, to_rgb_bytes(render(world, cloud_shift, ball_x, kite), world["grain"]))
        print(f"wrote {path} ({os.path.getsize(path)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
