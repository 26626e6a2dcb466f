-- The load suite's orders for wrk (load/suite/generators/wrk.ts): each request
-- a POST of the scenario's order with an order_id never used before (order_id
-- is this service's idempotency key: a repeated one is answered as a replay,
-- not run), each answer counted by status, and at the end one line the suite
-- reads: `wrk-result {json}`.
--
-- wrk hands init() what follows `--` on its command line (args[0] is the URL):
--   args[1]  the body up to the order_id's value
--   args[2]  the body after it
--   args[3]  a tag unique to this drive, which every order_id starts with
-- Each wrk thread runs this script in a Lua state of its own: ids are numbered
-- per thread, and done() gathers the threads' counts.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

local body_before, body_after, id_prefix
local sent = 0
statuses = {}

function init(args)
  body_before, body_after = args[1], args[2]
  id_prefix = args[3] .. "-w" .. thread_number .. "-"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, body_before .. id_prefix .. sent .. body_after)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

-- The latency distribution as this many quantiles: wrk keeps a count per
-- microsecond, and reading it value by value costs seconds per round.
local QUANTILES = 1000

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local by_status = {}
  for status, count in pairs(counts) do
    by_status[#by_status + 1] = string.format('"%d":%d', status, count)
  end
  local quantiles = {}
  for i = 1, QUANTILES do
    quantiles[i] = string.format("%d", latency:percentile(100 * i / QUANTILES))
  end
  local errors = summary.errors
  io.write(string.format(
    'wrk-result {"durationUs":%d,"requests":%d,"statuses":{%s},' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
      '"latencyUs":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d,"quantiles":[%s]}}\n',
    summary.duration, summary.requests, table.concat(by_status, ","),
    errors.connect, errors.read, errors.write, errors.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(quantiles, ",")))
end
