"""Property: whatever text a user types in any text field, the DOCX and the PDF show exactly that text."""

from __future__ import annotations

import tempfile
import unicodedata
from pathlib import Path

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pipeline.build import build
from pipeline.project import Project
from tests.helpers import copy_project, docx_text, pdf_text
from tests.test_hardening import HOSTILE, set_fields, squash
from tests.textfields import SAMPLES, text_locations

FIELDS = [(name, location) for name, model in SAMPLES.items()
          for location in text_locations(model, yaml.safe_load((Path(__file__).parent.parent / name)
                                                               .read_text(encoding="utf-8")))]
# What the fonts cover (see templates/fonts/README.md): Latin with accents, Greek, Cyrillic, symbols, emoji, CJK.
# Right-to-left scripts are tested apart: PDF text extraction returns them in visual order.
CHARACTERS = ([chr(c) for c in range(0x21, 0x7F)] + [chr(c) for c in range(0xC0, 0x180)]
              + [chr(c) for c in range(0x391, 0x3AA)] + [chr(c) for c in range(0x3B1, 0x3CA)]
              + [chr(c) for c in range(0x410, 0x450)] + list("«»–—‘’“”…€‰•°²½×™✓♥★⚠🎉😀") + [" ", " ", "\n"]
              + list("漢字日本語中文测试한국어") + ["e\u0301", "a\u0300", "c\u0327", "o\u0308"])
CHARACTERS = [c for c in CHARACTERS if unicodedata.category(c[0]) != "Cn"]  # no unassigned code point
word = st.lists(st.sampled_from(CHARACTERS), min_size=1, max_size=25).map("".join)
long_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéèà", min_size=80, max_size=160)
# A text that says something: a letter or a digit, of any script. Punctuation or symbols alone (« … », « ★ »)
# say nothing: in a mandatory mention they count as absent, and the sheet says « À compléter » instead
# (test_mentions.py); they are tested with letters around them.
text = st.one_of(word, word, long_word, st.sampled_from(HOSTILE),
                 st.lists(word, min_size=2, max_size=3).map("\n\n".join)).filter(
    lambda s: any(c.isalnum() for c in s))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # shrinking a 13-document build takes too long
@given(st.lists(text, min_size=len(FIELDS), max_size=len(FIELDS)))
def test_any_text_round_trips(values):
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_project(Path(tmp))
        for name in SAMPLES:
            set_fields(root, name, {loc: v for (file, loc), v in zip(FIELDS, values) if file == name})
        report = build(Project.at(root))
        assert not report.failed, report.failed
        out = root / "build"
        docx_all = squash(" ".join(docx_text(p) for p in sorted(out.rglob("*.docx"))))
        pdf_all = squash(" ".join(pdf_text(p) for p in sorted(out.rglob("*.pdf"))))
        for (name, location), value in zip(FIELDS, values):
            assert squash(value) in docx_all, (name, location, value)
            assert shown_in_order(squash(value), pdf_all), (name, location, value)


def shown_in_order(text: str, document: str) -> bool:
    """Whole, or whole but for a table row continued on the next page (its header and footer in between)."""
    if text in document:
        return True
    for cut in range(len(text) - 1, 0, -1):
        start = document.find(text[:cut])
        if start >= 0:
            rest = document.find(text[cut:], start + cut)
            return 0 <= rest - (start + cut) < 600  # a page's footer, header and repeated table header
    return False
