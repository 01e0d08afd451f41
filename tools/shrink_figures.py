#!/usr/bin/env python3
"""Usage: tools/shrink_figures.py NOTEBOOK...
Re-encode a notebook's stored PNG outputs as 256-colour palette PNGs (what matplotlib drew,
in fewer bytes) to keep the notebook under its size limit."""
import base64, io, json, sys
from PIL import Image
for p in sys.argv[1:]:
    nb = json.load(open(p)); before = len(open(p, "rb").read())
    for c in nb["cells"]:
        for o in c.get("outputs", []):
            d = o.get("data", {})
            if "image/png" in d:
                raw = base64.b64decode(d["image/png"])
                img = Image.open(io.BytesIO(raw)).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
                buf = io.BytesIO(); img.save(buf, format="PNG", optimize=True)
                if len(buf.getvalue()) < len(raw):
                    d["image/png"] = base64.b64encode(buf.getvalue()).decode() + "\n"
    json.dump(nb, open(p, "w"), indent=1, ensure_ascii=False); open(p, "a").write("\n")
    print(p, before // 1000, "->", len(open(p, "rb").read()) // 1000, "KB")
