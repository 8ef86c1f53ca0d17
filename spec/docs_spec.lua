-- The documentation's shape (issue 19): a README a newcomer reads in minutes, guide pages in
-- docs/ each with its own table of contents, and every relative link and anchor pointing at
-- something that exists.
local helper = require "helper"

local function markdown_files()
  local list = { "README.md" }
  local p = assert(io.popen("ls docs/*.md | sort"))
  for file in p:lines() do list[#list + 1] = file end
  p:close()
  return list
end

-- Lines outside code fences.
local function prose_lines(text)
  local lines, fence = {}, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local mark = line:match("^(```+)") or line:match("^(~~~+)")
    if mark then
      if not fence then fence = mark elseif line:match("^%s*(.-)%s*$") == fence then fence = nil end
    elseif not fence then
      lines[#lines + 1] = line
    end
  end
  return lines
end

-- GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, "-1", "-2"... for
-- repeats.
local function anchors_of(text)
  local set, seen = {}, {}
  for _, line in ipairs(prose_lines(text)) do
    local heading = line:match("^#+ (.-)%s*$")
    if heading then
      local a = heading:lower():gsub("[^%w%-_ \128-\255]", ""):gsub("[\128-\255]+", function(bytes)
        -- non-ASCII punctuation (dashes, ellipses) is dropped too; letters are not expected
        return bytes:find("^\226\128") and "" or bytes
      end):gsub(" ", "-")
      if seen[a] then
        seen[a] = seen[a] + 1
        set[a .. "-" .. seen[a]] = true
      else
        seen[a] = 0
        set[a] = true
      end
    end
  end
  return set
end

local function dir_of(file)
  return file:match("^(.*)/[^/]*$") or "."
end

local function normalise(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." and #parts > 0 and parts[#parts] ~= ".." then parts[#parts] = nil
    elseif part ~= "." then parts[#parts + 1] = part end
  end
  return table.concat(parts, "/")
end

describe("the documentation", function()
  it("README.md is at most 400 lines, with the two set-up commands and links to the guides", function()
    local text = helper.read_file("README.md")
    local _, lines = text:gsub("\n", "")
    assert.truthy(lines <= 400, "README.md has " .. lines .. " lines")
    assert.matches("\nmake demo ", text)
    assert.matches("\nmake test ", text)
    for _, page in ipairs { "CONFIGURATION", "LIBRARY", "CLI", "EMULATOR", "RELIABILITY", "PERFORMANCE",
        "SECURITY", "EMBEDDING", "TESTING" } do
      assert.truthy(text:find("(docs/" .. page .. ".md)", 1, true), "README links no docs/" .. page .. ".md")
    end
  end)

  it("gives every guide page in docs/ (but the design notes) a table of contents", function()
    for _, file in ipairs(markdown_files()) do
      if file:find("^docs/") and file ~= "docs/DESIGN.md" then
        local text = helper.read_file(file)
        local anchors = anchors_of(text)
        local entries = 0
        for target in text:match("\n(%- %[.-)\n\n"):gmatch("%]%(#([^)]+)%)") do
          assert.is_true(anchors[target], file .. ": contents entry #" .. target)
          entries = entries + 1
        end
        assert.truthy(entries >= 1, file .. " has no table of contents")
      end
    end
  end)

  it("has no relative link or anchor that points nowhere", function()
    local anchors = {}
    local files = markdown_files()
    for _, file in ipairs(files) do anchors[file] = anchors_of(helper.read_file(file)) end
    local broken = {}
    for _, file in ipairs(files) do
      for _, line in ipairs(prose_lines(helper.read_file(file))) do
        for target in line:gmatch("%]%(([^)%s]+)%)") do
          if not target:find("^%a[%w+.-]*:") then
            local path, anchor = target:match("^([^#]*)#?(.*)$")
            local resolved = path == "" and file or normalise(dir_of(file) .. "/" .. path)
            if path ~= "" and not io.open(resolved) then
              broken[#broken + 1] = file .. ": " .. target .. " (no such file)"
            elseif anchor ~= "" and resolved:find("%.md$") then
              anchors[resolved] = anchors[resolved] or anchors_of(helper.read_file(resolved))
              if not anchors[resolved][anchor] then broken[#broken + 1] = file .. ": " .. target end
            end
          end
        end
      end
    end
    assert.same({}, broken)
  end)
end)
