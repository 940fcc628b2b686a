#!/usr/bin/env python3
"""Builds a folder of photo-sized JPEGs for timing `lca learn` on real-sized data.

    python3 scripts/make_photo_folder.py OUT_DIR [--count 400] [--width 1600] [--height 1200]
        [--images DIR] [--holdout grass,gravel,brick] [--seed 0] [--quality 90]

Each JPEG is a random crop (scale, position, horizontal flip, small rotation of 0/90/180/270
degrees for square sources) of one source image, resized with Lanczos to WIDTH x HEIGHT, with
mild brightness/contrast jitter, saved as a baseline RGB JPEG. Sources default to the natural
images in /work/shared/data/images, minus the held-out ones (--holdout), which the learning
benchmarks keep for scoring and which must never be learned from.

Requirements: Python >= 3.9, pillow, numpy.
"""
import argparse
import os
import sys

import numpy as np
from PIL import Image, ImageEnhance


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--width", type=int, default=1600)
    ap.add_argument("--height", type=int, default=1200)
    ap.add_argument("--images", default="/work/shared/data/images")
    ap.add_argument("--holdout", default="grass,gravel,brick")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quality", type=int, default=90)
    a = ap.parse_args()
    held = {h.strip() for h in a.holdout.split(",") if h.strip()}
    names = sorted(f for f in os.listdir(a.images) if os.path.splitext(f)[0] not in held
                   and f.lower().endswith((".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")))
    if not names:
        sys.exit(f"{a.images}: no source images")
    sources = [Image.open(os.path.join(a.images, n)).convert("RGB") for n in names]
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    for i in range(a.count):
        src = sources[i % len(sources)]
        w, h = src.size
        # Crop 50-100 % of the short side, with the output's aspect ratio.
        aspect = a.width / a.height
        ch = int(min(h, w / aspect) * rng.uniform(0.5, 1.0))
        cw = int(ch * aspect)
        x0 = int(rng.integers(0, w - cw + 1))
        y0 = int(rng.integers(0, h - ch + 1))
        img = src.crop((x0, y0, x0 + cw, y0 + ch)).resize((a.width, a.height), Image.LANCZOS)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        img = ImageEnhance.Brightness(img).enhance(rng.uniform(0.8, 1.2))
        img = ImageEnhance.Contrast(img).enhance(rng.uniform(0.8, 1.2))
        path = os.path.join(a.out, f"photo_{i:04d}.jpg")
        tmp = path + ".tmp"
        img.save(tmp, "JPEG", quality=a.quality)
        os.replace(tmp, path)
    print(f"wrote {a.count} JPEGs of {a.width}x{a.height} from {len(names)} sources ({', '.join(names)}) to {a.out}")


if __name__ == "__main__":
    main()
