#!/usr/bin/env python3
"""Extract the CJK font jixiao embeds in its PDFs.

Source: Debian's fonts-wqy-microhei (WenQuanYi Micro Hei 0.2.0-beta, TrueType outlines,
Apache-2.0 or GPL-3 with the font embedding exception; see templates/fonts/LICENSE).
The .ttc holds two faces; jixiao needs the proportional one (index 0) as a plain .ttf,
kept whole (GBK-wide coverage, wider than GB2312): printpdf subsets it per PDF.

    apt-get install fonts-wqy-microhei && pip install fonttools
    python3 scripts/make_font.py
"""
from fontTools.ttLib import TTCollection

SRC = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
DST = "templates/fonts/wqy-microhei.ttf"

face = TTCollection(SRC).fonts[0]
assert face["name"].getDebugName(4) == "WenQuanYi Micro Hei"
face.save(DST)
print("wrote", DST)
