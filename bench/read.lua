-- bench/read.lua: partition reads of 1,000-record pages from a warm log,
-- GET /topics/bench/partitions/0/records?offset=<k*1000>&max_records=1000, k cycling over
-- READ_PAGES pages (run.sh pre-fills exactly that many). Never reads past the filled range.
dofile((os.getenv("BENCH_DIR") or "bench") .. "/report.lua")

local pages = tonumber(os.getenv("READ_PAGES") or "100")
local page = tonumber(os.getenv("READ_PAGE_RECORDS") or "1000")
local k = 0

request = function()
  local path = "/topics/bench/partitions/0/records?offset=" .. (k * page) .. "&max_records=" .. page
  k = (k + 1) % pages
  return wrk.format("GET", path)
end
