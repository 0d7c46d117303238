-- server-query.lua - wrk script for bench-server.sh: POST /v1/query by
-- license number over keep-alive, cycling through BENCH_LICENSES (one per
-- line) with the token in BENCH_TOKEN.
--
-- The requests are built once per thread in init() and request() only
-- picks the next one, and there is no response() hook (wrk then skips
-- parsing headers into Lua tables): wrk's SCRIPTING notes that building a
-- request per call is expensive, and here wrk shares the 2 CPUs with the
-- server, so a cheap client leaves the CPU to the server being measured.
-- wrk itself counts answers >= 400 ("Non-2xx or 3xx responses").
local token = os.getenv("BENCH_TOKEN")
local path = os.getenv("BENCH_LICENSES")
local reqs = {}
local i = 0

function init(args)
  local headers = { ["Authorization"] = "Bearer " .. token,
                    ["Content-Type"] = "application/json" }
  for line in io.lines(path) do
    reqs[#reqs + 1] = wrk.format("POST", "/v1/query", headers,
      '{"type":"driver","by":"license","license_number":"' .. line ..
      '","purpose":"criminal_investigation","reason":"bench"}')
  end
  i = math.random(#reqs)
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end
