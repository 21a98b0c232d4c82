-- Argo CD health check for customersuccess.dev CustomerAccount and
-- SuccessPlan: both kinds report status the kstatus way, so one script
-- serves both. Argo CD sets the global `obj` to the object and reads the
-- table this script returns: {status = ..., message = ...}.
--
--   observedGeneration behind metadata.generation  -> Progressing
--   Stalled=True                                   -> Degraded
--   Reconciling=True                               -> Progressing
--   Ready=True                                     -> Healthy
--   Ready=False                                    -> Degraded
--   Ready missing or Unknown                       -> Progressing
--
-- Argo CD runs scripts from argocd-cm with only Lua's base and table
-- libraries, so this one uses no string.* function. Every field may be
-- missing or of the wrong type: the script never raises an error.

-- field returns t[key] when t is a table, nil otherwise.
local function field(t, key)
  if type(t) ~= "table" then
    return nil
  end
  return t[key]
end

-- text returns v when it is a non-empty string, nil otherwise.
local function text(v)
  if type(v) == "string" and v ~= "" then
    return v
  end
  return nil
end

-- condition returns the condition of the given type, or nil.
local function condition(conditions, name)
  if type(conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(conditions) do
    if field(c, "type") == name then
      return c
    end
  end
  return nil
end

-- describe renders a condition as "Reason: message", or the part of it
-- that is set, or fallback when neither is.
local function describe(c, fallback)
  local reason, message = text(field(c, "reason")), text(field(c, "message"))
  if reason ~= nil and message ~= nil then
    return reason .. ": " .. message
  end
  return message or reason or fallback
end

local generation = field(field(obj, "metadata"), "generation")
local status = field(obj, "status")
local observed = field(status, "observedGeneration")

if type(status) ~= "table" or (type(generation) == "number" and (type(observed) ~= "number" or observed < generation)) then
  if type(generation) == "number" then
    return {status = "Progressing", message = "Waiting for the controller to observe generation " .. generation}
  end
  return {status = "Progressing", message = "Waiting for the controller to observe the object"}
end

local conditions = field(status, "conditions")

local stalled = condition(conditions, "Stalled")
if field(stalled, "status") == "True" then
  return {status = "Degraded", message = describe(stalled, "Stalled")}
end

local reconciling = condition(conditions, "Reconciling")
if field(reconciling, "status") == "True" then
  return {status = "Progressing", message = describe(reconciling, "Reconciling")}
end

local ready = condition(conditions, "Ready")
local readyStatus = field(ready, "status")
if readyStatus == "True" then
  return {status = "Healthy", message = describe(ready, "Ready")}
end
if readyStatus == "False" then
  return {status = "Degraded", message = describe(ready, "Not ready")}
end
return {status = "Progressing", message = describe(ready, "Waiting for the Ready condition")}
