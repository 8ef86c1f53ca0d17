-- The emulator's resource store: one bucket per org + sandbox, one collection per kind
-- (connections, sourceConnections, targetConnections, flows). Records are plain tables; fields
-- whose names start with "_" are internal and never served. Records keep insertion order (a
-- sequence number) so lists have a stable default order.
--
-- Common fields added on insert (Adobe's ConnectionItemDTO / flow items; reference §3):
--   id (uuid4), createdAt / updatedAt (epoch ms integers), createdBy / updatedBy, createdClient /
--   updatedClient, sandboxId, sandboxName, imsOrgId, etag and version (== etag).
-- Emulator choices: createdBy / updatedBy are "<client id>@techacct.adobe.com"; etags look like
--   Adobe's ("\"xxxxxxxx-0000-0200-0000-<hex seconds>0000\"", literal quotes included).
local util = require "flowservice.emulator.util"

local store = {}

store.KINDS = { "connections", "sourceConnections", "targetConnections", "flows" }

-- Fields every record carries that no request may set or patch.
store.COMMON_FIELDS = {
  "id", "createdAt", "updatedAt", "createdBy", "updatedBy", "createdClient", "updatedClient",
  "sandboxId", "sandboxName", "imsOrgId", "etag", "version",
}

local function bucket_key(ctx)
  return ctx.org_id .. "\0" .. ctx.sandbox_name
end

local function new_collection()
  return { by_id = {}, order = {} }
end

-- The bucket of this org + sandbox: { seq = n, [kind] = { by_id = {}, order = {} } }.
function store.bucket(state, ctx)
  state.buckets = state.buckets or {}
  local key = bucket_key(ctx)
  local bucket = state.buckets[key]
  if not bucket then
    bucket = { seq = 0 }
    for _, kind in ipairs(store.KINDS) do bucket[kind] = new_collection() end
    state.buckets[key] = bucket
  end
  return bucket
end

local function collection(state, ctx, kind)
  local c = store.bucket(state, ctx)[kind]
  assert(c, "unknown store kind")
  return c
end

-- The record of this kind and id in the caller's sandbox, or nil.
function store.find(state, ctx, kind, id)
  return collection(state, ctx, kind).by_id[id]
end

-- Every record of this kind in the caller's sandbox, in insertion order (a new list).
function store.all(state, ctx, kind)
  local out = {}
  for i, record in ipairs(collection(state, ctx, kind).order) do out[i] = record end
  return out
end

-- An etag in Adobe's style, literal quotes included.
function store.new_etag()
  return ('"%s-0000-0200-0000-%08x0000"'):format(util.random_hex(4), os.time())
end

local function who(ctx)
  return ctx.client_id .. "@techacct.adobe.com"
end

-- Stores a new record made of `fields` plus the common fields; returns it.
function store.insert(state, ctx, kind, fields)
  local bucket = store.bucket(state, ctx)
  local c = bucket[kind]
  assert(c, "unknown store kind")
  local record = {}
  for k, v in pairs(fields) do record[k] = v end
  local now, etag = util.now_ms(), store.new_etag()
  record.id = util.uuid4()
  record.createdAt, record.updatedAt = now, now
  record.createdBy, record.updatedBy = who(ctx), who(ctx)
  record.createdClient, record.updatedClient = ctx.client_id, ctx.client_id
  record.sandboxId, record.sandboxName, record.imsOrgId = ctx.sandbox_id, ctx.sandbox_name, ctx.org_id
  record.etag, record.version = etag, etag
  bucket.seq = bucket.seq + 1
  record._seq = bucket.seq
  c.by_id[record.id] = record
  c.order[#c.order + 1] = record
  return record
end

-- After a change: new etag (and version), updatedAt / updatedBy / updatedClient.
function store.touch(record, ctx)
  local etag = store.new_etag()
  record.etag, record.version = etag, etag
  record.updatedAt = util.now_ms()
  record.updatedBy, record.updatedClient = who(ctx), ctx.client_id
  return record
end

-- Replaces the contents of `record` by those of `new` (same table, so lists holding the record
-- see the change); the id and the insertion position are kept.
function store.replace(record, new)
  local id, seq = record.id, record._seq
  for k in pairs(record) do record[k] = nil end
  for k, v in pairs(new) do record[k] = v end
  record.id, record._seq = id, seq
  return record
end

-- Removes the record with this id; returns it, or nil when there is none.
function store.remove(state, ctx, kind, id)
  local c = collection(state, ctx, kind)
  local record = c.by_id[id]
  if not record then return nil end
  c.by_id[id] = nil
  for i, r in ipairs(c.order) do
    if r == record then
      table.remove(c.order, i)
      break
    end
  end
  return record
end

-- A deep copy of a value (records hold only JSON-like data: tables, strings, numbers, ...).
-- Metatables (util.array / util.object markers) are kept.
function store.copy(value)
  if type(value) ~= "table" then return value end
  local out = {}
  for k, v in pairs(value) do out[k] = store.copy(v) end
  return setmetatable(out, getmetatable(value))
end

-- The record without internal fields (a deep copy; the caller may change it).
function store.public(record)
  local out = {}
  for k, v in pairs(record) do
    if type(k) ~= "string" or k:sub(1, 1) ~= "_" then out[k] = store.copy(v) end
  end
  return out
end

return store
