-- wrk script for the first-use bearer row (lib/wrk-tokens.mjs): every request carries the next
-- never-seen token of a file (one per line, read once in init), so no token is sent twice. The
-- requests are formatted up front: request() only hands out the next one. When the tokens run out
-- the thread stops; the last few requests (at most one per connection) may already be on their way,
-- the last token again: their answers are not counted, since the loop ends before reading them.
-- done() prints `wrk-tokens: <seconds> <exhausted>`: the time from the first request handed out to
-- the last (or to the end of the run), which is what requests/s must be taken over when the tokens
-- ran out before wrk's duration did (wrk itself divides by the whole duration).
local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } wrk_tokens_timespec;
  int clock_gettime(int clock, wrk_tokens_timespec *t);
]])
local now_ts = ffi.new("wrk_tokens_timespec")
local function now()
  ffi.C.clock_gettime(1, now_ts) -- CLOCK_MONOTONIC
  return tonumber(now_ts.tv_sec) + tonumber(now_ts.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local requests = {}
local count = 0
local sent = 0
first_at = 0
last_at = 0
exhausted = false

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      local headers = {}
      for name, value in pairs(wrk.headers) do
        headers[name] = value
      end
      headers["Authorization"] = "Bearer " .. line
      count = count + 1
      requests[count] = wrk.format(nil, nil, headers)
    end
  end
end

function request()
  if sent >= count then
    if not exhausted then
      exhausted = true
      last_at = now()
      wrk.thread:stop()
    end
    return requests[count]
  end
  if sent == 0 then first_at = now() end
  sent = sent + 1
  return requests[sent]
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local first, last, out = thread:get("first_at"), thread:get("last_at"), thread:get("exhausted")
    if not out then last = first + (summary.duration / 1e6) end
    io.write(string.format("wrk-tokens: %.6f %s\n", last - first, tostring(out)))
  end
end
