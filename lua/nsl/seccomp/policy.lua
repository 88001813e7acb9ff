-- The policy language of nsl.seccomp (docs/confinement.md): a policy
-- table checked and turned into filter programs with libseccomp (the
-- submodule nsl.seccomp_compile), and OCI's linux.seccomp read into a
-- policy. Loaded only when a policy has to be compiled.

local nsl = require "nsl.core"
local profile = require "nsl.seccomp.profile"

local M = {}

local ERRNO = {
  EPERM = 1, ENOENT = 2, ESRCH = 3, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7,
  ENOEXEC = 8, EBADF = 9, ECHILD = 10, EAGAIN = 11, ENOMEM = 12, EACCES = 13,
  EFAULT = 14, EBUSY = 16, EEXIST = 17, EXDEV = 18, ENODEV = 19, ENOTDIR = 20,
  EISDIR = 21, EINVAL = 22, ENFILE = 23, EMFILE = 24, ENOTTY = 25, ETXTBSY = 26,
  EFBIG = 27, ENOSPC = 28, ESPIPE = 29, EROFS = 30, EMLINK = 31, EPIPE = 32,
  ERANGE = 34, ENOSYS = 38, EPROTONOSUPPORT = 93, EOPNOTSUPP = 95, ENOTSUP = 95,
  EAFNOSUPPORT = 97, EADDRINUSE = 98, ENETUNREACH = 101, ECONNREFUSED = 111,
}
local ACTIONS = { allow = true, kill = true, kill_thread = true, trap = true, log = true }
local OPS = { ["=="] = true, ["!="] = true, ["<"] = true, ["<="] = true, [">"] = true,
  [">="] = true, ["&=="] = true }
local POLICY_FIELDS = { extends = true, default = true, allow = true, deny = true,
  rules = true, arches = true, ignore_unknown = true }
local RULE_FIELDS = { action = true, args = true, when = true, unless = true }


local compiler
local function sc()
  compiler = compiler or require "nsl.seccomp_compile"
  return compiler
end

local function perr(where, fmt, ...)
  error(("seccomp: %s: " .. fmt):format(where, ...), 0)
end

-- {action, errno} for the compiler, from an action name.
local function action_of(a, where)
  if ACTIONS[a] then return { a } end
  if type(a) == "string" and ERRNO[a] then return { "errno", ERRNO[a] } end
  perr(where, "unknown action '%s' (allow, kill, kill_thread, trap, log, or an errno name such as EPERM)",
    tostring(a))
end

