-- wrk script: POST /v1/events with BENCH_BATCH events per request (1: a JSON object, more: an array).
--
--   BENCH_BATCH=100 wrk -t1 -c16 -d10s --latency -s crates/bench/serve/post_events.lua http://127.0.0.1:8080
--
-- Every event has a distinct user (`bench-<thread>-<n>`), an item cycling over the ML-100K ids 1..1682,
-- type click and the current time (os.time()), so nothing is deduplicated. The server acknowledges a
-- request only once its events are durable; the stored count (GET /readyz `events`) should equal
-- completed 2xx requests x BENCH_BATCH, plus at most connections x BENCH_BATCH for requests still in
-- flight when wrk stopped counting. Prints `BENCH_RESULT {json}` at the end (latencies in microseconds).

local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local n_items = 1682

local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

local counter = 0
local headers = { ["Content-Type"] = "application/json" }

local function event(now)
  counter = counter + 1
  return string.format('{"user":"bench-%d-%d","item":"%d","type":"click","timestamp":%d}',
    thread_id or 0, counter, (counter % n_items) + 1, now)
end

function request()
  local now = os.time()
  local body
  if batch <= 1 then
    body = event(now)
  else
    local parts = {}
    for i = 1, batch do
      parts[i] = event(now)
    end
    body = "[" .. table.concat(parts, ",") .. "]"
  end
  return wrk.format("POST", "/v1/events", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
