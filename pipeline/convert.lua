-- Read many Markdown files in one pandoc process (pandoc lua convert.lua SETTINGS): write each one's DOCX,
-- and its document tree as JSON, from which typst_writer.py writes the typst source of the PDF.
-- SETTINGS is a JSON file: {"reader", "reference_doc", "group", "prefix"}. Jobs come on stdin, one JSON line
-- each ({"markdown", "tree"}: file names), as the build has them ready; the end of stdin ends the process.
-- One JSON line per event is printed on stdout, as soon as it happens:
--   {"event": "tree", "markdown": ...}                       the document's tree is written;
--   {"event": "tree", "markdown": ..., "python": true}      … and its DOCX is the build's to write (a job
--                                                           with {"python": true}: docx_writer.py); with
--                                                           "reused": n, n of its parts were not read (a job
--                                                           with {"shared": true}: read_shared); with
--                                                           "reads": n, a large document's parts were read
--                                                           in n reads (read_parts_json);
--   {"event": "docx", "file": ..., "documents": [...]}      a DOCX holding these documents, in this order, each
--                                                           followed by a marker paragraph (see docx_split.py);
--   {"event": "error", "markdown": ..., "error": "..."}     the document failed.
-- A large document in parts ({"parts": true}) has its DOCX written from its parts: the "docx" event says
-- what each part needs ({"parts": [...]}). After an edit, a part read again ({"part": true, "keep": true})
-- is reported by {"event": "part"} (its tree; with "python": true, its DOCX is the build's to write, a
-- job with {"python": true}: docx_writer.py); the parts of a document read again have their DOCX written
-- together ({"part": true, "parts_docx": [...], "first"}), reported by {"event": "partsdocx", "file",
-- "parts", "needs"} (a DOCX holding those parts, each followed by a marker); and their
-- document, sent with {"unless_fits": {"frame", "known", "parts"}}, by {"event": "fits"} if the kept
-- parts and those make its DOCX (docx_parts.py), or else as any document.
-- Pandoc's DOCX writer costs about 25 ms per call whatever the size, so documents are written in groups
-- of documents that need the same styles; those with comments are written alone.

local settings_file = io.open(arg[1], "r")
local settings = pandoc.json.decode(settings_file:read("a"))
settings_file:close()

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

