-- luacheck configuration. `make lint` runs `luacheck .` from the top of the tree.
-- "max" is the union of the globals of Lua 5.1 to 5.4 and LuaJIT: the library runs on all of
-- them, so compatibility code such as `table.unpack or unpack` must pass; each version's own
-- spec run catches a function that is missing there.
std = "max"
max_line_length = 120

-- Lua files, and the launchers in bin/ (no .lua suffix); bench/run and bench/reliability/run
-- are shell scripts.
include_files = { "**/*.lua", "bin/flowservice", "bin/flowservice-emulator", "*.rockspec", "rockspecs/*.rockspec",
  ".luacheckrc", ".busted", "config.ld" }
exclude_files = { "luarocks-tree", "build", "build-asan", "docs/api" }

files["spec"] = { std = "+busted" }     -- describe, it, assert, ...
files[".busted"] = { std = "max" }      -- returns a plain table
files["*.rockspec"] = { std = "+rockspec" }
files["config.ld"] = { std = "+ldoc" }  -- LDoc's settings are globals
