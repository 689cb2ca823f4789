-- wrk script for the ML2P serving benchmark: the S3 server's PUT capacity alone.
-- PUTs the body in the file named by BENCH_BODY_FILE to a new key every request,
-- <path given to wrk>/<run>/t<thread>/<n>.json (the S3 server refuses to replace
-- an object without credentials, so keys are never reused), with the headers in
-- BENCH_PUT_HEADERS ("Name: value" lines: the SigV4 headers an S3 client sends), and
-- prints "BENCH_RESULT {json}" as wrk_post.lua does.

local f = assert(io.open(assert(os.getenv("BENCH_BODY_FILE"), "BENCH_BODY_FILE unset"), "rb"))
local body = f:read("*a")
f:close()
local run = os.getenv("BENCH_RUN") or "run"
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  prefix = wrk.path:gsub("/$", "") .. "/" .. run .. "/t" .. tid .. "/"
end

wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
for name, value in (os.getenv("BENCH_PUT_HEADERS") or ""):gmatch("([^:\n]+): ([^\n]*)\n") do
  wrk.headers[name] = value
end

function request()
  counter = counter + 1
  return wrk.format("PUT", prefix .. counter .. ".json", nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
