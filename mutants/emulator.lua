-- Mutants of the emulator's gateway and IMS checks (README: The emulator), which the specs
-- rely on to prove the client sends the right credentials, and of its admin endpoints'
-- loopback-only rule. Format: see the header of mutants/run.lua.
return {
  { id = "api_key", file = "lua/flowservice/emulator/gateway.lua",
    from = [[if api_key ~= record.client_id then]], to = [[if false then]],
    breaks = "any x-api-key is accepted with a valid token",
    specs = { "spec/emulator_spec.lua" } },
  { id = "org", file = "lua/flowservice/emulator/gateway.lua",
    from = [[if org ~= record.org_id then]], to = [[if false then]],
    breaks = "a token is accepted for another organization",
    specs = { "spec/emulator_spec.lua" } },
  { id = "missing_api_key", file = "lua/flowservice/emulator/gateway.lua",
    from = [[if not api_key or api_key == "" then]], to = [[if not api_key then]],
    breaks = "an empty x-api-key is reported as invalid, not missing",
    specs = { "spec/emulator_spec.lua" } },
  { id = "client_secret", file = "lua/flowservice/emulator/ims.lua",
    from = [[if not util.secure_equals(params.client_secret, client.secret) then]], to = [[if false then]],
    breaks = "IMS issues tokens for a wrong client secret",
    specs = { "spec/emulator_spec.lua" } },
  { id = "token_expiry", file = "lua/flowservice/emulator/ims.lua",
    from = [[if record.expires_at <= util.now() then]], to = [[if false then]],
    breaks = "expired tokens are accepted",
    specs = { "spec/emulator_spec.lua" } },
  { id = "sandbox_header", file = "lua/flowservice/emulator/flow.lua",
    from = [[if not name or name == "" then
    return problem.response(req, 2105]], to = [[if not name then
    return problem.response(req, 2105]],
    breaks = "an empty x-sandbox-name is not reported as a missing header",
    specs = { "spec/emulator_spec.lua" } },
  { id = "admin_loopback", file = "lua/flowservice/emulator/admin.lua",
    from = [[if not admin.is_loopback(req.peer) then]], to = [[if false then]],
    breaks = "the admin endpoints answer any peer",
    specs = { "spec/emulator_faults_spec.lua" } },
}
