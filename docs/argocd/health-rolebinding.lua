-- Argo CD health check for scim-operator.io/RoleBinding (kstatus conventions).
-- Wire it as resource.customizations.health.scim-operator.io_RoleBinding (see docs/gitops.md).
--   Progressing  no status yet, status.observedGeneration behind metadata.generation,
--                Reconciling=True, or no Ready condition yet
--   Degraded     Stalled=True; Ready=False; a role conflict (status.conflict or Conflict=True):
--                the binding holds the role the directory's conflictPolicy chose, and the
--                identity provider's groups need fixing
--   Healthy      Ready=True and no conflict
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
local conflict = condition("Conflict")
if obj.status.conflict == true or (conflict ~= nil and conflict.status == "True") then
  hs.status = "Degraded"
  if conflict ~= nil and conflict.status == "True" then
    hs.message = describe(conflict)
  else
    hs.message = "Conflict: in " .. table.concat(obj.status.sourceGroups or {}, ", ")
  end
  return hs
end
local ready = condition("Ready")
if ready == nil or ready.status == "Unknown" then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
elseif ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
else
  hs.status = "Degraded"
  hs.message = describe(ready)
end
return hs
