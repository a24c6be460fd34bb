-- Argo CD health check for scim-operator.io/Workspace (kstatus conventions).
-- Wire it as resource.customizations.health.scim-operator.io_Workspace (see docs/gitops.md).
--   Progressing  no status yet, status.observedGeneration behind metadata.generation,
--                Reconciling=True, or no Ready condition yet
--   Degraded     Stalled=True; Ready=False (e.g. NameCollision); conflicts > 0 (a user in several
--                role groups, or a role claimed by several groups: the identity provider needs fixing)
--   Suspended    orphaned: no group feeds it any more, kept by workspaceDeletionPolicy Retain
--   Healthy      Ready=True and no conflicts
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
if obj.status.orphaned == true then
  hs.status = "Suspended"
  local ready = condition("Ready")
  hs.message = ready ~= nil and describe(ready) or "Orphaned: no group feeds this workspace any more"
  return hs
end
local conflicts = obj.status.conflicts or 0
if conflicts > 0 then
  hs.status = "Degraded"
  local text = int(conflicts) .. " conflict(s)"
  local details = obj.status.conflictDetails
  if details ~= nil and details[1] ~= nil then
    local first = details[1]
    local who = first.userName or "a role"
    text = text .. ", e.g. " .. who .. " in " .. table.concat(first.groups or {}, ", ")
    if first.appliedRole ~= nil then
      text = text .. " (bound as " .. first.appliedRole .. ")"
    else
      text = text .. " (nothing bound)"
    end
  end
  hs.message = text
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
