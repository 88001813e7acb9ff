-- busted output: the usual terminal report, then one closing line
-- "N passed, N failed[, N skipped]" that CI reads.
return function(options)
  local busted = require "busted"
  local handler = require "busted.outputHandlers.utfTerminal"(options)

  local function summary()
    local failed = handler.failuresCount + handler.errorsCount
    local line = ("%d passed, %d failed"):format(handler.successesCount, failed)
    if handler.pendingsCount > 0 then
      line = line .. (", %d skipped"):format(handler.pendingsCount)
    end
    io.write("\n", line, "\n")
    io.flush()
    return nil, true
  end

  local subscribe = handler.subscribe
  handler.subscribe = function(self, opts)
    subscribe(self, opts)
    busted.subscribe({ "suite", "end" }, summary)
  end
  return handler
end
