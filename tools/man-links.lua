-- pandoc filter for the man pages (tools/man-pages.ts).
--  - A link to another doc page or to an anchor is plain text there (SEE ALSO names the pages);
--    a URL stays.
--  - Section titles in capitals, as man pages have them.
--  - A table becomes tagged paragraphs (.TP), as man pages list options, variables and messages:
--    the first column is the tag, the second the text, and any further non-empty cell follows
--    it as "(header: text)", "(default: 40)". Tables of many columns wrap badly at 80 columns.
function Link(el)
  if not el.target:match('^%a[%w+.-]*:') then
    return el.content
  end
end

function Header(el)
  if el.level == 1 then
    el.content = pandoc.Str(pandoc.utils.stringify(el.content):upper())
    return el
  end
end

local function inlines(cell)
  local out = pandoc.List()
  for i, block in ipairs(cell.contents) do
    if i > 1 then out:insert(pandoc.Space()) end
    if block.content then out:extend(block.content) end
  end
  return out
end

function Table(el)
  local headers = {}
  for _, row in ipairs(el.head.rows) do
    for i, cell in ipairs(row.cells) do
      headers[i] = pandoc.utils.stringify(cell.contents)
    end
  end
  local items = pandoc.List()
  for _, body in ipairs(el.bodies) do
    for _, row in ipairs(body.body) do
      local cells = row.cells
      local text = cells[2] and inlines(cells[2]) or pandoc.List()
      for i = 3, #cells do
        local more = inlines(cells[i])
        if #more > 0 then
          text:extend({ pandoc.Space(), pandoc.Str('(' .. (headers[i] or ''):lower() .. ':'), pandoc.Space() })
          text:extend(more)
          text:insert(pandoc.Str(')'))
        end
      end
      local blocks = pandoc.List({ pandoc.Para(text) })
      items:insert({ inlines(cells[1]), { blocks } })
    end
  end
  return pandoc.DefinitionList(items)
end