-- `::: {.table widths="1,3"}` around a pipe table sets its relative column widths.
local function sized_table(div)
  local widths = div.attributes["widths"]
  local tbl = div.content[1]
  if not widths or not tbl or tbl.t ~= "Table" then return div.content end
  local numbers, total = {}, 0
  for w in widths:gmatch("%d+") do numbers[#numbers + 1] = tonumber(w); total = total + tonumber(w) end
  for i, spec in ipairs(tbl.colspecs) do
    if numbers[i] then tbl.colspecs[i] = { spec[1], numbers[i] / total } end
  end
  return tbl
end

-- Images come from the build folder only: never a URL, an absolute path or a path leaving the folder.
local function local_image(img)
  local src = img.src
  if src:match("^%a[%w+.-]*:") or src:sub(1, 1) == "/" or src:find("%.%.") then
    error("image " .. src .. " refusée : seules les images préparées par la construction peuvent être insérées", 0)
  end
end

local PAGE_BREAK = '<w:p><w:r><w:br w:type="page"/></w:r></w:p>'

local function section_end(kind)
  -- Placeholder completed after pandoc, from the document's own section properties.
  return pandoc.RawBlock("openxml", '<w:p><w:pPr><w:sectPr w:rsidR="QD' .. kind .. '"/></w:pPr></w:p>')
end

-- An answer box: a table of one cell, as many blank lines as asked (an empty paragraph would be left out by
-- pandoc: a box one line high in Word and LibreOffice, whatever the question asks for).
local function answer_table(lines)
  local paras = {}
  for _ = 1, lines do paras[#paras + 1] = pandoc.Para({ pandoc.Str("\u{00A0}") }) end
  local cell = pandoc.Cell(paras)
  local row = pandoc.Row({ cell })
  local body = { body = { row }, head = {}, attr = pandoc.Attr(), row_head_columns = 0 }
  return pandoc.Table({ long = {} }, { { pandoc.AlignDefault, 1.0 } }, pandoc.TableHead({}), { body },
    pandoc.TableFoot({}), pandoc.Attr("", {}, { ["custom-style"] = "AnswerBox" }))
end

local function docx_filter(needs, inlines)
  -- `needs` collects what decides the DOCX's shared parts (styles, comments): documents are grouped by it.
  local function style(attr)
    local name = attr.attributes["custom-style"]
    if name then needs.styles[name] = true end
  end
  local filter = {
    Div = function(div)
      style(div)
      if div.classes:includes("table") then
        return sized_table(div)
      elseif div.classes:includes("pagebreak") then
        return pandoc.RawBlock("openxml", PAGE_BREAK)
      elseif div.classes:includes("landscape") then
        -- A landscape part at the very start needs no portrait section before it (no blank page), nor
        -- one that continues the landscape section before it (`.continued`: the next block of a long table).
        local blocks = pandoc.Blocks{}
        if not div.attributes["first"] and not div.classes:includes("continued") then
          blocks:insert(section_end("PORTRAIT"))
        end
        blocks:extend(div.content)
        blocks:insert(section_end("LANDSCAPE"))
        return blocks
      elseif div.classes:includes("answer") then
        -- (a table's custom style is only named in the table: it adds no style to the DOCX)
        return answer_table(tonumber(div.attributes["lines"] or "3"))
      elseif div.classes:includes("signature") then
        return div.content
      end
    end,
    CodeBlock = function() needs.styles[" code block"] = true end,
    BlockQuote = function() needs.styles[" quote"] = true end,
    HorizontalRule = function() needs.styles[" rule"] = true end,
  }
  if inlines then
    filter.Image = local_image
    filter.Span = function(span)
      style(span)
      if span.classes:includes("comment-start") or span.classes:includes("comment-end") then
        needs.alone = true
      end
    end
    filter.Link = function() needs.styles[" link"] = true end
    filter.Code = function() needs.styles[" code"] = true end
  end
  return filter
end

-- Visiting inline elements (every word) costs a fifth of a conversion: the walk visits them only when
-- the Markdown can hold a span (`]{`, tick boxes aside), a link (`](`, `][`, `]:`, `<`), code (a
-- backtick) or an image written otherwise than `![alt](src)`. Text from the content cannot hold any of
-- these: its punctuation is backslash-escaped. Images written the simple way are checked from the text.
local function count(text, plain)
  local found, from = 0, 1
  while true do
    local at = text:find(plain, from, true)
    if not at then return found end
    found, from = found + 1, at + #plain
  end
end

local function needs_inlines(text)
  -- tick boxes are spans too, but need nothing here (see markdown.checkbox and docx_finish.py)
  if count(text, "]{") ~= count(text, "\u{E000}]{.checkbox}") then return true end
  for _, mark in ipairs({ "][", "]:", "<", "`" }) do
    if text:find(mark, 1, true) then return true end
  end
  local images, simple, links = 0, 0, 0
  for _ in text:gmatch("!%[") do images = images + 1 end
  for _ in text:gmatch("%]%(") do links = links + 1 end
  for src in text:gmatch("!%[[^%]%[]*%]%(([^%s%)]*)%)") do
    local_image({ src = src })  -- raises for a URL, an absolute path or a path leaving the folder
    simple = simple + 1
  end
  return simple ~= images or links ~= images
end

-- The build writes the DOCX of a small document itself from its tree (docx_writer.py, `python` jobs), unless
-- its Markdown can hold a span, a link, code (needs_inlines), or text pandoc writes in runs of its own:
-- CJK scripts (from U+2E80, private use excepted) and soft hyphens. Its tree event then says `python`.
local function written_otherwise(text)
  return text:find("[\xE3-\xED\xF0-\xF4]") or text:find("\xE2[\xBA-\xBF]") or text:find("\xEF[\xA4-\xBF]")
    or text:find("\xC2\xAD")
end

-- Between documents: a heading, so that the next document starts as a document does (its first paragraph
-- is a "First Paragraph"); its text cannot come from content (private-use characters, see docx_split.py).
local MARKER = pandoc.Header(1, { pandoc.Str("\u{E000}QDSPLIT\u{E000}") })
local reader = settings.reader
local docx_options = { reference_doc = settings.reference_doc }
local group_size = settings.group or 20
local groups, keys, written = {}, {}, 0

local function report(event)
  io.stdout:write(pandoc.json.encode(event), "\n")
  io.stdout:flush()
end

-- Write one DOCX of these members' blocks, a marker after each; return its name, or nil and the error.
local function write_marked(members)
  written = written + 1
  local name = settings.prefix .. written .. ".docx"
  local blocks = pandoc.Blocks{}
  for _, member in ipairs(members) do
    blocks:extend(member.blocks)
    blocks:insert(MARKER)
  end
  local ok, err = pcall(function() write_file(name, pandoc.write(pandoc.Pandoc(blocks), "docx", docx_options)) end)
  return ok and name or nil, err
end

local function write_group(members)
  local name, err = write_marked(members)
  if name then
    local documents = {}
    for i, member in ipairs(members) do documents[i] = member.markdown end
    report({ event = "docx", file = name, documents = documents })
  elseif #members > 1 then
    for _, member in ipairs(members) do write_group({ member }) end  -- find the one that fails
  else
    report({ event = "error", markdown = members[1].markdown, error = tostring(err) })
  end
end

local function flush(key)
  if groups[key] and #groups[key] > 0 then write_group(groups[key]) end
  groups[key] = {}
end

-- A large document comes in parts (see chunks.py), a marker paragraph between them: each part is read on
-- its own, and its tree is written one part per line, whose typst markup the build keeps.
-- Its DOCX is written from its parts, a marker between them (see docx_parts.py), unless one part holds
-- comments (numbered in a part of their own): then whole, alone.
local PART = "\u{E000}QDCHUNK\u{E000}"
local SEPARATOR = "\n" .. PART .. "\n\n"  -- between two parts (chunks.marked)

local function marked_parts(marked)  -- the parts of a text marked by chunks.marked
  local parts, start = {}, 1
  while true do
    local at = marked:find(SEPARATOR, start, true)
    parts[#parts + 1] = marked:sub(start, at and at - 1 or #marked)
    if not at then break end
    start = at + #SEPARATOR
  end
  return parts
end

-- A large document's parts (marked by chunks.marked), each read on its own as after an edit (a part cannot
-- depend on what comes before it: chunks.py), rather than the whole text then cut at its markers: the same
-- tree, written one part per line, and the same DOCX, in two thirds of the time, and the tree is not held
-- several times over (at N = 1000, the log: 10.0 -> 6.7 s, 618 -> 491 MB).
local function read_in_parts(text)
  local parts, lines = {}, {}
  for _, markdown in ipairs(marked_parts(text)) do
    local part = pandoc.read(markdown, reader)
    local first = part.blocks[1]
    if #parts == 0 and first and first.t == "Div" and first.classes:includes("landscape") then
      first.attributes["first"] = "true"
    end
    parts[#parts + 1] = part.blocks
    lines[#lines + 1] = pandoc.write(part, "json")
  end
  return table.concat(lines, "\n"), parts
end

-- In a full build, a document marked in parts ({"shared": true}) whose DOCX the build writes from its tree
-- has only the parts this process has not met twice read, in one read with a marker paragraph between them
-- (a read costs 0.6 ms before its first character); a part met again (a course's contacts or evaluation
-- table, a questionnaire's fixed sections: the same in every document of its kind) takes the JSON of its
-- blocks from the first read. A part cannot depend on what comes before it (chunks.py): its blocks joined are
-- the tree the whole text gives. Held: the JSON of each part met twice, the text of each part met once (to
-- know it again). N = 100, the 200 programmes and questionnaires: 1.4-1.7 s -> 0.7 s.
local EMPTY = pandoc.write(pandoc.Pandoc({}), "json")
local HEAD, TAIL = EMPTY:sub(1, #EMPTY - 2), "]}"  -- `{…,"blocks":[` and `]}`

local function blocks_json(json)  -- the blocks of a document's JSON, without the brackets
  if json:sub(1, #HEAD) ~= HEAD or json:sub(-#TAIL) ~= TAIL then return nil end
  return json:sub(#HEAD + 1, -#TAIL - 1)
end

local PART_JSON = blocks_json(pandoc.write(pandoc.Pandoc({ pandoc.Para({ pandoc.Str(PART) }) }), "json"))
local met, held = {}, {}

local function is_part_marker(block)
  return block.t == "Para" and #block.content == 1 and block.content[1].t == "Str"
    and block.content[1].text == PART
end

-- The JSON of each text's blocks (without brackets), the texts read in one read with a marker paragraph
-- between them; nil if a marker is not between two blocks (never cut so by chunks.py, but checked).
local function read_json_pieces(texts)
  local doc = pandoc.read(table.concat(texts, "\n" .. SEPARATOR), reader)
  local markers = 0
  for _, block in ipairs(doc.blocks) do
    if is_part_marker(block) then markers = markers + 1 end
  end
  local all = blocks_json(pandoc.write(doc, "json"))
  if not all or not PART_JSON or markers ~= #texts - 1 then return nil end
  local pieces, from = {}, 1
  while true do
    local at = all:find(PART_JSON, from, true)
    pieces[#pieces + 1] = all:sub(from, at and at - 1 or #all):gsub("^,", ""):gsub(",$", "")
    if not at then break end
    if #pieces >= #texts then return nil end
    from = at + #PART_JSON
  end
  if #pieces ~= #texts then return nil end
  return pieces
end

-- A document's first block, if a section that turns the page, is told it is the first (typst_writer.py), as
-- read_in_parts and convert() do; nil if it is another Div, which they would have to be asked about.
local LANDSCAPE = '{"t":"Div","c":[["",["landscape"],[]]'
local LANDSCAPE_FIRST = '{"t":"Div","c":[["",["landscape"],[["first","true"]]]'

local function first_told(pieces, whole)
  for i, piece in ipairs(pieces) do
    if piece ~= "" or not whole then  -- read whole: the first block; in parts (read_in_parts): the first part's
      if piece:sub(1, #LANDSCAPE) == LANDSCAPE then
        pieces[i] = LANDSCAPE_FIRST .. piece:sub(#LANDSCAPE + 1)
      elseif piece:sub(1, 10) == '{"t":"Div"' then
        return nil
      end
      return pieces
    end
  end
  return pieces
end

local function as_lines(pieces)  -- one document per part, as read_in_parts writes them
  return HEAD .. table.concat(pieces, TAIL .. "\n" .. HEAD) .. TAIL
end

-- The JSON tree of a document marked in parts, one line per part (each a document of the part's blocks,
-- as a large document's: the build parses a part met twice once), and how many of its parts were not read;
-- or nil where it must be read whole.
local function read_shared(marked)
  local parts = marked_parts(marked)
  local new, json = {}, {}
  for _, part in ipairs(parts) do
    if not held[part] and not json[part] then new[#new + 1], json[part] = part, true end
  end
  if #new > 0 then
    local pieces = read_json_pieces(new)
    if not pieces then return nil end
    for i, part in ipairs(new) do json[part] = pieces[i] end
  end
  local pieces, reused = {}, 0
  for _, part in ipairs(parts) do
    local piece = held[part] or json[part]
    if held[part] then reused = reused + 1 end
    if not held[part] then
      if met[part] then held[part], met[part] = piece, nil else met[part] = true end
    end
    pieces[#pieces + 1] = piece
  end
  pieces = first_told(pieces, true)
  return pieces and as_lines(pieces), reused
end

-- A large document whose DOCX the build writes from its tree: its parts' JSON, one line each, read by
-- batches of about 16 kB rather than one read per part (0.6 ms each: the log has 200 parts, the skills
-- matrix 130; N = 100: 0.35 + 0.19-0.26 -> 0.29 + 0.12-0.16 s), and how many reads; nil where
-- read_in_parts must read it.
local BATCH = 16000

local function read_parts_json(marked)
  local parts, pieces, i, reads = marked_parts(marked), {}, 1, 0
  while i <= #parts do
    local batch, size = {}, 0
    while i <= #parts and (size == 0 or size + #parts[i] <= BATCH) do
      batch[#batch + 1], size, i = parts[i], size + #parts[i], i + 1
    end
    local read = read_json_pieces(batch)
    if not read then return nil end
    for _, piece in ipairs(read) do pieces[#pieces + 1] = piece end
    reads = reads + 1
  end
  pieces = first_told(pieces, false)
  return pieces and as_lines(pieces), reads
end

local function needs_of(needs)
  local names = {}
  for name in pairs(needs.styles) do names[#names + 1] = name end
  table.sort(names)
  return table.concat(names, "\0")
end

-- The blocks of a part for its DOCX, and what it needs (nil if it holds comments).
local function part_for_docx(blocks, inlines)
  local needs = { styles = {}, alone = false }
  local walked = pandoc.Pandoc(blocks):walk(docx_filter(needs, inlines))
  if needs.alone then return nil end
  return walked.blocks, needs_of(needs)
end

local function write_parts(markdown, parts, inlines)
  local members, keys = {}, {}
  for i, blocks in ipairs(parts) do
    local walked, key = part_for_docx(blocks, inlines)
    if not walked then return false end
    members[i], keys[i] = { blocks = walked }, key
  end
  local name, err = write_marked(members)
  if name then
    report({ event = "docx", file = name, documents = { markdown }, parts = keys })
  else
    report({ event = "error", markdown = markdown, error = tostring(err) })
  end
  return true
end

-- What each part read again by this process needs for its DOCX (false: it failed, or holds comments).
local part_needs = {}

-- One part of a large document, read again after an edit: its tree, and its DOCX if asked (parts_docx).
local read_parts = {}  -- a part read whose DOCX is still to write: its tree and its text
local python_parts = {}  -- a part read whose DOCX the build writes from its tree (docx_writer.py)

-- The DOCX of the parts of one document read again (`keep`), written together, a marker after each (pandoc's
-- DOCX writer costs 15 to 25 ms per call: a course's title is in each of its log entries); a part that
-- holds comments, or was not read, is left out (its document's DOCX then comes from its whole tree).
local function parts_docx(job)
  local members, names, needs = {}, {}, {}
  for _, name in ipairs(job.parts_docx) do
    local read = read_parts[name]
    read_parts[name] = nil
    if not python_parts[name] then
      part_needs[name] = false  -- until written: the document's DOCX then comes from its whole tree
    end
    if read then
      local ok, walked, key = pcall(function()
        local doc = read.doc
        if name == job.first and doc.blocks[1] and doc.blocks[1].t == "Div"
            and doc.blocks[1].classes:includes("landscape") then
          doc.blocks[1].attributes["first"] = "true"
        end
        return part_for_docx(doc.blocks, needs_inlines(read.text))
      end)
      if not ok then
        report({ event = "error", markdown = name, error = tostring(walked) })
      elseif walked then
        members[#members + 1], names[#names + 1], needs[#needs + 1] = { blocks = walked }, name, key
      end
    end
  end
  if #members == 0 then return end
  local file, err = write_marked(members)
  if not file then  -- reported for each part; their document's DOCX comes from its whole tree
    for _, name in ipairs(names) do report({ event = "error", markdown = name, error = tostring(err) }) end
    return
  end
  for i, name in ipairs(names) do part_needs[name] = needs[i] end
  report({ event = "partsdocx", file = file, parts = names, needs = needs })
end

-- A part's tree, for its layout; its DOCX (`parts_docx` job) comes once every changed part's tree is written,
-- so that no layout waits behind a DOCX (a 200-row table: 0.1 s).
local function convert_part(job)
  if job.parts_docx then return parts_docx(job) end
  local doc, text
  local ok, err = pcall(function()
    text = read_file(job.markdown)
    doc = pandoc.read(text, reader)
    write_file(job.tree, pandoc.write(doc, "json"))
  end)
  if not ok then
    report({ event = "error", markdown = job.markdown, error = tostring(err) })
    return
  end
  if job.keep and job.python and not needs_inlines(text) and not written_otherwise(text) then
    python_parts[job.markdown], part_needs[job.markdown] = true, ""  -- needs no style: see `fits`
    report({ event = "part", markdown = job.markdown, python = true })
    return
  end
  if job.keep then read_parts[job.markdown] = { doc = doc, text = text } end
  report({ event = "part", markdown = job.markdown })
end

-- After an edit, a large document whose kept parts and the parts this process has just written make up
-- its DOCX needs no whole conversion: it fits if those parts need together what the kept frame was
-- written with (the same styles).
local function fits(check)
  local names = {}
  for _, key in ipairs(check.known) do names[#names + 1] = key end
  for _, part in ipairs(check.parts) do
    if not part_needs[part] then return false end
    names[#names + 1] = part_needs[part]
  end
  local union = {}
  for _, key in ipairs(names) do
    for name in key:gmatch("[^\0]+") do union[name] = true end
  end
  return needs_of({ styles = union }) == check.frame
end

local function convert(job)
  if job.part then return convert_part(job) end
  if job.unless_fits and fits(job.unless_fits) then
    report({ event = "fits", markdown = job.markdown })
    return
  end
  local needs = { styles = {}, alone = false }
  local parts, inlines, reused, batches
  local ok, result = pcall(function()
    local text = read_file(job.markdown)
    -- the markers of a document's parts (chunks.marked) change neither what it needs nor how it is written
    inlines = needs_inlines(text)
    local python = job.python and not inlines and not written_otherwise(text)
    if python and (job.parts or job.shared) then
      local tree, count = (job.parts and read_parts_json or read_shared)(text)
      if tree then
        write_file(job.tree, tree)
        if job.parts then batches = count else reused = count end
        return false
      end
    end
    if job.parts then
      local tree
      tree, parts = read_in_parts(text)
      write_file(job.tree, tree)
      if python then return false end
      return nil
    end
    if job.shared then
      text = text:gsub(SEPARATOR, "\n")
    end
    local doc = pandoc.read(text, reader)
    if doc.blocks[1] and doc.blocks[1].t == "Div" and doc.blocks[1].classes:includes("landscape") then
      doc.blocks[1].attributes["first"] = "true"
    end
    write_file(job.tree, pandoc.write(doc, "json"))
    if python then return false end
    return doc:walk(docx_filter(needs, inlines)).blocks
  end)
  if not ok then
    report({ event = "error", markdown = job.markdown, error = tostring(result) })
    return
  end
  if result == false then  -- its DOCX is written by the build from its tree (docx_writer.py)
    report({ event = "tree", markdown = job.markdown, python = true, reused = reused, reads = batches })
    return
  end
  report({ event = "tree", markdown = job.markdown })
  if parts then
    local written_in_parts = write_parts(job.markdown, parts, inlines)
    if written_in_parts then return end
    local whole = pandoc.Blocks{}
    for _, blocks in ipairs(parts) do whole:extend(blocks) end
    result = pandoc.Pandoc(whole):walk(docx_filter(needs, inlines)).blocks
    needs.alone = true
  end
  local member = { markdown = job.markdown, blocks = result }
  if needs.alone or job.alone then
    write_group({ member })
    return
  end
  local names = {}
  for name in pairs(needs.styles) do names[#names + 1] = name end
  table.sort(names)
  local key = table.concat(names, "\0")
  if not groups[key] then groups[key] = {}; keys[#keys + 1] = key end
  table.insert(groups[key], member)
  if #groups[key] >= (job.group or group_size) then flush(key) end
end

for line in io.stdin:lines() do
  if line ~= "" then convert(pandoc.json.decode(line)) end
end
for _, key in ipairs(keys) do flush(key) end
