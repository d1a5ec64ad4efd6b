"""The typst writer: every construct the Markdown reader gives reaches the PDF, and text stays text."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pypandoc
import pypdf
import pytest
import typst

from pipeline.pandoc_adapter import READER
from pipeline.typst_adapter import typst_source
from pipeline.typst_writer import Unsupported, write_typst
from tests.helpers import REPO, normalise

MARKDOWN = r"""![](logo.png){height=12mm}

# Titre de niveau 1

## Titre de niveau 2

Un paragraphe avec *emphase*, **gras**, `code`, [un lien](https://example.org) et une coupure\
de ligne.

- premier point
  - sous-point
- second point

3) troisième
4) quatrième

> Une citation.

```
bloc de code
```

---

::: {.table widths="1,3"}
| Gauche | Droite |
|:---|---:|
| a1 | b1 |
:::

Case : [☐]{.checkbox} cochée.

::: {.answer lines="2"}
:::

::: signature
Signature du stagiaire
:::

::: pagebreak
:::

::: landscape
Page en paysage.
:::

Fin.
"""


def pdf_of(body: str, stage: Path) -> pypdf.PdfReader:
    shutil.copy(REPO / "templates/style.typ", stage / "style.typ")
    shutil.copy(REPO / "content/assets/logo-formavenir.png", stage / "logo.png")
    meta = {"title": "Essai", "organisation": "Org", "header_left": "H", "header_right": "R", "footer_left": "F"}
    source = typst_source(meta, body)
    pdf = typst.Compiler(root=str(stage), ignore_system_fonts=True,
                         font_paths=[str(REPO / "templates/fonts")]).compile(input=source.encode(), format="pdf")
    return pypdf.PdfReader(io.BytesIO(pdf))


def tree(markdown: str) -> dict:
    return json.loads(pypandoc.convert_text(markdown, "json", format=READER))


def test_every_construct_reaches_the_pdf(tmp_path):
    body = write_typst(tree(MARKDOWN))
    reader = pdf_of(body, tmp_path)
    pages = [normalise(page.extract_text()) for page in reader.pages]
    first = pages[0]
    expected = ["Titre de niveau 1", "Titre de niveau 2", "emphase", "gras", "code", "un lien", "premier point",
                "sous-point", "second point", "3) troisième", "4) quatrième", "Une citation.", "bloc de code",
                "Gauche", "Droite", "a1", "b1", "Case :", "cochée.", "Signature du stagiaire"]
    positions = [first.find(text) for text in expected]
    assert -1 not in positions, [t for t, p in zip(expected, positions, strict=True) if p == -1]
    assert positions == sorted(positions)
    assert "Page en paysage." in pages[1] and "Fin." in pages[2]  # page break, then landscape, then portrait
    sizes = [(page.mediabox.width, page.mediabox.height) for page in reader.pages]
    assert sizes[0][0] < sizes[0][1] and sizes[1][0] > sizes[1][1] and sizes[2][0] < sizes[2][1]
    assert "#link(\"https://example.org\")" in body and "#box(image(\"logo.png\", height: 12mm))" in body
    assert "columns: (25%, 75%,)" in body and "align: (left, right,)" in body
    assert "#answer-box(2)" in body and "#(checkbox)" in body and reader.pages[0].images


HOSTILE = (r"#set text(red) $x^2$ <label> @ref // comment /* c */ ... -- --- ~ -? 1. 2) + - = / "
           r"\ ` * _ [ ] { } ( ) ' \" #(1+1) http://example.org a\nb é € « »")


@pytest.mark.parametrize("where", ["{}", "# {}", "- {}", "| a |\n|---|\n| {} |"])
def test_text_is_shown_as_typed(tmp_path, where):
    text = HOSTILE.replace("\\n", "n")
    document = {"pandoc-api-version": [1, 23, 1], "meta": {}, "blocks": []}
    parsed = tree(where.format("X"))
    # Put the text in place of X as one string, as the reader gives text typed in the content.
    serialised = json.dumps(parsed).replace('{"t": "Str", "c": "X"}', json.dumps({"t": "Str", "c": text}))
    document["blocks"] = json.loads(serialised)["blocks"]
    shown = normalise(" ".join(page.extract_text() for page in pdf_of(write_typst(document), tmp_path).pages))
    assert normalise(text).replace(" ", "") in shown.replace(" ", "")  # a line may wrap after `//`


def test_what_the_writer_does_not_know_fails_the_document():
    with pytest.raises(Unsupported, match="unsupported element Note"):
        write_typst({"blocks": [{"t": "Para", "c": [{"t": "Note", "c": []}]}]})
    with pytest.raises(Unsupported, match="seules les images préparées par la construction"):
        write_typst(tree("![](https://example.org/x.png)"))
    with pytest.raises(Unsupported, match="seules les images préparées par la construction"):
        write_typst(tree("![](../secret.png)"))


def _rows_table(rows: list[list[str]], whole: bool) -> str:
    from pipeline.templating import Md, table

    return str(table(["Formation", "Preuves"], rows, [1, 3], whole_rows=whole)) if rows else str(Md(""))


@pytest.mark.parametrize("whole", [True, False])
def test_rows_kept_whole_on_a_page_when_asked(tmp_path, whole):
    # 40 rows of two to seven lines (as in the skills matrix's evidence table): some row meets a page's end.
    rows = [[f"Formation {k}", f"debut{k}x " + " ".join(f"ligne{n}" + " mot" * 20 for n in range(2 + k % 6))
             + f" fin{k}x"] for k in range(40)]
    reader = pdf_of(write_typst(tree(_rows_table(rows, whole))), tmp_path)
    pages = [normalise(page.extract_text()) for page in reader.pages]
    split = [k for k in range(40)
             if not any(f"debut{k}x" in page and f"fin{k}x" in page for page in pages)]
    for k in range(40):  # nothing is lost either way
        assert any(f"debut{k}x" in page for page in pages) and any(f"fin{k}x" in page for page in pages)
    if whole:
        assert split == [] and len(pages) > 2
    else:
        assert split  # typst splits rows by default: the case the attribute exists for


def test_a_row_taller_than_a_page_is_still_split_and_nothing_is_lost(tmp_path):
    long = " ".join(f"mot{n}" for n in range(3000))
    reader = pdf_of(write_typst(tree(_rows_table([["Courte", "a"], ["Longue", long], ["Après", "b"]], True))),
                    tmp_path)
    shown = normalise(" ".join(page.extract_text() for page in reader.pages))
    assert len(reader.pages) >= 2
    for n in (0, 1500, 2999):
        assert f"mot{n} " in shown + " "
    assert "Après" in shown
