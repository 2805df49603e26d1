"""Golden for the float-to-pixel conversion (MODEL §1.6), computed by NumPy as the reference does.

The reference post-processing is
    dec = dec.to(torch.float32).cpu().numpy().transpose(0, 2, 3, 1)   # NCHW -> NHWC
    visual_img = np.clip((dec + 1) / 2 * 255, 0, 255).astype(np.uint8)

Writes tests/oracle/goldens/pixels.bin, little-endian:
    b"GFPX", u32 n, n x f32 values, n x u8 pixels,
    u32 h, u32 w, 3*h*w x f32 (one CHW image), h*w*3 x u8 (its HWC pixels).
The values are every pixel boundary k/127.5 - 1 with its float32 neighbours, the ends of the
range, infinities, and random values around [-1, 1]. NaN is left out: NumPy's cast of NaN to uint8
is undefined.
"""
import pathlib
import struct

import numpy as np


def convert(x):
    return np.clip((x + 1) / 2 * 255, 0, 255).astype(np.uint8)


def main():
    rng = np.random.default_rng(20261127)
    vals = [np.float32(-1), np.float32(0), np.float32(1), np.float32(-1e30), np.float32(1e30),
            np.float32(np.inf), np.float32(-np.inf), np.float32(-0.0)]
    for k in range(257):
        b = np.float32(k / 127.5 - 1)
        lo = hi = b
        vals.append(b)
        for _ in range(3):
            lo = np.nextafter(lo, np.float32(-2))
            hi = np.nextafter(hi, np.float32(2))
            vals += [lo, hi]
    vals = np.array(vals, dtype=np.float32)
    vals = np.concatenate([vals, (rng.standard_normal(4096) * 0.8).astype(np.float32),
                           rng.uniform(-1.05, 1.05, 4096).astype(np.float32)])
    pix = convert(vals)

    h, w = 24, 17
    chw = (rng.standard_normal((1, 3, h, w)) * 0.7).astype(np.float32)
    hwc = convert(chw.transpose(0, 2, 3, 1))[0]

    out = pathlib.Path(__file__).parent / "goldens" / "pixels.bin"
    out.parent.mkdir(exist_ok=True)
    with open(out, "wb") as f:
        f.write(b"GFPX" + struct.pack("<I", len(vals)))
        f.write(vals.astype("<f4").tobytes())
        f.write(pix.tobytes())
        f.write(struct.pack("<II", h, w))
        f.write(chw[0].astype("<f4").tobytes())
        f.write(np.ascontiguousarray(hwc).tobytes())
    print(f"wrote {out}: {len(vals)} values, one {h}x{w} image (numpy {np.__version__})")


if __name__ == "__main__":
    main()
