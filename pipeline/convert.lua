-- Convert many Markdown files to DOCX and typst in one pandoc process (pandoc lua convert.lua MANIFEST).
-- The manifest is JSON: {"reader": "...", "reference_doc": "...", "jobs": [{"markdown", "docx", "typst"}]}.
-- One JSON line per job is printed on stdout: {"markdown": ..., "error": null | "message"}.

local manifest_file = io.open(arg[1], "r")
local manifest = pandoc.json.decode(manifest_file:read("a"))
manifest_file:close()

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

-- Pandoc's typst writer leaves some markup unescaped (`...`, `--`, `~`, `1.` at the start of a cell):
-- every text run holding punctuation is written with each punctuation character escaped.
local function typst_escape(text)
  return (text:gsub("[%p]", "\\%0"))
end

-- `::: {.table widths="1,3"}` around a pipe table sets its relative column widths (both formats).
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
    error("image " .. src .. " refused: only images prepared by the build can be embedded")
  end
end

local function typst_filter()
  return {
    Image = local_image,
    Str = function(s)
      if s.text:find("%p") then
        return pandoc.RawInline("typst", typst_escape(s.text))
      end
    end,
    Div = function(div)
      if div.classes:includes("table") then
        return sized_table(div)
      elseif div.classes:includes("pagebreak") then
        return pandoc.RawBlock("typst", "#pagebreak(weak: true)")
      elseif div.classes:includes("landscape") then
        local blocks = pandoc.Blocks{ pandoc.RawBlock("typst", "#set page(flipped: true)") }
        blocks:extend(div.content)
        blocks:insert(pandoc.RawBlock("typst", "#set page(flipped: false)"))
        return blocks
      elseif div.classes:includes("answer") then
        local lines = tonumber(div.attributes["lines"] or "3")
        return pandoc.RawBlock("typst", "#answer-box(" .. lines .. ")")
      elseif div.classes:includes("signature") then
        local blocks = pandoc.Blocks{ pandoc.RawBlock("typst", "#signature-box[") }
        blocks:extend(div.content)
        blocks:insert(pandoc.RawBlock("typst", "]"))
        return blocks
      elseif div.attributes["custom-style"] then
        local name = div.attributes["custom-style"]:gsub("[^%w]", "")
        local blocks = pandoc.Blocks{ pandoc.RawBlock("typst", "#style-" .. name .. "[") }
        blocks:extend(div.content)
        blocks:insert(pandoc.RawBlock("typst", "]"))
        return blocks
      end
    end,
    Span = function(span)
      if span.classes:includes("checkbox") then
        return pandoc.RawInline("typst", "#checkbox")
      end
    end,
  }
end

local PAGE_BREAK = '<w:p><w:r><w:br w:type="page"/></w:r></w:p>'

local function section_end(kind)
  -- Placeholder completed after pandoc, from the document's own section properties.
  return pandoc.RawBlock("openxml", '<w:p><w:pPr><w:sectPr w:rsidR="QD' .. kind .. '"/></w:pPr></w:p>')
end

local function answer_table(lines)
  local paras = {}
  for _ = 1, lines do paras[#paras + 1] = pandoc.Para({}) end
  local cell = pandoc.Cell(paras)
  local row = pandoc.Row({ cell })
  local body = { body = { row }, head = {}, attr = pandoc.Attr(), row_head_columns = 0 }
  return pandoc.Table({ long = {} }, { { pandoc.AlignDefault, 1.0 } }, pandoc.TableHead({}), { body },
    pandoc.TableFoot({}), pandoc.Attr("", {}, { ["custom-style"] = "AnswerBox" }))
end

local function docx_filter()
  return {
    Image = local_image,
    Div = function(div)
      if div.classes:includes("table") then
        return sized_table(div)
      elseif div.classes:includes("pagebreak") then
        return pandoc.RawBlock("openxml", PAGE_BREAK)
      elseif div.classes:includes("landscape") then
        -- A landscape part at the very start needs no portrait section before it (no blank page).
        local blocks = pandoc.Blocks{}
        if not div.attributes["first"] then blocks:insert(section_end("PORTRAIT")) end
        blocks:extend(div.content)
        blocks:insert(section_end("LANDSCAPE"))
        return blocks
      elseif div.classes:includes("answer") then
        return answer_table(tonumber(div.attributes["lines"] or "3"))
      elseif div.classes:includes("signature") then
        return div.content
      end
    end,
    Span = function(span)
      if span.classes:includes("checkbox") then
        return pandoc.RawInline("openxml", '<w:r><w:t xml:space="preserve">\u{E000}QDCHECKBOX\u{E000}</w:t></w:r>')
      end
    end,
  }
end

local reader = manifest.reader
local docx_options = { reference_doc = manifest.reference_doc }

for _, job in ipairs(manifest.jobs) do
  local ok, err = pcall(function()
    local doc = pandoc.read(read_file(job.markdown), reader)
    if doc.blocks[1] and doc.blocks[1].t == "Div" and doc.blocks[1].classes:includes("landscape") then
      doc.blocks[1].attributes["first"] = "true"
    end
    if job.docx then
      local for_docx = doc:walk(docx_filter())
      write_file(job.docx, pandoc.write(for_docx, "docx", docx_options))
    end
    if job.typst then
      local for_typst = doc:walk(typst_filter())
      write_file(job.typst, pandoc.write(for_typst, "typst-smart"))
    end
  end)
  io.stdout:write(pandoc.json.encode({ markdown = job.markdown, error = ok and pandoc.json.null or tostring(err) }), "\n")
  io.stdout:flush()
end
