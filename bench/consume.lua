-- bench/consume.lua: consuming the pre-filled partition 1,000 records a call, one connection per
-- wrk thread (run with -tN -cN), in one of two modes (CONSUME_MODE):
--   partition: GET /topics/bench/partitions/0/records?offset=<k*1000>&max_records=1000&format=<f>,
--              k cycling over READ_PAGES pages (the stateless read, the reference);
--   instance:  GET /consumers/bench<id>/instances/c/records?max_bytes=<CONSUME_MAX_BYTES>&timeout=0
--              on the thread's own consumer instance (group bench<id>, made by bench_util.py
--              consumers), and when it answers [] (the end of the data) one
--              POST .../positions/beginning before consuming on.
-- Both render values the same way, CONSUME_FORMAT (json, default, or binary: base64), which is
-- also the instances' format. Both modes count the records they receive (first and last offset of each answer), so the
-- figure is records/s whatever each answer holds; done() prints a CONSUME line for run.sh.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/report.lua")

local mode = os.getenv("CONSUME_MODE") or "partition"
local pages = tonumber(os.getenv("READ_PAGES") or "200")
local max_bytes = os.getenv("CONSUME_MAX_BYTES") or "102000"
local format = os.getenv("CONSUME_FORMAT") or "json"
local threads, next_id = {}, 0

function setup(thread)
  thread:set("id", next_id)
  threads[#threads + 1] = thread
  next_id = next_id + 1
end

local k, seek = 0, false
recs, empties, seeks = 0, 0, 0
local seek_body = '{"partitions":[{"topic":"bench","partition":0}]}'
local accept = { ["Accept"] = "application/vnd.kafka." .. format .. ".v2+json" }
local seek_headers = { ["Content-Type"] = "application/vnd.kafka.v2+json" }

request = function()
  if mode == "partition" then
    local path = "/topics/bench/partitions/0/records?offset=" .. (k * 1000) .. "&max_records=1000&format=" .. format
    k = (k + 1) % pages
    return wrk.format("GET", path)
  end
  local base = "/consumers/bench" .. id .. "/instances/c"
  if seek then
    seek = false
    seeks = seeks + 1
    return wrk.format("POST", base .. "/positions/beginning", seek_headers, seek_body)
  end
  return wrk.format("GET", base .. "/records?timeout=0&max_bytes=" .. max_bytes, accept)
end

response = function(status, headers, body)
  if status ~= 200 then
    return
  end
  local first = string.match(body, '"offset":(%d+)')
  if not first then
    empties = empties + 1
    seek = mode == "instance"
    return
  end
  local from = #body > 600 and #body - 600 or 1
  local last
  for o in string.gmatch(string.sub(body, from), '"offset":(%d+)') do
    last = o
  end
  recs = recs + tonumber(last) - tonumber(first) + 1
end

local base_done = done
function done(summary, latency, requests)
  base_done(summary, latency, requests)
  local r, e, s = 0, 0, 0
  for _, t in ipairs(threads) do
    r = r + t:get("recs")
    e = e + t:get("empties")
    s = s + t:get("seeks")
  end
  io.write(string.format("CONSUME records=%d empties=%d seeks=%d\n", r, e, s))
end
