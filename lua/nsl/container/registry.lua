-- The containers this process started and that are running, by the pid
-- of their PID 1: the one holder of the container layer's state. Values
-- are weak: a container nobody holds any more is finalized, which
-- destroys it.
local M = {}

local running = setmetatable({}, { __mode = "v" })

function M.add(pid, c) running[pid] = c end

function M.drop(pid) running[pid] = nil end

-- Whether c is a container of this process's, running (its PID 1 is this
-- process's child, to wait for), rather than one known from its record.
function M.owns(c) return c.pid ~= nil and running[c.pid] == c end

-- pid, container for each of them.
function M.each() return pairs(running) end

return M
