#!/usr/bin/env python3
"""Synthetic compositional scenes for the demo model (docs/demo-model.md).

A scene is 1 to 4 flat-coloured shapes on a plain or textured grey background. Each scene has a
T2I-CompBench-style prompt ("a red circle to the left of a blue square"), a reasoning chain in
GoT-R1's format (prose plus <|obj_start|>NAME<|obj_end|> <|box_start|>(x1,y1),(x2,y2)<|box_end|>
on the 0..1000 grid, ending in <begin_of_image>) and a picture rasterised exactly from the boxes.

Everything is deterministic from the seed: `random.Random(seed)` draws the scenes, so the same
seed gives the same scenes, prompts, chains and pixels on any machine. The scene, prompt and chain
need only the standard library; rendering needs numpy.

The palette, shapes and relation rules here are the ones common/model/score/score.c scores with: keep
the two in step (docs/demo-model.md lists them).

    python3 scenes.py --seed 7 --count 5              # JSON lines: prompt, chain, objects
    python3 scenes.py --seed 7 --count 5 --png DIR    # and DIR/NNNNN.png (numpy)
"""
import argparse
import json
import random
import sys

# The eight object colours (RGB). Backgrounds are greys, which no palette colour is near.
PALETTE = {
    "red": (220, 40, 40),
    "orange": (245, 140, 30),
    "yellow": (240, 215, 40),
    "green": (40, 170, 60),
    "blue": (40, 90, 225),
    "purple": (140, 60, 190),
    "pink": (250, 130, 200),
    "brown": (130, 80, 35),
}
COLOURS = list(PALETTE)
SHAPES = ["square", "circle", "triangle", "diamond"]
# Backgrounds: name in the chain, kind, grey levels.
BACKGROUNDS = [
    ("plain white", "plain", (245,)),
    ("plain light gray", "plain", (200,)),
    ("plain dark gray", "plain", (70,)),
    ("light gray checkerboard", "checker", (185, 215)),
    ("dark gray striped", "stripes", (60, 90)),
]
RELATIONS = ["left of", "right of", "above", "below", "next to", "inside"]
RELATION_PHRASE = {
    "left of": "to the left of",
    "right of": "to the right of",
    "above": "above",
    "below": "below",
    "next to": "next to",
    "inside": "inside",
}
STEPS = 16  # box edges fall on a 16-step grid of the canvas (8 px at 128 px)
SIZES = [3, 4, 5, 6, 7]  # object sides, in grid steps
NEXT_TO_GAP = 150  # the most space between two boxes that are "next to" each other (0..1000)
INSIDE_TOL = 30  # how far a box "inside" another may stick out (0..1000)


def size_word(side):
    return "small" if side <= 3 else "large" if side >= 6 else ""


def coord(step):
    """A grid step as a 0..1000 coordinate."""
    return int(step * 1000 / STEPS + 0.5)


def box_1000(b):
    return [coord(b[0]), coord(b[1]), coord(b[2]), coord(b[3])]


# --- relations on boxes (x1, y1, x2, y2 on any common scale); score.c has the same rules ---


def holds(rel, a, b):
    """Whether box a stands in relation rel to box b (rules in docs/demo-model.md)."""
    acx, acy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    bcx, bcy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    dx, dy = bcx - acx, bcy - acy
    if rel == "left of":
        return dx > 0 and abs(dx) > abs(dy)
    if rel == "right of":
        return dx < 0 and abs(dx) > abs(dy)
    if rel == "above":
        return dy > 0 and abs(dy) > abs(dx)
    if rel == "below":
        return dy < 0 and abs(dy) > abs(dx)
    if rel == "next to":
        ix = min(a[2], b[2]) - max(a[0], b[0])
        iy = min(a[3], b[3]) - max(a[1], b[1])
        inter = max(ix, 0) * max(iy, 0)
        small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
        gap = max(-ix, -iy, 0)
        return inter <= 0.1 * small and gap <= NEXT_TO_GAP
    if rel == "inside":
        t = INSIDE_TOL
        return (a[0] >= b[0] - t and a[1] >= b[1] - t and a[2] <= b[2] + t and a[3] <= b[3] + t
                and (a[2] - a[0]) * (a[3] - a[1]) < (b[2] - b[0]) * (b[3] - b[1]))
    raise ValueError(rel)


def overlap(a, b, margin=0):
    return not (a[2] + margin <= b[0] or b[2] + margin <= a[0] or a[3] + margin <= b[1]
                or b[3] + margin <= a[1])


