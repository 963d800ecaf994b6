-- vex_net bench: wrk done() hook that prints one machine-readable JSON line.
-- Loaded after any request-shaping script (see scripts/vexbench/wrk.py); it only defines done().
-- Latency figures are in microseconds, as wrk measures them.
--
-- wrk 4.1 quirk handled here: after the run, wrk "corrects" for coordinated omission by
-- adding samples at (latency - k * interval), interval = runtime / (requests / connections).
-- With pipelining (one latency per batch) or a slow start, some of those land below the
-- histogram's min, where percentile() never looks: high percentiles then return 0 and the
-- others are shifted. When p99.99 is unreachable we find the highest reachable percentile
-- (binary search) and read every percentile over the reachable mass; "reachable_pct" says
-- how much of wrk's count that was (100 when nothing was lost).
local percentiles = { 50, 75, 90, 99, 99.9, 99.99 }

local function int(x) return string.format("%d", math.floor((x or 0) + 0.5)) end
local function num(x) return string.format("%.4f", x or 0) end

local function reachable(latency)
  if latency:percentile(99.99) > 0 or latency.max <= 0 then return 100 end
  local lo, hi = 0, 99.99
  for _ = 1, 40 do
    local mid = (lo + hi) / 2
    if latency:percentile(mid) > 0 then lo = mid else hi = mid end
  end
  return lo
end

done = function(summary, latency, requests)
  local reach = reachable(latency)
  local scale = reach < 100 and reach / 100 or 1
  local p = {}
  for _, q in ipairs(percentiles) do
    p[#p + 1] = string.format('"%s":%s', tostring(q), int(latency:percentile(q * scale)))
  end
  local e = summary.errors
  io.write("\nVEXBENCH_WRK_JSON {",
    '"duration_us":', int(summary.duration), ",",
    '"requests":', int(summary.requests), ",",
    '"bytes":', int(summary.bytes), ",",
    '"errors":{',
      '"connect":', int(e.connect), ",",
      '"read":', int(e.read), ",",
      '"write":', int(e.write), ",",
      '"status":', int(e.status), ",",
      '"timeout":', int(e.timeout), "},",
    '"latency_us":{',
      '"min":', int(latency.min), ",",
      '"max":', int(latency.max), ",",
      '"mean":', num(latency.mean), ",",
      '"stdev":', num(latency.stdev), ",",
      '"reachable_pct":', num(reach), ",",
      '"percentiles":{', table.concat(p, ","), "}},",
    '"thread_rps":{',
      '"mean":', num(requests.mean), ",",
      '"stdev":', num(requests.stdev), ",",
      '"max":', int(requests.max), "}",
    "}\n")
  -- Every bucket of wrk's latency histogram (one per microsecond; after its correction),
  -- when the prelude sets VEXBENCH_HIST: multi-host runs merge them exactly.
  if VEXBENCH_HIST then
    local parts = {}
    for i = 1, #latency do
      local v, c = latency(i)
      parts[#parts + 1] = string.format("[%d,%d]", v, c)
    end
    io.write("VEXBENCH_WRK_HIST {\"unit\":\"us\",\"buckets\":[", table.concat(parts, ","), "]}\n")
  end
end
