-- wrk script: GET requests rotating over user ids 1..BENCH_USERS.
--
--   BENCH_PATH='/v1/users/%d/recommendations?k=10' BENCH_USERS=943 \
--     wrk -t1 -c32 -d10s --latency -s crates/bench/serve/rotate_users.lua http://127.0.0.1:8080
--
-- BENCH_PATH is a Lua format string with one %d (the user id); BENCH_USERS is how many users to rotate
-- over (ids 1..N, the MovieLens ids). Each wrk thread starts at a different offset. At the end one line
-- `BENCH_RESULT {json}` is printed with exact counts and latencies (microseconds) for bench-serve.

local template = os.getenv("BENCH_PATH") or "/v1/users/%d/recommendations?k=10"
local n_users = tonumber(os.getenv("BENCH_USERS") or "943")

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local counter = 0

function init(args)
  -- thread_id is set by setup(); spread threads over the rotation.
  counter = ((thread_id or 0) * 97) % n_users
end

function request()
  local user = (counter % n_users) + 1
  counter = counter + 1
  return wrk.format("GET", string.format(template, user))
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