# --- scenes ---


def _place_pair(rng, rel, sa, sb):
    """Boxes (in grid steps) of a and b with a `rel` b, or None."""
    if rel == "inside":
        sb = rng.choice([6, 7])
        sa = 3
        bx, by = rng.randint(0, STEPS - sb), rng.randint(0, STEPS - sb)
        b = (bx, by, bx + sb, by + sb)
        ax = bx + (sb - sa) // 2
        ay = by + (sb - sa + 1) // 2
        return (ax, ay, ax + sa, ay + sa), b, sa, sb
    for _ in range(200):
        bx, by = rng.randint(0, STEPS - sb), rng.randint(0, STEPS - sb)
        b = (bx, by, bx + sb, by + sb)
        if rel == "next to":
            # flush and aligned, the second box of the chain (b) after the first (a): to its
            # right or below it, so b's start copies a's end on one axis and a's start on the
            # other, where a small model would otherwise have to subtract sides (with b placed
            # on any side of a, a 2000-step model held "next to" in 3 of 16 plans)
            ax, ay = rng.randint(0, STEPS - sa), rng.randint(0, STEPS - sa)
            if rng.random() < 0.5:
                bx, by = ax + sa, ay
            else:
                bx, by = ax, ay + sa
            b = (bx, by, bx + sb, by + sb)
            if not (bx + sb <= STEPS and by + sb <= STEPS):
                continue
        else:
            ax, ay = rng.randint(0, STEPS - sa), rng.randint(0, STEPS - sa)
        if not (0 <= ax <= STEPS - sa and 0 <= ay <= STEPS - sa):
            continue
        a = (ax, ay, ax + sa, ay + sa)
        if overlap(a, b):
            continue
        if rel != "next to":
            # clearer than the rule asks: the main axis at least twice the other
            acx, acy, bcx, bcy = ax + sa / 2, ay + sa / 2, bx + sb / 2, by + sb / 2
            dx, dy = bcx - acx, bcy - acy
            main, other = (dx, dy) if rel in ("left of", "right of") else (dy, dx)
            if rel in ("right of", "below"):
                main = -main
            if not (main > 0 and main >= 2 * abs(other)):
                continue
        if holds(rel, box_1000(a), box_1000(b)):
            return a, b, sa, sb
    return None


def sample_scene(rng):
    """One scene: objects (colour, shape, side, box in grid steps), relation, background."""
    while True:
        n = rng.choices([1, 2, 3, 4], weights=[1, 4, 2, 1])[0]
        colours = rng.sample(COLOURS, n)
        objs = [{"colour": c, "shape": rng.choice(SHAPES), "side": rng.choice(SIZES)}
                for c in colours]
        relation = None
        boxes = []
        if n >= 2:
            rel = rng.choice(RELATIONS)
            pair = _place_pair(rng, rel, objs[0]["side"], objs[1]["side"])
            if pair is None:
                continue
            a, b, objs[0]["side"], objs[1]["side"] = pair
            boxes = [a, b]
            relation = {"a": 0, "b": 1, "rel": rel}
        for o in objs[len(boxes):]:
            s = o["side"]
            for _ in range(200):
                x, y = rng.randint(0, STEPS - s), rng.randint(0, STEPS - s)
                box = (x, y, x + s, y + s)
                if not any(overlap(box, b, margin=1) for b in boxes):
                    boxes.append(box)
                    break
            else:
                break
        if len(boxes) != n:
            continue
        for o, b in zip(objs, boxes):
            o["box"] = list(b)
        bg = rng.randrange(len(BACKGROUNDS))
        return {"objects": objs, "relation": relation, "background": bg}


def object_name(o, with_size=True):
    words = [size_word(o["side"])] if with_size else []
    return " ".join(w for w in words + [o["colour"], o["shape"]] if w)


def prompt_of(scene):
    """T2I-CompBench-style caption."""
    objs, rel = scene["objects"], scene["relation"]
    names = ["a " + object_name(o) for o in objs]
    if rel is None:
        return names[0]
    text = "%s %s %s" % (names[0], RELATION_PHRASE[rel["rel"]], names[1])
    rest = names[2:]
    if len(rest) == 1:
        text += ", and " + rest[0]
    elif len(rest) == 2:
        text += ", with %s and %s" % (rest[0], rest[1])
    return text


