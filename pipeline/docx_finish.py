"""Finish a DOCX written by pandoc: header and footer texts, landscape sections, tick boxes, properties.

Pandoc cannot put variables in headers, so the reference document carries placeholders that are
filled here; the archive is then rewritten with fixed dates so that the same sources always give
the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable

STORED = (".png", ".jpg", ".jpeg", ".gif")
PLACEHOLDER = re.compile("QD_HEADER_LEFT|QD_HEADER_RIGHT|QD_FOOTER_LEFT")
W14 = "http://schemas.microsoft.com/office/word/2010/wordml"
MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
CHECKBOX = (
    '<w:sdt><w:sdtPr><w14:checkbox><w14:checked w14:val="0"/>'
    '<w14:checkedState w14:val="2612" w14:font="MS Gothic"/>'
    '<w14:uncheckedState w14:val="2610" w14:font="MS Gothic"/></w14:checkbox></w:sdtPr>'
    '<w:sdtContent><w:r><w:rPr><w:rFonts w:ascii="MS Gothic" w:eastAsia="MS Gothic" w:hAnsi="MS Gothic"/>'
    "</w:rPr><w:t>\u2610</w:t></w:r></w:sdtContent></w:sdt>"
)
# The run pandoc writes for a tick box's marker text (see markdown.checkbox), with any formatting.
CHECKBOX_RUN = re.compile('<w:r>(?:<w:rPr>(?:(?!</w:r>).)*?</w:rPr>)?<w:t xml:space="preserve">'
                          '\ue000QDCHECKBOX\ue000</w:t></w:r>')
CORE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<dc:title>{title}</dc:title><dc:creator>{creator}</dc:creator><cp:lastModifiedBy>{creator}</cp:lastModifiedBy>"
    "<dc:language>fr-FR</dc:language>"
    '<dcterms:created xsi:type="dcterms:W3CDTF">{date}</dcterms:created>'
    '<dcterms:modified xsi:type="dcterms:W3CDTF">{date}</dcterms:modified></cp:coreProperties>'
)


def xml_escape(text: str) -> str:
    """Text for XML character data (xml.sax.saxutils would import urllib and http: 16 ms per build)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def finish_docx(data: bytes, texts: dict[str, str], title: str, creator: str, version: dt.date) -> bytes:
    """Return the finished DOCX bytes, identical for identical inputs."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    return finish_parts(parts, texts, title, creator, version)


def finish_parts(parts: dict[str, bytes], texts: dict[str, str], title: str, creator: str,
                 version: dt.date) -> bytes:
    """Zip a document's parts (name → bytes, written in that order) into finished DOCX bytes."""
    stamp = (min(max(version.year, 1980), 2107), version.month, version.day, 0, 0, 0)  # what a ZIP can date
    finished = ((name, _finish_part(name, data, texts, title, creator, version)) for name, data in parts.items())
    return zip_members(finished, stamp)


# What pandoc writes the same in every document (styles, theme, numbering, fonts, settings…) is 70 % of
# what a build deflates: each distinct member is deflated once per process (1 s of 17 in a cold build of
# 100 courses). What differs in each document is deflated each time, and not kept.
_DEFLATED: dict[bytes, bytes] = {}
_EACH_ITS_OWN = re.compile(r"word/document\.xml|docProps/core\.xml|word/(header|footer)\d*\.xml")


def _deflate(name: str, data: bytes) -> bytes:
    if _EACH_ITS_OWN.fullmatch(name):
        return _raw_deflate(data)
    deflated = _DEFLATED.get(data)
    if deflated is None:
        if len(_DEFLATED) > 64:  # another project in the same process (tests, watch): start again
            _DEFLATED.clear()
        deflated = _DEFLATED[data] = _raw_deflate(data)
    return deflated


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)  # zipfile's, without its header
    return compressor.compress(data) + compressor.flush()


