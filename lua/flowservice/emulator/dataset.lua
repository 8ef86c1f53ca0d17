-- The tables a tabular customer-success source (an Oracle Service Cloud instance) shows through
-- explore, and that the emulator's dataflow runs "ingest": incidents, contacts and accounts.
--
--   dataset.tables()  -> list of tables in a stable order (incidents, contacts, accounts)
--   dataset.get(path) -> the table with that path, or nil
--
-- A table is {name, path, columns = { {name, type, xdm = {type, format?}, ["meta:xdmType"]?} },
-- rows = { {column = value, ...} }}. The tables are built once and shared: callers must not
-- change them (explore copies what it returns).
--
-- Facts (EN:help/sources/tutorials/api/explore/tabular.md, explore/customer-success.md):
--   explore lists tables as {type "table", name, path}; a column is {name, type, xdm = {type}};
--   a date-time column is {type "string", "meta:xdmType" "date-time",
--   xdm = {type "string", format "date-time"}}.
-- Emulator choices:
--   The table names and paths follow Oracle Service Cloud's Connect REST resources (incidents,
--   contacts, accounts; accounts are OSvC's staff accounts, the agents incidents are assigned to);
--   the column names follow OSvC's field names, flattened (statusWithType.status -> status).
--   Column types other than string and date-time: "integer" (xdm integer), "double" (xdm number),
--   "boolean" (xdm boolean); Adobe's explore examples show only strings and date-times.
--   Date-times are ISO 8601 UTC strings ("2024-01-02T03:04:05Z").
--   Every row is generated from its index (no randomness), so every process serves the same data.
--   The people are obviously fake: "Contact 07", contact07@example.com.
--   Every table has an updatedTime date-time column, usable as a Copy transform deltaColumn.
local dataset = {}

-- 2024-01-01T00:00:00Z: rows are dated from here on.
local EPOCH_2024 = 1704067200
local HOUR = 3600

local function iso_time(seconds)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", seconds)
end

-- Column constructors in the explore shape.
local function string_column(name)
  return { name = name, type = "string", xdm = { type = "string" } }
end

local function integer_column(name)
  return { name = name, type = "integer", xdm = { type = "integer" } }
end

local function double_column(name)
  return { name = name, type = "double", xdm = { type = "number" } }
end

local function boolean_column(name)
  return { name = name, type = "boolean", xdm = { type = "boolean" } }
end

local function date_time_column(name)
  return {
    name = name, type = "string", ["meta:xdmType"] = "date-time",
    xdm = { type = "string", format = "date-time" },
  }
end

-- Picks list[i], cycling.
local function cycle(list, i)
  return list[(i - 1) % #list + 1]
end

---------------------------------------------------------------------------------------------------
-- accounts: OSvC staff accounts (agents)
---------------------------------------------------------------------------------------------------

local ACCOUNT_COUNT = 12
local COUNTRIES = { "US", "CA", "GB", "DE", "FR", "IN" }

local function account_row(i)
  local created = EPOCH_2024 + i * 24 * HOUR
  return {
    id = i,
    lookupName = ("Agent %02d"):format(i),
    login = ("agent%02d"):format(i),
    emailAddress = ("agent%02d@example.com"):format(i),
    country = cycle(COUNTRIES, i),
    disabled = i % 6 == 0,
    createdTime = iso_time(created),
    updatedTime = iso_time(created + (i * 7 % 30) * 24 * HOUR),
  }
end

---------------------------------------------------------------------------------------------------
-- contacts
---------------------------------------------------------------------------------------------------

local CONTACT_COUNT = 36

local function contact_row(i)
  local created = EPOCH_2024 + 30 * 24 * HOUR + i * 11 * HOUR
  return {
    id = 1000 + i,
    lookupName = ("Contact %02d"):format(i),
    firstName = "Contact",
    lastName = ("%02d"):format(i),
    email = ("contact%02d@example.com"):format(i),
    organizationId = 500 + (i - 1) % 9 + 1,
    satisfactionScore = 2.5 + (i * 37 % 25) / 10,   -- 2.5 .. 4.9
    optIn = i % 3 ~= 0,
    createdTime = iso_time(created),
    updatedTime = iso_time(created + (i * 13 % 40) * HOUR),
  }
end

---------------------------------------------------------------------------------------------------
-- incidents
---------------------------------------------------------------------------------------------------

local INCIDENT_COUNT = 48
local STATUSES = { "Unresolved", "Updated", "Waiting", "Solved" }
local SEVERITIES = { "Low", "Medium", "High", "Critical" }
local SUBJECTS = {
  "Cannot sign in to the portal", "Invoice shows the wrong amount", "Password reset email missing",
  "Order arrived damaged", "Feature request: export to CSV", "Question about the service plan",
}

local function incident_row(i)
  local created = EPOCH_2024 + 45 * 24 * HOUR + i * 5 * HOUR
  local status = cycle(STATUSES, i)
  return {
    id = 20000 + i,
    referenceNumber = ("240215-%06d"):format(i),
    subject = cycle(SUBJECTS, i),
    status = status,
    severity = cycle(SEVERITIES, i * 3),
    primaryContactId = 1000 + (i - 1) % CONTACT_COUNT + 1,
    assignedAccountId = (i - 1) % ACCOUNT_COUNT + 1,
    responseHours = (i * 29 % 96) / 4 + 0.25,         -- 0.25 .. 24.0
    escalated = i % 7 == 0,
    createdTime = iso_time(created),
    updatedTime = iso_time(created + (i * 17 % 72) * HOUR),
  }
end

---------------------------------------------------------------------------------------------------

local function build_rows(count, row)
  local rows = {}
  for i = 1, count do rows[i] = row(i) end
  return rows
end

local TABLES = {
  {
    name = "Incidents", path = "incidents",
    columns = {
      integer_column("id"), string_column("referenceNumber"), string_column("subject"),
      string_column("status"), string_column("severity"), integer_column("primaryContactId"),
      integer_column("assignedAccountId"), double_column("responseHours"),
      boolean_column("escalated"), date_time_column("createdTime"), date_time_column("updatedTime"),
    },
    rows = build_rows(INCIDENT_COUNT, incident_row),
  },
  {
    name = "Contacts", path = "contacts",
    columns = {
      integer_column("id"), string_column("lookupName"), string_column("firstName"),
      string_column("lastName"), string_column("email"), integer_column("organizationId"),
      double_column("satisfactionScore"), boolean_column("optIn"),
      date_time_column("createdTime"), date_time_column("updatedTime"),
    },
    rows = build_rows(CONTACT_COUNT, contact_row),
  },
  {
    name = "Accounts", path = "accounts",
    columns = {
      integer_column("id"), string_column("lookupName"), string_column("login"),
      string_column("emailAddress"), string_column("country"), boolean_column("disabled"),
      date_time_column("createdTime"), date_time_column("updatedTime"),
    },
    rows = build_rows(ACCOUNT_COUNT, account_row),
  },
}

local by_path = {}
for _, t in ipairs(TABLES) do by_path[t.path] = t end

-- Every table, in a stable order (shared; do not modify).
function dataset.tables()
  local out = {}
  for i, t in ipairs(TABLES) do out[i] = t end
  return out
end

-- The table with this path (exact, case-sensitive), or nil.
function dataset.get(path)
  return by_path[path]
end

-- The column of `table_entry` named `name`, or nil.
function dataset.column(table_entry, name)
  for _, column in ipairs(table_entry.columns) do
    if column.name == name then return column end
  end
  return nil
end

return dataset
