-- Resources named on the command line by id or by name: an id (a UUID) is used as given; a
-- name is looked up with a `name==` filter and must match exactly one resource (none: not
-- found, several: a conflict, since acting on the wrong one would be worse).
local flowservice = require "flowservice"
local output = require "flowservice.cli.output"

local refs = {}

-- field: the client's resource field ("connections", "flows", ...). Returns the id.
function refs.resolve(ctx, field, ref)
  if flowservice.specs.is_uuid(ref) then return ref end
  if ctx.args.dry_run then return "<id of " .. ref .. ">" end
  local matches = ctx:must(ctx:client()[field]:all { property = { { "name", "==", ref } } })
  local kind = field:gsub("s$", ""):gsub("_", " ")
  if #matches == 0 then ctx:fail(output.EXIT.not_found, "no " .. kind .. " named '" .. ref .. "'") end
  if #matches > 1 then
    ctx:fail(output.EXIT.conflict, #matches .. " " .. field:gsub("_", " ") .. " are named '" .. ref
      .. "'; give the id instead")
  end
  return matches[1].id
end

return refs
