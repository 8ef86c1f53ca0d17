-- Unit specs of the emulator's list-query module (emulator/query.lua), in-process.
local query = require "flowservice.emulator.query"

local function parse_ok(raw, opts)
  local q, err = query.parse(raw, opts)
  assert(q, err and err.detail)
  return q
end

local function assert_code(code, raw, opts)
  local q, err = query.parse(raw, opts)
  assert.is_nil(q)
  assert.are.equal(code, err.code)
  assert.are.equal(400, err.status)
  assert.is_string(err.detail)
  return err
end

local ITEMS = {
  { id = "a", name = "Alpha", n = 5, on = true, spec = { id = "s1" }, tags = { "x", "y" },
    steps = { { name = "Copy" }, { name = "Mapping" } } },
  { id = "b", name = "Beta, the second", n = 10, on = false, spec = { id = "s2" }, tags = { "y" } },
  { id = "c", name = "gamma", n = 2.5, on = true, spec = { id = "s1" }, tags = {} },
  { id = "d", name = 'Quote "d"', n = 10, spec = { id = "s3" } },
}

local function ids(raw, items)
  local result = query.apply(items or ITEMS, parse_ok(raw), "things")
  local out = {}
  for i, item in ipairs(result.items) do out[i] = item.id end
  return table.concat(out, " ")
end