-- The call names of a list of names and @groups; optional (a profile's
-- own lists): names libseccomp does not know are left out.
local function expand(list, where, optional, out)
  out = out or {}
  for i, n in ipairs(list) do
    if type(n) ~= "string" then perr(where, "entry %d must be a call name or @group", i) end
    if n:sub(1, 1) == "@" then
      local g = profile.groups[n]
      if not g then
        local names = {}
        for k in pairs(profile.groups) do names[#names + 1] = k end
        table.sort(names)
        perr(where, "unknown group '%s' (%s)", n, table.concat(names, ", "))
      end
      expand(g, where, true, out)
    elseif sc().resolve(n) then
      out[#out + 1] = n
    elseif not optional then
      perr(where, "unknown system call '%s'", n)
    end
  end
  return out
end

local function check_args(args, where)
  if type(args) ~= "table" then perr(where, "args must be a list of {index, op, value[, mask]}") end
  if #args > 6 then perr(where, "at most 6 conditions") end
  for i, c in ipairs(args) do
    local w = ("%s, condition %d"):format(where, i)
    if type(c) ~= "table" then perr(w, "must be {index, op, value[, mask]}") end
    if math.type(c[1]) ~= "integer" or c[1] < 0 or c[1] > 5 then perr(w, "the argument index must be 0 to 5") end
    if not OPS[c[2]] then perr(w, "unknown comparison '%s' (==, !=, <, <=, >, >=, &==)", tostring(c[2])) end
    if math.type(c[3]) ~= "integer" then perr(w, "the value must be an integer") end
    if c[2] == "&==" and math.type(c[4]) ~= "integer" then perr(w, "'&==' needs a mask (an integer)") end
    local seen = {}
    for _, d in ipairs(args) do
      if seen[d[1]] then perr(where, "argument %d is compared twice (libseccomp takes one condition per argument)", d[1]) end
      seen[d[1]] = true
    end
  end
  return args
end

-- The working form: calls[name] = {action = A or nil, cond = {{action, args}}}.
local function set_call(st, name, action)
  st.calls[name] = { action = action, cond = {} }
end

local function apply_rule(st, r, where, caps, optional)
  for k in pairs(r) do
    if math.type(k) ~= "integer" and not RULE_FIELDS[k] then
      perr(where, "unknown field '%s' (action, args, when, unless)", tostring(k))
    end
  end
  if r.when and not caps[r.when] then return end
  if r.unless and caps[r.unless] then return end
  if r.action == nil then perr(where, "has no action") end
  local action = action_of(r.action, where)
  local names = expand(r, where, optional)
  if #names == 0 and not optional then perr(where, "names no system call") end
  if r.args == nil then
    for _, n in ipairs(names) do set_call(st, n, action) end
  else
    check_args(r.args, where)
    for _, n in ipairs(names) do
      local c = st.calls[n] or { cond = {} }
      st.calls[n] = c
      c.cond[#c.cond + 1] = { action = action, args = r.args }
    end
  end
end

local normalize

local function base_of(policy, caps, depth)
  local ext = policy.extends
  if ext == nil then return { calls = {}, default = action_of("EPERM", "default"), arches = {} } end
  if type(ext) == "string" then
    local p = profile.profiles[ext]
    if not p then perr("extends", "unknown profile '%s' (default)", ext) end
    return normalize(p, caps, depth + 1, true)
  end
  if type(ext) == "table" then return normalize(ext, caps, depth + 1) end
  perr("extends", "must be a profile name or a policy table")
end

-- A policy table into the working form, given the container's capability
-- set (caps: names -> true).
function normalize(policy, caps, depth, optional)
  if depth > 8 then perr("extends", "too deep (a policy that extends itself?)") end
  if type(policy) ~= "table" then error("seccomp: a policy must be a table or a profile name", 0) end
  for k in pairs(policy) do
    if not POLICY_FIELDS[k] then
      perr("policy", "unknown field '%s' (extends, default, allow, deny, rules, arches, ignore_unknown)", tostring(k))
    end
  end
  optional = optional or policy.ignore_unknown == true
  local st = base_of(policy, caps, depth)
  if policy.default ~= nil then st.default = action_of(policy.default, "default") end
  for _, f in ipairs({ "allow", "deny" }) do
    local list = policy[f]
    if list ~= nil then
      if type(list) ~= "table" then perr(f, "must be a list of calls and @groups") end
      local action = action_of(f == "allow" and "allow" or "EPERM", f)
      for _, n in ipairs(expand(list, f, optional)) do set_call(st, n, action) end
    end
  end
  if policy.rules ~= nil then
    if type(policy.rules) ~= "table" then perr("rules", "must be a list of rules") end
    for i, r in ipairs(policy.rules) do
      local where = ("rules[%d]"):format(i)
      if type(r) ~= "table" then perr(where, "must be a table") end
      local ok, err = pcall(apply_rule, st, r, where, caps, optional)
      if not ok then
        -- name the rule by its first call, as the user wrote it
        if type(r[1]) == "string" then err = err:gsub("^seccomp: rules%[%d+%]", "%0 (" .. r[1] .. ")") end
        error(err, 0)
      end
    end
  end
  if policy.arches ~= nil then
    if type(policy.arches) ~= "table" then perr("arches", "must be a list of ABI names") end
    for _, a in ipairs(policy.arches) do st.arches[#st.arches + 1] = a end
  end
  return st
end

local function same(a, b) return a[1] == b[1] and a[2] == b[2] end

-- The rules of one call: into main (the policy's program) and extra (the
-- exceptions program). An unconditional action wins over conditions in
-- libseccomp, so conditions with another action than it go to extra,
-- where the stricter of the two programs' answers is the one that counts.
-- An allow with conditions falls back to the policy's default.
local function call_rules(name, c, default, main, extra)
  local allow = { "allow" }
  local allows, others = {}, {}
  for _, k in ipairs(c.cond) do
    if same(k.action, allow) then allows[#allows + 1] = k else others[#others + 1] = k end
  end
  local uncond = c.action
  if uncond and same(uncond, allow) then
    main[#main + 1] = { name = name, action = allow }
  elseif #allows > 0 then
    for _, k in ipairs(allows) do main[#main + 1] = { name = name, action = allow, args = k.args } end
    uncond = nil
  elseif uncond then
    main[#main + 1] = { name = name, action = uncond }
  else
    uncond = default
    main[#main + 1] = { name = name, action = default }
  end
  for _, k in ipairs(others) do
    local into = uncond and extra or main
    into[#into + 1] = { name = name, action = k.action, args = k.args }
  end
end

-- The working form into filter programs, installed in this order: the
-- exceptions to unconditional actions, when there are any (their program
-- lets everything else through, installing the next one included); then
-- the policy, behind the stub that answers calls newer than this build
-- knows with ENOSYS.
local function programs(st)
  local names = {}
  for name in pairs(st.calls) do names[#names + 1] = name end
  table.sort(names)
  local main, extra = {}, {}
  for _, name in ipairs(names) do call_rules(name, st.calls[name], st.default, main, extra) end
  local enosys, allow = { "errno", ERRNO.ENOSYS }, { "allow" }
  local out = {}
  if #extra > 0 then
    out[1] = sc().compile { default = allow, badarch = allow, arches = st.arches, rules = extra }
  end
  out[#out + 1] = sc().enosys_stub() ..
    sc().compile { default = st.default, badarch = enosys, arches = st.arches, rules = main }
  return out
end

-- The capabilities of capmask, by name (nsl.cap_bits reads the names),
-- as a policy's when and unless ask for them.
local function cap_set(capmask)
  return setmetatable({}, { __index = function(t, name)
    local has = capmask & nsl.cap_bits({ name }) ~= 0
    rawset(t, name, has)
    return has
  end })
end

local OCI_ACTIONS = { SCMP_ACT_ALLOW = "allow", SCMP_ACT_KILL = "kill_thread",
  SCMP_ACT_KILL_THREAD = "kill_thread", SCMP_ACT_KILL_PROCESS = "kill", SCMP_ACT_TRAP = "trap",
  SCMP_ACT_LOG = "log" }
local OCI_OPS = { SCMP_CMP_EQ = "==", SCMP_CMP_NE = "!=", SCMP_CMP_LT = "<", SCMP_CMP_LE = "<=",
  SCMP_CMP_GT = ">", SCMP_CMP_GE = ">=", SCMP_CMP_MASKED_EQ = "&==" }
local OCI_ARCHES = { SCMP_ARCH_X86 = "x86", SCMP_ARCH_X32 = "x32", SCMP_ARCH_X86_64 = "x86_64",
  SCMP_ARCH_AARCH64 = "aarch64", SCMP_ARCH_ARM = "arm" }
local ERRNO_NAME = {}
for name, n in pairs(ERRNO) do
  if not ERRNO_NAME[n] or name < ERRNO_NAME[n] then ERRNO_NAME[n] = name end
end

local function oci_action(action, errno_ret, default_errno, where)
  if action == "SCMP_ACT_ERRNO" then
    local n = errno_ret or default_errno or ERRNO.EPERM
    local name = ERRNO_NAME[n]
    if not name then perr(where, "errnoRet %s is not an errno nsl names", tostring(n)) end
    return name
  end
  local a = OCI_ACTIONS[action]
  if not a then perr(where, "action %s is not supported", tostring(action)) end
  return a
end

--- nsl.seccomp.from_oci(obj) -> policy
--- The policy of an OCI runtime spec's linux.seccomp object (decoded
--- JSON: defaultAction, defaultErrnoRet, architectures, syscalls with
--- names, action, errnoRet, args of index, value, valueTwo, op), to give
--- to compile. Unsupported actions and flags raise, naming the entry.
function M.from_oci(obj)
  if type(obj) ~= "table" then error("seccomp: linux.seccomp must be an object", 0) end
  -- names this build does not know are left out, as runc does
  local policy = { default = oci_action(obj.defaultAction, obj.defaultErrnoRet, nil, "defaultAction"),
    rules = {}, arches = {}, ignore_unknown = true }
  for i, a in ipairs(obj.architectures or {}) do
    local name = OCI_ARCHES[a]
    if not name then perr(("architectures[%d]"):format(i), "unknown architecture %s", tostring(a)) end
    policy.arches[#policy.arches + 1] = name
  end
  for i, sc_ in ipairs(obj.syscalls or {}) do
    local where = ("syscalls[%d]"):format(i)
    local rule = { action = oci_action(sc_.action, sc_.errnoRet, obj.defaultErrnoRet, where) }
    for _, n in ipairs(sc_.names or {}) do rule[#rule + 1] = n end
    if sc_.args and #sc_.args > 0 then
      rule.args = {}
      for k, a in ipairs(sc_.args) do
        local op = OCI_OPS[a.op]
        if not op then perr(where, "args[%d]: unknown op %s", k, tostring(a.op)) end
        -- a masked compare has the mask in value and the datum in valueTwo
        if op == "&==" then
          rule.args[k] = { a.index, op, a.valueTwo or 0, a.value }
        else
          rule.args[k] = { a.index, op, a.value }
        end
      end
    end
    if #rule > 0 then policy.rules[#policy.rules + 1] = rule end
  end
  return policy
end

--- The ABI names a policy's arches may list, and the version of libseccomp.
-- The programs of a policy (a table, or a profile's name) for a
-- container keeping the capabilities of capmask.
function M.programs(policy, capmask)
  local p = type(policy) == "string" and { extends = policy } or policy
  return programs(normalize(p, cap_set(capmask), 0))
end


return M
