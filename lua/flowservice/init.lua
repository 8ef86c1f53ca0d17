--- flowservice: a Lua client for Adobe Experience Platform's Flow Service API.
local VERSION = "0.1.0"

local client = require "flowservice.client"

local flowservice = {
  _VERSION = "flowservice " .. VERSION,
  VERSION = VERSION,
  new = client.new,
  errors = require "flowservice.errors",
  json = require "flowservice.json",
  specs = require "flowservice.specs",
}

return flowservice