describe("emulator query", function()
  describe("property filters", function()
    it("== and != on strings, numbers and booleans", function()
      assert.are.equal("a", ids("property=name==Alpha"))
      assert.are.equal("b c d", ids("property=name!=Alpha"))
      assert.are.equal("b d", ids("property=n==10"))
      assert.are.equal("c", ids("property=n==2.5"))
      assert.are.equal("a c", ids("property=on==true"))
      assert.are.equal("b d", ids("property=on!=true"))    -- a missing field matches only !=
    end)

    it(">, <, >=, <= compare numbers numerically and strings bytewise", function()
      assert.are.equal("b d", ids("property=n>5"))
      assert.are.equal("c", ids("property=n<5"))
      assert.are.equal("a b d", ids("property=n>=5"))
      assert.are.equal("a c", ids("property=n<=5"))
      assert.are.equal("c d", ids("property=name>Quote"))  -- 'gamma' and 'Quote "d"' sort after
      assert.are.equal("a", ids("property=n>-1&property=n<6&property=n>3"))
    end)

    it("comma-separated values are an OR list for == and none-of for !=", function()
      assert.are.equal("a c", ids("property=id==a,c"))
      assert.are.equal("b d", ids("property=id!=a,c"))
    end)

    it("quoted values keep commas and take \\\" and \\\\ escapes", function()
      assert.are.equal("b", ids('property=name=="Beta, the second"'))
      assert.are.equal("b", ids("property=name==%22Beta,%20the%20second%22"))
      assert.are.equal("d a", ids('property=name=="Quote \\"d\\"",Alpha&orderby=-name'))
      assert.are.equal("", ids('property=name=="Beta"'))
    end)

    it("several property params are AND-ed", function()
      assert.are.equal("a c", ids("property=spec.id==s1"))
      assert.are.equal("c", ids("property=spec.id==s1&property=n<5"))
    end)

    it("nested paths and [] array members", function()
      assert.are.equal("a b", ids("property=tags[]==y"))
      assert.are.equal("a", ids("property=tags[]==x"))
      assert.are.equal("a", ids("property=steps[].name==Mapping"))
      assert.are.equal("b c d", ids("property=steps[].name!=Mapping"))
      assert.are.equal("", ids("property=spec.id.deeper==s1"))
    end)

    it("refuses > < >= <= with several values (1443)", function()
      local err = assert_code(1443, "property=n<=1,2")
      assert.are.equal("Operator '<=' is not allowed for multiple values.", err.detail)
      assert_code(1443, "property=n>1,2")
    end)

    it("refuses an unknown operator (1450)", function()
      assert.are.equal("Invalid operator !> in filter params.", assert_code(1450, "property=n!>1").detail)
      assert_code(1450, "property=n=1")
      assert_code(1450, "property=n~1")
    end)

    it("refuses malformed filters (1453)", function()
      for _, raw in ipairs { "property=createdAt==", "property===x", "property=name", "property=a..b==1",
          "property=a[==1", 'property=name=="open', "property=id==a,,b", "property=id==a,",
          'property=name=="a"b', "property=name%ZZ==1" } do
        assert_code(1453, raw)
      end
    end)
  end)

  describe("orderby", function()
    it("sorts ascending by default, + ascending, - descending; ties keep insertion order", function()
      assert.are.equal("a b d c", ids("orderby=name"))      -- bytewise: upper case first
      assert.are.equal("a b d c", ids("orderby=+name"))
      assert.are.equal("c d b a", ids("orderby=-name"))
      assert.are.equal("c a b d", ids("orderby=n"))
      assert.are.equal("b d a c", ids("orderby=-n"))
      assert.are.equal("d b a c", ids("orderby=-n,-id"))
      assert.are.equal("a c b d", ids("orderby=spec.id"))
    end)

    it("puts items without the field last", function()
      assert.are.equal("b a c d", ids("orderby=on"))
      assert.are.equal("a c b d", ids("orderby=-on"))
    end)

    it("refuses bad syntax (1432) and unknown fields (1433)", function()
      for _, raw in ipairs { "orderby=--name", "orderby=", "orderby=name,", "orderby=na%20me", "orderby=*" } do
        assert_code(1432, raw)
      end
      local err = assert_code(1433, "orderby=secret", { orderable = { name = true } })
      assert.matches("Incorrect field= secret passed in orderBy", err.detail, 1, true)
      assert.is_table(query.parse("orderby=-name", { orderable = { name = true } }))
    end)
  end)

  describe("count and limit", function()
    it("count=true answers only the number of matching items", function()
      local result = query.apply(ITEMS, parse_ok("property=spec.id==s1&count=true"), "things")
      assert.are.same({ count = 2 }, result)
      assert.are.equal(4, query.apply(ITEMS, parse_ok("count=false"), "things").count)
    end)

    it("refuses limit with count (1401) and bad values (1453)", function()
      local err = assert_code(1401, "count=true&limit=2")
      assert.matches("limit and count parameters cannot be given together", err.detail, 1, true)
      for _, raw in ipairs { "limit=0", "limit=-1", "limit=abc", "limit=1.5", "limit=1001", "limit=", "count=yes" } do
        assert_code(1453, raw)
      end
      assert.are.equal(1000, parse_ok("limit=1000").limit)
    end)

    it("refuses unknown parameter names (1451)", function()
      local err = assert_code(1451, "property=id==a&testParam=1")
      assert.are.equal("Invalid params testParam provided in query params.", err.detail)
    end)
  end)

  describe("pagination", function()
    local many = {}
    for i = 1, 7 do many[i] = { id = ("r%02d"):format(i), n = i % 3 } end

    -- Follows _links.next from `raw` and returns every page's ids.
    local function walk(raw, opts)
      local pages = {}
      local q = parse_ok(raw, opts)
      while true do
        local result = query.apply(many, q, "runs")
        local page = {}
        for i, item in ipairs(result.items) do page[i] = item.id end
        assert.are.equal(#page, result.count)
        pages[#pages + 1] = table.concat(page, " ")
        if not result._links.next then
          assert.are.equal("object", getmetatable(result._links).__jsontype)
          assert.is_nil(next(result._links))
          return pages
        end
        local href = result._links.next.href
        local token = href:match("^/runs%?continuationToken=([%w%-_]+)$")
        assert.is_string(token, href)
        q = parse_ok("continuationToken=" .. token, opts)
      end
    end

    it("walks 4 pages of 2 without skipping or repeating", function()
      assert.are.same({ "r01 r02", "r03 r04", "r05 r06", "r07" }, walk("limit=2"))
    end)

    it("keeps filters and order across pages", function()
      assert.are.same({ "r02 r05", "r01 r04", "r07" }, walk("limit=2&property=n!=0&orderby=-n"))
    end)

    it("uses the default page size, 20 unless configured", function()
      assert.are.same({ "r01 r02 r03 r04 r05 r06 r07" }, walk(""))
      assert.are.same({ "r01 r02 r03", "r04 r05 r06", "r07" }, walk("", { page_size = 3 }))
      assert.are.equal(20, parse_ok("").limit)
    end)

    it("ends with an empty _links on an exact last page", function()
      assert.are.same({ "r01 r02 r03 r04 r05 r06 r07" }, walk("limit=7"))
    end)

    it("refuses bad tokens and tokens mixed with other parameters (1453)", function()
      local good = query._b64url_encode("2\nlimit=2")
      assert.are.equal(2, parse_ok("continuationToken=" .. good).offset)
      assert_code(1453, "continuationToken=" .. good .. "&limit=3")
      assert_code(1453, "continuationToken=not*base64")
      assert_code(1453, "continuationToken=" .. query._b64url_encode("no offset"))
      assert_code(1453, "continuationToken=" .. query._b64url_encode("1\ncontinuationToken=x"))
      assert_code(1451, "continuationToken=" .. query._b64url_encode("1\nbogus=1"))
    end)

    it("base64url round-trips every length", function()
      for n = 0, 10 do
        local s = ("\0\255abc\n=&"):rep(2):sub(1, n)
        assert.are.equal(s, query._b64url_decode(query._b64url_encode(s)))
      end
    end)
  end)
end)