def zip_members(members: Iterable[tuple[str, bytes]], stamp: tuple[int, ...]) -> bytes:
    """A ZIP archive of these members, the same bytes as zipfile writes them (tested): images stored,
    the rest deflated, one date for all, rw-r--r--.

    Written here rather than through zipfile, which deflates each member again in every document.
    """
    year, month, day, hour, minute, second = stamp
    dos_time, dos_date = hour << 11 | minute << 5 | second // 2, (year - 1980) << 9 | month << 5 | day
    out, directory = io.BytesIO(), []
    for name, data in members:
        stored = name.endswith(STORED)  # images are compressed already: deflating them again costs, for nothing
        packed = data if stored else _deflate(name, data)
        method, crc = (0 if stored else 8), zlib.crc32(data)
        encoded, flags = (name.encode("ascii"), 0) if name.isascii() else (name.encode(), 0x800)
        fields = (20, 0, flags, method, dos_time, dos_date, crc, len(packed), len(data), len(encoded), 0)
        directory.append(struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, *fields, 0, 0, 0, 0o644 << 16,
                                     out.tell()) + encoded)
        out.write(struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", *fields) + encoded + packed)
    start = out.tell()
    out.writelines(directory)
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(directory), len(directory), out.tell() - start,
                          start, 0))
    return out.getvalue()


def _finish_part(name: str, content: bytes, texts: dict[str, str], title: str, creator: str,
                 version: dt.date) -> bytes:
    if name == "docProps/core.xml":
        date = f"{version.isoformat()}T00:00:00Z"
        return CORE.format(title=xml_escape(title), creator=xml_escape(creator), date=date).encode()
    if name == "word/document.xml":
        return _finish_body(content.decode()).encode()
    if name == "word/settings.xml":
        return _french_settings(content.decode()).encode()
    if re.fullmatch(r"word/(header|footer)\d*\.xml", name):
        # One pass, so that a placeholder's name inside a value is not replaced in its turn.
        return PLACEHOLDER.sub(lambda m: xml_escape(texts.get(m.group(), "")), content.decode()).encode()
    return content


COMPAT = ('<w:compat><w:compatSetting w:name="compatibilityMode" w:uri="http://schemas.microsoft.com/office/word" '
          'w:val="15"/></w:compat>')


def _french_settings(xml: str) -> str:
    """Word's current mode (not « Mode de compatibilité »), French language, decimal comma.

    w:compat stands before w:rsids in the schema's order of w:settings.
    """
    if "<w:compat>" not in xml:
        anchor = xml.find("<w:rsids") if "<w:rsids" in xml else xml.find("<w:themeFontLang")
        xml = xml[:anchor] + COMPAT + xml[anchor:] if anchor >= 0 else xml
    xml = re.sub(r'<w:themeFontLang w:val="[^"]*"', '<w:themeFontLang w:val="fr-FR"', xml)
    xml = xml.replace('<w:decimalSymbol w:val="." />', '<w:decimalSymbol w:val="," />')
    return xml.replace('<w:listSeparator w:val="," />', '<w:listSeparator w:val=";" />')


def _finish_body(xml: str) -> str:
    if "\ue000QDCHECKBOX\ue000" in xml:
        xml = CHECKBOX_RUN.sub(lambda _: CHECKBOX, xml)
        xml = xml.replace("<w:document ", f'<w:document xmlns:w14="{W14}" xmlns:mc="{MC}" mc:Ignorable="w14" ', 1)
    if "QDPORTRAIT" not in xml and "QDLANDSCAPE" not in xml:
        return xml
    start = xml.rindex("<w:sectPr")
    end = xml.index("</w:sectPr>", start) + len("</w:sectPr>")
    portrait = xml[start:end]
    xml = xml.replace('<w:sectPr w:rsidR="QDPORTRAIT"/>', portrait)
    # A landscape part that ends the document is the last section itself: closing it with a paragraph
    # would leave an empty portrait section after it, a blank page in Word and LibreOffice.
    last = xml.rindex("<w:sectPr")
    ending = re.search(r'<w:p><w:pPr><w:sectPr w:rsidR="QDLANDSCAPE"/></w:pPr></w:p>\s*$', xml[:last])
    if ending and xml[ending.end():].startswith(portrait):
        xml = xml[:ending.start()] + _landscape(portrait) + xml[ending.end() + len(portrait):]
    return xml.replace('<w:sectPr w:rsidR="QDLANDSCAPE"/>', _landscape(portrait))


def _landscape(section: str) -> str:
    """Turn the page of a section's properties to landscape."""
    size = re.search(r"<w:pgSz [^>]*/>", section)
    if not size:
        return section
    width = re.search(r'w:w="(\d+)"', size.group()).group(1)  # type: ignore[union-attr]
    height = re.search(r'w:h="(\d+)"', size.group()).group(1)  # type: ignore[union-attr]
    turned = f'<w:pgSz w:w="{height}" w:h="{width}" w:orient="landscape" />'
    return section.replace(size.group(), turned)
