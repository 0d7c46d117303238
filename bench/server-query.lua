-- server-query.lua - wrk script for bench-server.sh: POST /v1/query by
-- license number over keep-alive, cycling through BENCH_LICENSES (one per
-- line) with the token in BENCH_TOKEN.  Counts non-200 answers.
local token = os.getenv("BENCH_TOKEN")
local path = os.getenv("BENCH_LICENSES")
local lics = {}
for line in io.lines(path) do lics[#lics + 1] = line end
local i = 0
local headers = { ["Authorization"] = "Bearer " .. token,
                  ["Content-Type"] = "application/json" }
non200 = 0

function init(args)
  i = math.random(#lics)
end

function request()
  i = i % #lics + 1
  local body = '{"type":"driver","by":"license","license_number":"' .. lics[i] ..
    '","purpose":"criminal_investigation","reason":"bench"}'
  return wrk.format("POST", "/v1/query", headers, body)
end

function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + (t:get("non200") or 0) end
  io.write(string.format("non-200: %d\n", n))
end
