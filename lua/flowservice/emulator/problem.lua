-- Flow Service's problem responses, shared by every emulator route:
--   {"type": "https://ns.adobe.com/aep/errors/<FLOW|CONNECTOR>-<code>-<status>", "title", "status",
--    "report": {"detailed-message", "request-id", ...}, "errorMessage", "errorDetails"}
-- with report.request-id equal to the response's x-request-id header (EN:help/sources/tutorials/
-- api/labels.md). Titles come from Adobe's two catalogues (flow-service-errors.md: 1100-1458 are
-- "Invalid request" except those listed below; sources-errors.md: "Bad Request").
--
-- Validation code returns failures as plain tables {code, status, detail, extra} (so modules
-- that check bodies need not know about HTTP); routes render them with problem.render.
local compat = require "flowservice.compat"
local http = require "flowservice.emulator.http"
local util = require "flowservice.emulator.util"

local problem = {}

local FLOW_TITLES = {
  [1101] = "Resource not found", [1102] = "Internal Error", [1103] = "Service Unavailable",
  [1104] = "Gateway Timeout", [1400] = "Internal Error", [1403] = "Header is missing",
  [1404] = "Version not matching", [1439] = "Resource not found",
  [2100] = "Sandbox not found", [2101] = "Sandbox not found", [2105] = "Header is missing",
  [2108] = "Get active sandboxes error",
}

-- Adobe's title for a code name such as "FLOW-1100" or "CONNECTOR-1327".
local function title_for(prefix, number)
  if prefix == "FLOW" then
    return FLOW_TITLES[number] or "Invalid request"      -- 1100-1458 are "Invalid request"
  end
  return "Bad Request"                                   -- sources-errors.md 1300-1373
end

-- code: a number (a Flow Service code) or a name such as "CONNECTOR-1360" / "FLOW-1413".
-- report_extra: more report fields (Adobe adds e.g. id and type for 1439).
function problem.response(req, code, status, detail, report_extra)
  local prefix, number = "FLOW", code
  if type(code) == "string" then
    prefix, number = code:match("^(%u+)%-(%d+)$")
    assert(prefix, "bad error code")
    number = compat.tointeger(tonumber(number))
  end
  local report = { ["detailed-message"] = detail, ["request-id"] = req.request_id }
  for k, v in pairs(report_extra or {}) do report[k] = v end
  return http.json(status, {
    type = ("https://ns.adobe.com/aep/errors/%s-%d-%d"):format(prefix, number, status),
    title = title_for(prefix, number),
    status = status,
    report = report,
    errorMessage = detail,
    errorDetails = detail,
  })
end

-- err: {code = number | "PREFIX-n", status, detail, extra?}
function problem.render(req, err)
  return problem.response(req, err.code, err.status or 400, err.detail, err.extra)
end

function problem.failure(code, status, detail, extra)
  return { code = code, status = status, detail = detail, extra = extra }
end

function problem.invalid(reason)
  return problem.failure(1100, 400, "The request could not be processed. " .. reason)
end

function problem.not_found(kind, id)
  local shown = util.safe_label(id)
  return problem.failure(1439, 404, ("The requested %s resource %s is not found. Verify the resource ID "
    .. "before trying again."):format(kind, shown), { id = shown, type = kind })
end

return problem
