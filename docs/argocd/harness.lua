-- Test harness: runs an Argo CD health script the way Argo CD does (the object as the global
-- `obj`, JSON null as nil) and prints "<status>\n<message>".
-- Usage: lua harness.lua <script.lua> < object.json   (needs lua-cjson)
local cjson = require("cjson")

local function strip_nulls(value)
  if value == cjson.null then
    return nil
  end
  if type(value) == "table" then
    local out = {}
    for k, v in pairs(value) do
      out[k] = strip_nulls(v)
    end
    return out
  end
  return value
end

obj = strip_nulls(cjson.decode(io.read("*a")))
local hs = dofile(arg[1])
io.write(tostring(hs.status), "\n", tostring(hs.message or ""), "\n")