_VERB = ["is placed", "sits", "is drawn"]
_REST = ["Nearby is", "Elsewhere is"]


def tagged(o):
    b = box_1000(o["box"])
    return "<|obj_start|>%s<|obj_end|> <|box_start|>(%d,%d),(%d,%d)<|box_end|>" % (
        object_name(o), b[0], b[1], b[2], b[3])


def chain_of(scene, rng):
    """The reasoning chain in GoT-R1's format, ending in <begin_of_image>."""
    objs, rel = scene["objects"], scene["relation"]
    parts = []
    if rel is None:
        parts.append("A %s %s alone in the picture." % (tagged(objs[0]), rng.choice(_VERB)))
    else:
        parts.append("A %s %s %s a %s." % (tagged(objs[0]), rng.choice(_VERB),
                                          RELATION_PHRASE[rel["rel"]], tagged(objs[1])))
        for o in objs[2:]:
            parts.append("%s a %s." % (rng.choice(_REST), tagged(o)))
    parts.append("The background is %s." % BACKGROUNDS[scene["background"]][0])
    return " ".join(parts) + "<begin_of_image>"


def make(seed, count):
    """`count` scenes from `seed`, each with prompt and chain."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        s = sample_scene(rng)
        s["prompt"] = prompt_of(s)
        s["chain"] = chain_of(s, rng)
        s["index"] = i
        out.append(s)
    return out


# --- rendering ---


def shape_mask(shape, h, w):
    """Pixels of `shape` filling an h x w box, sampled at pixel centres (numpy bool [h, w])."""
    import numpy as np
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = (x + 0.5) / w, (y + 0.5) / h  # 0..1 inside the box
    if shape == "square":
        return np.ones((h, w), bool)
    if shape == "circle":
        return (u - 0.5) ** 2 + (v - 0.5) ** 2 <= 0.25
    if shape == "triangle":  # apex at the top centre, base along the bottom
        return np.abs(u - 0.5) <= v / 2
    if shape == "diamond":
        return np.abs(u - 0.5) + np.abs(v - 0.5) <= 0.5
    raise ValueError(shape)


def render(scene, size=128):
    """uint8 [size, size, 3]: background, then the objects in order (later ones on top)."""
    import numpy as np
    name, kind, greys = BACKGROUNDS[scene["background"]]
    img = np.empty((size, size, 3), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    cell = max(size // STEPS, 1)
    if kind == "plain":
        img[:] = greys[0]
    elif kind == "checker":
        img[:] = np.where(((yy // cell + xx // cell) % 2 == 0)[..., None], greys[0], greys[1])
    else:
        img[:] = np.where((((xx + yy) // cell) % 2 == 0)[..., None], greys[0], greys[1])
    px = size / STEPS
    order = list(range(len(scene["objects"])))
    rel = scene["relation"]
    if rel and rel["rel"] == "inside":  # the container first, the contained on top
        order = [rel["b"], rel["a"]] + [i for i in order if i not in (rel["a"], rel["b"])]
    for i in order:
        o = scene["objects"][i]
        x1, y1, x2, y2 = [int(round(c * px)) for c in o["box"]]
        m = shape_mask(o["shape"], y2 - y1, x2 - x1)
        img[y1:y2, x1:x2][m] = PALETTE[o["colour"]]
    return img


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--size", type=int, default=128, help="picture side in pixels")
    ap.add_argument("--png", help="also write DIR/NNNNN.png (needs numpy)")
    a = ap.parse_args(argv)
    scenes = make(a.seed, a.count)
    if a.png:
        import os
        import zlib
        import struct
        os.makedirs(a.png, exist_ok=True)
        for s in scenes:
            img = render(s, a.size)
            raw = b"".join(b"\0" + img[y].tobytes() for y in range(img.shape[0]))

            def chunk(t, d):
                return (struct.pack(">I", len(d)) + t + d
                        + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF))
            png = (b"\x89PNG\r\n\x1a\n"
                   + chunk(b"IHDR", struct.pack(">IIBBBBB", a.size, a.size, 8, 2, 0, 0, 0))
                   + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
            with open(os.path.join(a.png, "%05d.png" % s["index"]), "wb") as f:
                f.write(png)
    for s in scenes:
        s = dict(s)
        for o in s["objects"]:
            o["box_1000"] = box_1000(o["box"])
        s["background"] = BACKGROUNDS[s["background"]][0]
        sys.stdout.write(json.dumps(s) + "\n")


if __name__ == "__main__":
    main()
