-- wrk script for `qa bench`: POST /api/ask with the next question of a file, one wrk thread.
--   wrk -t1 -cN -dS -s benchmarks/ask.lua http://127.0.0.1:PORT -- BODIES.jsonl [RAMP_SECONDS]
-- BODIES.jsonl holds one JSON request body a line; each is sent once, in order, and the thread
-- stops when they run out (the request bound; -d is the time bound). An answer counts as good
-- only with status 200 and a citations list in the body. Throughput counts the good answers that
-- arrive after the first RAMP_SECONDS (default 0), while the pipeline is full: the steady state.
-- Prints one JSON line when done.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } qa_timespec;
int clock_gettime(int clock_id, qa_timespec *tp);
]]
local clock = ffi.new("qa_timespec")

local function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = wrk.format("POST", "/api/ask", { ["Content-Type"] = "application/json" }, line)
  end
  ramp = tonumber(args[2] or "0")
  sent, good, bad, first_sent, last_answer, steady = 0, 0, 0, 0, 0, 0
  verified = false
end

function request()
  if not verified then
    -- wrk calls request() once before it connects, to check the script: nothing is sent.
    verified = true
    return bodies[1]
  end
  if sent >= #bodies then
    -- Out of questions: stop. wrk still wants a request for this connection; it is not counted.
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  if sent == 0 then
    first_sent = now()
  end
  sent = sent + 1
  return bodies[sent]
end

function response(status, headers, body)
  last_answer = now()
  if status == 200 and body:find('"citations":', 1, true) then
    good = good + 1
    if last_answer - first_sent >= ramp then
      steady = steady + 1
    end
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local thread = threads[1]
  local errors = summary.errors
  local samples = {} -- every distinct latency (µs) with how many answers took it
  for i = 1, #latency do
    local value, count = latency(i)
    samples[#samples + 1] = string.format("[%d,%d]", value, count)
  end
  io.write(string.format(
    '{"sent":%d,"good":%d,"bad":%d,"socket_errors":%d,"seconds":%.6f,"steady":%d,' ..
    '"steady_seconds":%.6f,"latency_us":[%s]}\n',
    thread:get("sent"), thread:get("good"), thread:get("bad"),
    errors.connect + errors.read + errors.write + errors.timeout,
    thread:get("last_answer") - thread:get("first_sent"), thread:get("steady"),
    thread:get("last_answer") - thread:get("first_sent") - thread:get("ramp"), table.concat(samples, ",")))
end
