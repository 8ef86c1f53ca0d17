-- The C side of the token cache (src/private_file.c) in this process, so that `make check` runs
-- it under ASan/UBSan and valgrind: private directories and files, the atomic write, refusals
-- before reading, and a token that goes from a secret to a file and back without a Lua string.
local core = require "flowservice.core"
local token_cache = require "flowservice.token_cache"

local helper = require "spec.helper"

-- A shell command that must succeed (without make check's LD_PRELOAD); returns its output.
local function sh(command)
  local out, ok = helper.run(command)
  assert(ok, command .. ": " .. out)
  return out
end

local q = helper.shell_quote

local function mode_of(path)
  return (sh("stat -c %a " .. q(path)):gsub("%s+$", ""))
end

describe("token cache files (core.private_*)", function()
  local top, root, n = nil, nil, 0
  setup(function()
    top = sh("mktemp -d"):gsub("%s+$", "")
  end)
  teardown(function()
    sh("rm -rf " .. q(top))
  end)
  before_each(function() -- a fresh directory per test, without a process
    n = n + 1
    root = top .. "/" .. n
    assert(core.private_dir(root))
  end)

  it("private_dir creates missing directories with mode 0700 and accepts them again", function()
    local dir = root .. "/a/b/flowservice"
    assert.is_true(core.private_dir(dir))
    assert.equal("700", mode_of(dir))
    assert.equal("700", mode_of(root .. "/a/b"))
    assert.is_true(core.private_dir(dir))
    assert.is_true(core.private_dir(dir .. "//")) -- trailing slashes name the same directory
  end)

  it("private_dir refuses a symbolic link named with trailing slashes (which would follow it)", function()
    sh("mkdir -m 700 " .. q(root .. "/target") .. " && ln -s target " .. q(root .. "/slashed"))
    for _, name in ipairs { "/slashed/", "/slashed//" } do
      local ok, why, reason = core.private_dir(root .. name)
      assert.is_nil(ok)
      assert.equal("unsafe", reason)
      assert.truthy(why:find("symbolic link", 1, true), why)
    end
  end)

  it("private_dir refuses a directory open to others, and a symbolic link", function()
    sh("mkdir -m 755 " .. q(root .. "/open"))
    local ok, why, reason = core.private_dir(root .. "/open")
    assert.is_nil(ok)
    assert.equal("unsafe", reason)
    assert.truthy(why:find("group or others", 1, true) and why:find("0755", 1, true), why)
    sh("mkdir -m 700 " .. q(root .. "/real") .. " && ln -s real " .. q(root .. "/link"))
    ok, why, reason = core.private_dir(root .. "/link")
    assert.is_nil(ok)
    assert.equal("unsafe", reason)
    assert.truthy(why:find("symbolic link", 1, true), why)
  end)

  it("writes a header line and a secret atomically with mode 0600, and reads them back", function()
    local path = root .. "/token"
    local secret = core.secret("SENTINEL-token-9d1e")
    assert.is_true(core.private_write(path, path .. ".tmp", '{"k":1}', secret))
    assert.equal("600", mode_of(path))
    assert.equal('{"k":1}\nSENTINEL-token-9d1e', sh("cat " .. q(path)))
    assert.equal("token\n", sh("ls " .. q(root))) -- the temporary file was renamed
    local header, back = core.private_read(path)
    assert.equal('{"k":1}', header)
    assert.equal("secret", core.type(back))
    assert.equal("flowservice.secret", tostring(back)) -- never the bytes
    back:wipe()
    secret:wipe()
  end)

  it("private_write refuses a temporary path that exists (never writes through it)", function()
    local path = root .. "/token"
    sh("ln -s /dev/null " .. q(path .. ".tmp"))
    local ok, why, reason = core.private_write(path, path .. ".tmp", "h", core.secret("x"))
    assert.is_nil(ok)
    assert.equal("io", reason)
    assert.truthy(why:find("cannot create", 1, true), why)
    assert.has_error(function() core.private_write(path, path .. ".t2", "two\nlines", core.secret("x")) end)
  end)

  it("private_read refuses a FIFO at the path at once, without waiting for a writer", function()
    local path = root .. "/token"
    sh("mkfifo -m 600 " .. q(path))
    -- in a child process with a time limit: a read that waits would hang this one
    local out = helper.run("timeout 10 " .. helper.LUA .. " -e " .. q("package.cpath = " .. ("%q"):format(helper.CPATH)
      .. " .. ';' .. package.cpath; local core = require 'flowservice.core'; "
      .. "print(select(3, core.private_read(" .. ("%q"):format(path) .. ")))"))
    assert.equal("unsafe\n", out)
  end)

  it("private_read: missing, open to others, a symbolic link, another format", function()
    local path = root .. "/token"
    local _, _, reason = core.private_read(path)
    assert.equal("missing", reason)
    sh("printf 'h\\ntok' > " .. q(path) .. " && chmod 644 " .. q(path))
    local header, why
    header, why, reason = core.private_read(path)
    assert.is_nil(header)
    assert.equal("unsafe", reason)
    assert.truthy(why:find("0644", 1, true), why)
    sh("chmod 600 " .. q(path) .. " && ln -s token " .. q(root .. "/link"))
    _, why, reason = core.private_read(root .. "/link")
    assert.equal("unsafe", reason)
    assert.truthy(why:find("symbolic link", 1, true), why)
    sh("printf 'no newline' > " .. q(root .. "/bad") .. " && chmod 600 " .. q(root .. "/bad"))
    _, _, reason = core.private_read(root .. "/bad")
    assert.equal("io", reason)
  end)

  it("private_read and private_dir refuse what another user owns (made with chown: needs root)", function()
    if sh("id -u"):gsub("%s+$", "") ~= "0" then
      pending("not root: cannot give a file to another user")
      return
    end
    local path = root .. "/token"
    sh("printf 'h\\ntok' > " .. q(path) .. " && chmod 600 " .. q(path) .. " && chown 65534 " .. q(path))
    local header, why, reason = core.private_read(path)
    assert.is_nil(header)
    assert.equal("unsafe", reason)
    assert.truthy(why:find("another user", 1, true), why)
    sh("mkdir -m 700 " .. q(root .. "/theirs") .. " && chown 65534 " .. q(root .. "/theirs"))
    local ok
    ok, why, reason = core.private_dir(root .. "/theirs")
    assert.is_nil(ok)
    assert.equal("unsafe", reason)
    assert.truthy(why:find("another user", 1, true), why)
  end)

  it("hash64 names a file after its key: 16 hex digits, stable, different keys differ", function()
    assert.matches("^%x+$", core.hash64("a"))
    assert.equal(16, #core.hash64("a"))
    assert.equal(core.hash64("key"), core.hash64("key"))
    assert.not_equal(core.hash64("key1"), core.hash64("key2"))
    assert.equal("cbf29ce484222325", core.hash64("")) -- FNV-1a's offset basis
    -- with a secret: its bytes after the key's, read in C
    local one, two = core.secret("secret-one"), core.secret("secret-two")
    assert.equal(core.hash64("keysecret-one"), core.hash64("key", one))
    assert.not_equal(core.hash64("key", one), core.hash64("key", two))
    two:wipe()
    assert.has_error(function() core.hash64("key", two) end, "attempt to use a wiped secret")
  end)

  it("token_cache: store, load until the refresh time, refuse an unsafe file, forget", function()
    local cache = token_cache.new(root .. "/flowservice", { ims_url = "https://ims.example", client_id = "c",
      org_id = "O@AdobeOrg", scopes = "openid" })
    assert.is_nil(token_cache.load(cache)) -- nothing yet
    local secret = core.secret("SENTINEL-token-2b7c")
    assert.is_true(token_cache.store(cache, secret, 100, 400))
    local token, refresh_in, expires_in = token_cache.load(cache)
    assert.equal("secret", core.type(token))
    assert.is_true(refresh_in > 95 and refresh_in <= 100)
    assert.is_true(expires_in > 395 and expires_in <= 400)
    token:wipe()
    -- another key (another org) does not read it
    local other = token_cache.new(root .. "/flowservice", { ims_url = "https://ims.example", client_id = "c",
      org_id = "P@AdobeOrg", scopes = "openid" })
    assert.is_nil(token_cache.load(other))
    -- expired refresh time: not used
    assert.is_true(token_cache.store(cache, secret, -1, 400))
    assert.is_nil(token_cache.load(cache))
    assert.is_true(token_cache.store(cache, secret, 100, 400))
    sh("chmod 640 " .. q(cache.path))
    local _, _, _, refused = token_cache.load(cache)
    assert.equal("validation", refused.kind)
    assert.equal("token_cache", refused.field)
    assert.is_true(token_cache.forget(cache))
    assert.is_true(token_cache.forget(cache)) -- nothing to forget is fine
    assert.is_nil(token_cache.load(cache))
    secret:wipe()
  end)
  it("token_cache: advises chmod only for a directory open to others, never for a link or a file", function()
    local config = { ims_url = "https://ims.example", client_id = "c", org_id = "O@AdobeOrg", scopes = "openid" }
    sh("mkdir " .. q(root .. "/open") .. " && chmod 755 " .. q(root .. "/open"))
    local _, _, _, refused = token_cache.load(token_cache.new(root .. "/open", config))
    assert.truthy(refused.message:find("(chmod 700 " .. root .. "/open)", 1, true), refused.message)
    sh("touch " .. q(root .. "/file") .. " && ln -s /dev/null " .. q(root .. "/link"))
    for _, name in ipairs { "file", "link" } do
      _, _, _, refused = token_cache.load(token_cache.new(root .. "/" .. name, config))
      assert.equal("token_cache", refused.field)
      assert.is_nil(refused.message:find("chmod", 1, true), refused.message)
      assert.truthy(refused.message:find("remove it", 1, true), refused.message)
    end
  end)
end)
