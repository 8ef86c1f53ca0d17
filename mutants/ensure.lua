-- Mutants of `ensure` (docs/LIBRARY.md: resources:ensure): it looks before it creates, looks again after
-- an ambiguous create, and refuses to pick one of several resources with the same name.
-- Format: see the header of mutants/run.lua.
return {
  { id = "look_again", file = "lua/flowservice/resource.lua",
    from = [[if not (errors.is(resp) and resp.ambiguous) then return nil, resp end]],
    to = [[if true then return nil, resp end]],
    breaks = "ensure gives up after an ambiguous create instead of looking again",
    specs = { "spec/ensure_faults_spec.lua", "spec/ensure_spec.lua" } },
  { id = "rounds", file = "lua/flowservice/resource.lua",
    from = [[local ENSURE_ROUNDS = 3]], to = [[local ENSURE_ROUNDS = 1]],
    breaks = "ensure does not look again after an ambiguous create",
    specs = { "spec/ensure_faults_spec.lua", "spec/ensure_spec.lua" } },
  { id = "recovered", file = "lua/flowservice/resource.lua",
    from = [[local recovered = last_err ~= nil]], to = [[local recovered = false]],
    breaks = "a resource found after an ambiguous create is reported as found, not created",
    specs = { "spec/ensure_faults_spec.lua", "spec/ensure_spec.lua" } },
  { id = "several", file = "lua/flowservice/resource.lua",
    from = [[      if found then
        return nil, errors.new { kind = "conflict"]],
    to = [[      if false then
        return nil, errors.new { kind = "conflict"]],
    breaks = "ensure picks one of several resources with the same name",
    specs = { "spec/ensure_spec.lua" } },
  { id = "name_match", file = "lua/flowservice/resource.lua",
    from = [[    if item.name == name then
      if found then]], to = [[    if true then
      if found then]],
    breaks = "ensure takes a resource with another name for the one it looks for",
    specs = { "spec/ensure_spec.lua" } },
  { id = "look_first", file = "lua/flowservice/resource.lua",
    from = [[found, err = find_one(self, property, body.name)]], to = [[found, err = false, nil]],
    breaks = "ensure creates without looking first (a duplicate on every run)",
    specs = { "spec/ensure_spec.lua", "spec/ensure_faults_spec.lua" } },
}
