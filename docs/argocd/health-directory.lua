-- Argo CD health check for scim-operator.io/Directory (kstatus conventions).
-- Wire it as resource.customizations.health.scim-operator.io_Directory (see docs/gitops.md).
--   Progressing  no status yet, status.observedGeneration behind metadata.generation,
--                Reconciling=True, or no Ready condition yet
--   Degraded     Stalled=True, or Ready=False (e.g. DuplicateDirectory: a second Directory in the
--                namespace is ignored)
--   Healthy      Ready=True. Conflicts are counted in the message; they make the Workspaces and
--                RoleBindings concerned Degraded, not the Directory, which works as configured.
-- BEGIN prelude: stamped from prelude.lua by hack/argocd-prelude.py; edit it there
-- The kstatus part every health check shares: no status or an old observedGeneration is
-- Progressing, Stalled=True is Degraded, Reconciling=True is Progressing.
local hs = {}

local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

-- Integers print without a fraction whatever the Lua number type (gopher-lua has only floats).
local function int(n)
  return string.format("%d", n)
end

local function describe(c)
  local text = c.reason or c.type
  if c.message ~= nil and c.message ~= "" then
    text = text .. ": " .. c.message
  end
  return text
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to reconcile"
  return hs
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. int(generation)
  return hs
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end
local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = describe(reconciling)
  return hs
end
-- END prelude
local ready = condition("Ready")
if ready == nil or ready.status == "Unknown" then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  local conflicts = obj.status.conflicts or 0
  if conflicts > 0 then
    hs.message = hs.message .. " (" .. int(conflicts) .. " conflict(s): see the Degraded Workspaces)"
  end
else
  hs.status = "Degraded"
  hs.message = describe(ready)
end
return hs
