-- bench/commits.lua: explicit consumer-group commits, POST /consumers/bench<i>/instances/c/offsets
-- {"offsets":[{"topic":"bench","partition":0,"offset":<n>}]}, i cycling over COMMIT_GROUPS
-- instances (each alone in its group, partition 0 assigned; bench_util.py consumers makes them)
-- and n increasing, so every commit writes a new value to __consumer_offsets (acks=all).
dofile((os.getenv("BENCH_DIR") or "bench") .. "/report.lua")

local groups = tonumber(os.getenv("COMMIT_GROUPS") or "64")
local i, n = 0, 0
local headers = { ["Content-Type"] = "application/vnd.kafka.v2+json" }

request = function()
  local path = "/consumers/bench" .. i .. "/instances/c/offsets"
  local body = '{"offsets":[{"topic":"bench","partition":0,"offset":' .. n .. '}]}'
  i = (i + 1) % groups
  n = n + 1
  return wrk.format("POST", path, headers, body)
end
